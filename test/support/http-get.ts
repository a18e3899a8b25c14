import http from 'node:http';
import net from 'node:net';

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** Whether the request went out on a kept-alive socket. */
  reused: boolean;
}

export interface GetOptions {
  /** Keep-alive agent; by default a fresh connection, so a moved or closed listener shows at once. */
  agent?: http.Agent;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** One GET, bounded in time. A socket error rejects with `reusedSocket` set as on the request. */
export function get(url: string, { agent, timeoutMs = 5000, headers = {} }: GetOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: agent ?? false, headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
  });
}

/** A port that was free a moment ago, for manifests that must name one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** True when nothing accepts connections on the port. */
export function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
