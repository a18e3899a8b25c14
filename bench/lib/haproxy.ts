// Debian's HAProxy as a reference proxy: one process, one thread, server connections shared
// across clients (`http-reuse always`), its configuration in a temporary directory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitForHttp } from './http.js';
import { processTree, start } from './proc.js';

export const HAPROXY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

export interface Haproxy {
  pids(): number[];
  stop(): Promise<void>;
}

export async function startHaproxyProxy(listen: number, backends: number[], cpu?: number): Promise<Haproxy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ballast-bench-haproxy-'));
  const conf = `global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout http-keep-alive 75s
  http-reuse always
frontend bench
  bind 127.0.0.1:${listen}
  default_backend backends
backend backends
  balance roundrobin
${backends.map((p, i) => `  server b${i} 127.0.0.1:${p}`).join('\n')}
`;
  await writeFile(path.join(dir, 'haproxy.cfg'), conf);
  // -db: stay in the foreground, one process (no master-worker).
  const child = start('haproxy', HAPROXY, ['-db', '-f', path.join(dir, 'haproxy.cfg')], { cpu });
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await Promise.race([
      waitForHttp(`http://127.0.0.1:${listen}/`, 10_000),
      child.exited.then((code) => {
        throw new Error(`haproxy exited (${code}): ${child.output()}`);
      }),
    ]);
  } catch (err) {
    await child.stop();
    await cleanup();
    throw err;
  }
  return {
    pids: () => processTree(child.pid),
    async stop() {
      await child.stop();
      await cleanup();
    },
  };
}
