// A real nginx for tests: a throwaway prefix (logs/, tmp/, nginx.conf) so nothing touches system paths,
// nginx in the foreground as our child in its own process group, loopback only. Tests that need it
// fail (never skip) when the binary is missing: CI installs Debian's nginx.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BalancerPool, EndpointSlice } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { runCommand, type CommandResult } from '../../src/nginx/nginx-binary.js';
import { computeDesiredPool, type DesiredPool } from '../../src/plan/desired-pool.js';
import { freePort } from './http-get.js';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/** Throws a clear error when nginx is not installed. */
export function requireNginx(): string {
  if (!existsSync(NGINX_BIN)) {
    throw new Error(`${NGINX_BIN} not found: these tests run a real nginx (apt-get install nginx, or set NGINX_BIN)`);
  }
  return NGINX_BIN;
}

export interface NginxConfOptions {
  port: number;
  /** Absolute path or glob of the upstream file(s), included in `http {}`. */
  include: string;
  /** The upstream `location /` proxies to. */
  upstream: string;
  /** Load Debian's Lua module (libnginx-mod-http-lua), as /etc/nginx/modules-enabled does. */
  lua?: boolean;
  /** More http-level lines. */
  http?: string;
}

/** Debian's dynamic modules, by absolute path: a test prefix has no modules-enabled/. */
export const LUA_MODULES = 'load_module /usr/lib/nginx/modules/ndk_http_module.so;\nload_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n';

/**
 * A self-contained main config (all paths relative to the prefix, `daemon off`) with the proxy settings
 * of manifests/nginx/nginx.conf: HTTP/1.1 keep-alive to the upstream, WebSocket upgrades, forwarded
 * headers. One worker, so round robin is one sequence the tests can predict.
 */
export function nginxConf({ port, include, upstream, lua = false, http = '' }: NginxConfOptions): string {
  return `${lua ? LUA_MODULES : ''}worker_processes 1;
daemon off;
pid logs/nginx.pid;
error_log logs/error.log notice;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  include ${include};
${http}
  server {
    listen 127.0.0.1:${port};
    location = /__nginx { return 200 "nginx\\n"; }
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`;
}

/**
 * manifests/nginx/nginx.conf with the Pod's absolute paths moved into a test prefix, listening on
 * loopback `port`, including the agent's `outDir`. Each rewrite must apply, or the manifest changed
 * shape and the tests using it no longer test it.
 */
export function podNginxConf(manifest: string, port: number, outDir: string): string {
  const rewrites: Array<[string | RegExp, string]> = [
    // Debian's modules-enabled/ loads the modules by paths relative to the compiled-in prefix.
    ['include /etc/nginx/modules-enabled/*.conf;', LUA_MODULES],
    [/^worker_processes .*$/gm, 'daemon off;\nworker_processes 1;'],
    ['/var/run/nginx/', 'logs/'],
    ['/var/cache/nginx/', 'tmp/'],
    ['error_log /dev/stderr', 'error_log logs/error.log'],
    ['access_log /dev/stdout', 'access_log off'],
    ['/etc/nginx/ballast/', `${outDir}/`],
    ['listen 8080;', `listen 127.0.0.1:${port};`],
  ];
  return rewrites.reduce((text, [from, to]) => {
    const next = text.replaceAll(from, to);
    if (next === text) throw new Error(`manifests/nginx/nginx.conf no longer contains ${from}`);
    return next;
  }, manifest);
}

export interface NginxPrefix {
  /** Ends with "/", as `-p` wants it. */
  prefix: string;
  /** `-c` argument, relative to the prefix. */
  conf: string;
  port: number;
  /** `nginx -t` on this prefix. */
  test(): Promise<CommandResult>;
  /** Removes the folder. */
  remove(): Promise<void>;
}

/**
 * A fresh prefix with logs/, tmp/ and nginx.conf: nginxConf(`conf`), or what `conf` returns for the
 * free port it is given.
 */
export async function createNginxPrefix(conf: Omit<NginxConfOptions, 'port'> | ((port: number) => string)): Promise<NginxPrefix> {
  const bin = requireNginx();
  const prefix = `${await mkdtemp(path.join(os.tmpdir(), 'ballast-nginx-'))}/`;
  // Run as root, nginx workers are `nobody` and must be able to enter the prefix.
  await chmod(prefix, 0o755);
  await mkdir(path.join(prefix, 'logs'));
  await mkdir(path.join(prefix, 'tmp'));
  const port = await freePort();
  await writeFile(path.join(prefix, 'nginx.conf'), typeof conf === 'function' ? conf(port) : nginxConf({ ...conf, port }));
  return {
    prefix,
    conf: 'nginx.conf',
    port,
    test: () => runCommand(bin, ['-t', '-p', prefix, '-c', 'nginx.conf']),
    remove: () => rm(prefix, { recursive: true, force: true }),
  };
}

const running = new Set<RunningNginx>();

export class RunningNginx {
  private exited: Promise<void>;
  private stderr = '';

  constructor(
    readonly nginx: NginxPrefix,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    running.add(this);
  }

  get port(): number {
    return this.nginx.port;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  url(p = '/'): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  async errorLog(): Promise<string> {
    return readFile(path.join(this.nginx.prefix, 'logs', 'error.log'), 'utf8').catch(() => '');
  }

  /** What nginx printed before it logged to its own file (startup errors). */
  output(): string {
    return this.stderr;
  }

  /** `nginx -s quit` (graceful), then SIGKILL to the whole process group after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    running.delete(this);
    if (this.alive) {
      await runCommand(NGINX_BIN, ['-p', this.nginx.prefix, '-c', this.nginx.conf, '-s', 'quit']);
      const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([this.exited, timer]);
    }
    // Workers outlive a killed master; the group takes them too.
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.exited;
  }
}

/**
 * Starts nginx in the foreground on `nginx`'s prefix and resolves once its port accepts connections;
 * rejects with nginx's own error output when it exits or does not listen within `timeoutMs`.
 */
export async function startNginx(nginx: NginxPrefix, timeoutMs = 5000): Promise<RunningNginx> {
  const child = spawn(requireNginx(), ['-p', nginx.prefix, '-c', nginx.conf], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const instance = new RunningNginx(nginx, child);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!instance.alive) break;
    if (await canConnect(nginx.port)) return instance;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const why = `${instance.output()}${await instance.errorLog()}`;
  await instance.stop(0);
  throw new Error(`nginx did not start on 127.0.0.1:${nginx.port}: ${why.trim() || 'no output'}`);
}

/** Stops every nginx still running in this test file; for afterAll, whatever happened. */
export async function stopAllNginx(): Promise<void> {
  await Promise.all([...running].map((n) => n.stop(1000)));
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Backend {
  name: string;
  port: number;
  /** Requests this backend answered. */
  hits: number;
  close(): Promise<void>;
  /** A Pod's graceful stop: no new connections, idle ones closed, in-flight requests finish. */
  drain(): Promise<void>;
}

/**
 * A loopback HTTP backend that answers its name. Its keep-alive timeout is above the upstream
 * keepalive_timeout the tests render (60 s), as a real backend behind nginx should be.
 */
export async function startBackend(name: string): Promise<Backend> {
  const server = http.createServer((req, res) => {
    backend.hits++;
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end(name);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backend: Backend = {
    name,
    port: (server.address() as net.AddressInfo).port,
    hits: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    drain: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return backend;
}

/**
 * The plan of a BalancerPool `name` in `default` with `spec` (spec.nginx defaults to `{}`), through the
 * real schema and computeDesiredPool; `slices` are the EndpointSlices of its Service, if it has one.
 */
export function nginxPlan(name: string, spec: Record<string, unknown>, slices: unknown[] = []): DesiredPool {
  const parse = (raw: unknown) => {
    const r = parseObject(raw);
    if (!r.ok) throw new Error(`test object does not validate: ${JSON.stringify(r.errors)}`);
    return r.object;
  };
  const pool = parse({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name, namespace: 'default' }, spec: { nginx: {}, ...spec } });
  return computeDesiredPool(pool as BalancerPool, undefined, slices.map(parse) as EndpointSlice[]);
}

/**
 * A plan whose one backend has `address`, bypassing the schema (which refuses such addresses): the
 * renderer must still refuse them, whatever source a plan came from.
 */
export function planWithAddress(name: string, address: string): DesiredPool {
  const plan = nginxPlan(name, { endpoints: [{ address: '10.0.0.1', port: 80 }] });
  return { ...plan, backends: [{ ...plan.backends[0], address }] };
}
