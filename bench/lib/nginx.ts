// Debian's nginx run self-contained in a temporary prefix (no system paths; see shared notes §6):
// as a fixed-body backend, or as the reference proxy with an upstream keepalive pool.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitForHttp } from './http.js';
import { processTree, start, type Child } from './proc.js';

export const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

export interface Nginx {
  child: Child;
  /** Master + worker pids (for CPU accounting). */
  pids(): number[];
  stop(): Promise<void>;
}

const COMMON = `worker_processes 1;
daemon off;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 4096; }
`;

// Both sides of the benchmark keep client connections open for the whole run (nginx's default
// keepalive_requests of 1000 would make wrk reconnect every 1000 requests; Node has no such limit).
const HTTP_COMMON = `access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;`;

async function launch(name: string, conf: string, probe: string, cpu: number | undefined): Promise<Nginx> {
  const prefix = await mkdtemp(path.join(tmpdir(), `ballast-bench-${name}-`));
  // Run as root, the workers are `nobody`: the prefix must be readable by them.
  await chmod(prefix, 0o755);
  await mkdir(path.join(prefix, 'logs'));
  await mkdir(path.join(prefix, 'tmp'));
  await writeFile(path.join(prefix, 'nginx.conf'), conf);
  const child = start(name, NGINX, ['-p', `${prefix}/`, '-c', 'nginx.conf'], { cpu });
  const cleanup = () => rm(prefix, { recursive: true, force: true });
  try {
    await Promise.race([
      waitForHttp(probe, 10_000),
      child.exited.then((code) => {
        throw new Error(`${name} exited (${code}): ${child.output()}`);
      }),
    ]);
  } catch (err) {
    await child.stop();
    await cleanup();
    throw err;
  }
  return {
    child,
    pids: () => processTree(child.pid),
    async stop() {
      await child.stop(5000, 'SIGQUIT');
      await cleanup();
    },
  };
}

/** One nginx worker answering `return 200` with a fixed body on each port (body names the port). */
export function startNginxBackend(ports: number[], cpu?: number, body = (port: number) => `Handled by server on port ${port}\\n`): Promise<Nginx> {
  const servers = ports
    .map((p) => `  server { listen 127.0.0.1:${p} backlog=4096; location / { default_type text/plain; return 200 "${body(p)}"; } }`)
    .join('\n');
  const conf = `${COMMON}http {\n  ${HTTP_COMMON}\n${servers}\n}\n`;
  return launch('nginx-backend', conf, `http://127.0.0.1:${ports[0]}/`, cpu);
}

/** nginx as the reference reverse proxy: `upstream { keepalive 64; }`, one worker. */
export function startNginxProxy(listen: number, backends: number[], cpu?: number): Promise<Nginx> {
  const conf = `${COMMON}http {
  ${HTTP_COMMON}
  upstream backends {
${backends.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${listen} backlog=4096;
    location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
  return launch('nginx-proxy', conf, `http://127.0.0.1:${listen}/`, cpu);
}
