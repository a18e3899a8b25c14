// The proxies under test, each started on demand on its own free loopback port and pinned to the
// proxy CPU, all pointing at the same backend: Ballast (dev mode), nginx (upstream keepalive 64),
// HAProxy (1 thread, http-reuse always), the seed lb.js, http-proxy (default options and with a
// keep-alive agent), and three Node floors: a bare node:http server answering the backend's body
// itself (no proxying), a minimal undici Pool proxy, and a net byte pipe (no HTTP parsing).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, startBallastCli, type BallastProcess } from './ballast.js';
import { freePort, waitForHttp } from './http.js';
import { startHaproxyProxy } from './haproxy.js';
import { startNginxProxy } from './nginx.js';
import { rssBytes, start, type Child } from './proc.js';

export type TargetName = 'direct' | 'ballast' | 'nginx' | 'haproxy' | 'node-bare' | 'undici-pool' | 'net-pipe' | 'http-proxy-ka' | 'http-proxy' | 'seed-lb';

export const TARGET_LABEL: Record<TargetName, string> = {
  direct: 'direct (no proxy)',
  ballast: 'Ballast (dev mode)',
  nginx: 'NGINX (keepalive 64)',
  haproxy: 'HAProxy (1 thread, http-reuse always)',
  'node-bare': 'floor: bare node:http server, no proxying',
  'undici-pool': 'floor: minimal undici Pool proxy',
  'net-pipe': 'floor: node:net byte pipe',
  'http-proxy-ka': 'http-proxy + keep-alive agent',
  'http-proxy': 'http-proxy (default options)',
  'seed-lb': 'seed lb.js (Express + request)',
};

export interface Running {
  url: string;
  /** Every process whose CPU time is the proxy's cost (each once). */
  pids(): number[];
  ballast?: BallastProcess;
  /** Ballast only: memory right after it became ready, idle. */
  idle?: { rssBytes: number };
  stop(): Promise<void>;
}

export function poolManifest(name: string, listen: number | undefined, backendPorts: number[], extra = ''): string {
  return `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata:
  name: ${name}
  namespace: default
spec:
${listen === undefined ? '' : `  listener: { address: 127.0.0.1, port: ${listen} }\n`}  endpoints:
${backendPorts.map((p) => `    - { address: 127.0.0.1, port: ${p} }`).join('\n')}
${extra}`;
}

async function nodePeer(name: string, script: string, env: NodeJS.ProcessEnv, cpu: number | undefined): Promise<Running> {
  const port = await freePort();
  const child: Child = start(name, process.execPath, [path.join(ROOT, 'bench/peers', script)], { cpu, cwd: ROOT, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' } });
  const url = `http://127.0.0.1:${port}/`;
  try {
    await Promise.race([
      waitForHttp(url, 15_000),
      child.exited.then((code) => {
        throw new Error(`${name} exited (${code}): ${child.output()}`);
      }),
    ]);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { url, pids: () => [child.pid], stop: () => child.stop() };
}

export async function startBallastPool(backendPorts: number[], cpu: number | undefined, nodeArgs: string[] = []): Promise<Running> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ballast-bench-manifests-'));
  const listen = await freePort();
  await writeFile(path.join(dir, 'pool.yaml'), poolManifest('bench', listen, backendPorts));
  let b: BallastProcess | undefined;
  try {
    b = await startBallastCli({ args: ['dev', '--manifests', dir, '--admin', '127.0.0.1:0'], cpu, nodeArgs });
    const url = `http://127.0.0.1:${listen}/`;
    const ballast = b;
    await Promise.race([
      waitForHttp(url, 30_000),
      ballast.child.exited.then((code) => {
        throw new Error(`ballast exited (${code}): ${ballast.child.output()}`);
      }),
    ]);
    return {
      url,
      ballast,
      idle: { rssBytes: rssBytes(ballast.pid) },
      pids: () => [ballast.pid],
      async stop() {
        await ballast.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await b?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export async function startTarget(name: TargetName, backendPorts: number[], cpu: number | undefined): Promise<Running> {
  const urls = backendPorts.map((p) => `http://127.0.0.1:${p}`).join(',');
  switch (name) {
    case 'direct':
      return { url: `http://127.0.0.1:${backendPorts[0]}/`, pids: () => [], stop: async () => {} };
    case 'ballast':
      return startBallastPool(backendPorts, cpu);
    case 'seed-lb':
      return nodePeer(name, 'seed-lb.cjs', { SEED_SERVERS: urls }, cpu);
    case 'http-proxy':
      return nodePeer(name, 'http-proxy.cjs', { SERVERS: urls }, cpu);
    case 'http-proxy-ka':
      return nodePeer(name, 'http-proxy.cjs', { SERVERS: urls, HTTP_PROXY_KEEPALIVE: '1' }, cpu);
    case 'node-bare':
      return nodePeer(name, 'node-backend.cjs', {}, cpu);
    case 'undici-pool':
      return nodePeer(name, 'undici-pool.cjs', { SERVERS: urls }, cpu);
    case 'net-pipe':
      return nodePeer(name, 'net-pipe.cjs', { SERVERS: urls }, cpu);
    case 'nginx': {
      const port = await freePort();
      const n = await startNginxProxy(port, backendPorts, cpu);
      return { url: `http://127.0.0.1:${port}/`, pids: () => n.pids(), stop: () => n.stop() };
    }
    case 'haproxy': {
      const port = await freePort();
      const h = await startHaproxyProxy(port, backendPorts, cpu);
      return { url: `http://127.0.0.1:${port}/`, pids: () => h.pids(), stop: () => h.stop() };
    }
  }
}
