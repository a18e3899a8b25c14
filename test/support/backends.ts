// Real HTTP backends on loopback for proxy tests, and a bounded HTTP client.
//
// Every backend answers `Handled by server on port N` (plus `x-backend-port: N`), and knows a few
// paths:
//   /headers         JSON { port, method, url, rawHeaders } of the request as received
//   /slow?ms=N       answers after N ms
//   /hang            never answers (until the backend closes)
//   /big?bytes=N     N bytes of body, streamed with backpressure
//   /healthz         200, or 503 after `backend.healthy = false`
//   /echo (POST)     echoes the request body
// and echoes WebSocket messages on any path (the first message it sends is `port N`).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';

export interface EchoBackend {
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly address: string;
  /** Requests received (WebSocket upgrades included). */
  requests: number;
  /** What /healthz answers. */
  healthy: boolean;
  /** Open TCP connections from the proxy, upgraded ones included. */
  openConnections(): number;
  close(): Promise<void>;
}

function handle(backend: { port: number; healthy: boolean }, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://backend');
  const text = (status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'x-backend-port': String(backend.port) });
    res.end(body);
  };
  switch (url.pathname) {
    case '/headers':
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend-port': String(backend.port) });
      res.end(JSON.stringify({ port: backend.port, method: req.method, url: req.url, rawHeaders: req.rawHeaders }));
      return;
    case '/slow':
      setTimeout(() => text(200, `Handled by server on port ${backend.port}\n`), Number(url.searchParams.get('ms') ?? 100));
      return;
    case '/hang':
      return;
    case '/big': {
      let left = Number(url.searchParams.get('bytes') ?? 1 << 20);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    case '/healthz':
      text(backend.healthy ? 200 : 503, backend.healthy ? 'ok\n' : 'unhealthy\n');
      return;
    case '/echo': {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => text(200, Buffer.concat(chunks).toString()));
      return;
    }
    default:
      text(200, `Handled by server on port ${backend.port}\n`);
  }
}

/** Starts one echo backend on 127.0.0.1 (`port` 0 picks a free one). */
export async function startEchoBackend(port = 0): Promise<EchoBackend> {
  const sockets = new Set<Socket>();
  const state = { port: 0, healthy: true, requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    handle(state, req, res);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    state.requests++;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(`port ${state.port}`);
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  return {
    port: state.port,
    address: `127.0.0.1:${state.port}`,
    get requests() {
      return state.requests;
    },
    set requests(n: number) {
      state.requests = n;
    },
    get healthy() {
      return state.healthy;
    },
    set healthy(h: boolean) {
      state.healthy = h;
    },
    openConnections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startEchoBackends(n: number): Promise<EchoBackend[]> {
  return Promise.all(Array.from({ length: n }, () => startEchoBackend()));
}

/** A backend in its own process, so that a test can SIGKILL it. Answers like startEchoBackend's default path. */
export interface BackendProcess {
  readonly port: number;
  readonly child: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const PROCESS_BACKEND = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const body = 'Handled by server on port ' + server.address().port + '\\n';
  const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') || 0);
  setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(body); }, ms);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

export async function spawnEchoBackend(): Promise<BackendProcess> {
  const child = spawn(process.execPath, ['-e', PROCESS_BACKEND], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    once(child, 'exit').then(() => {
      throw new Error('backend process exited before listening');
    }),
  ])) as [Buffer];
  const port = Number(line.toString().trim());
  return {
    port,
    child,
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Defaults to a fresh connection per request (no keep-alive). */
  agent?: Agent | false;
  /** The request fails (and its socket is destroyed) after this long; default 5 s. */
  timeoutMs?: number;
}

/** One HTTP request against `127.0.0.1:port`, bounded by a timeout. */
export function httpRequest(port: number, path: string, options: HttpOptions = {}): Promise<HttpResult> {
  const { method = 'GET', headers = {}, body, agent = false, timeoutMs = 5000 } = options;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${path} on port ${port}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** The port a `Handled by server on port N` body names. */
export function handledBy(body: string): number {
  const m = /Handled by server on port (\d+)/.exec(body);
  if (!m) throw new Error(`not a backend answer: ${JSON.stringify(body)}`);
  return Number(m[1]);
}

/**
 * A loopback port where connecting hangs (for connect timeouts): a socket that listens with the
 * smallest backlog and never accepts. Once one connection fills the backlog, Linux drops further SYNs.
 * Node always accepts, so the listener is a python3 process.
 */
export async function startBlackhole(): Promise<{ port: number; close: () => Promise<void> }> {
  const script = 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)';
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  const filler = connect(port, '127.0.0.1');
  filler.on('error', () => {});
  await once(filler, 'connect');
  return {
    port,
    close: async () => {
      filler.destroy();
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
