// The proxy's own answers. Short plain-text bodies that say which side failed, and never a backend
// address: clients should not learn the pool's internals.
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export type ProxyStatus = 400 | 431 | 502 | 503 | 504;

const MESSAGES: Record<ProxyStatus, string> = {
  400: 'the request cannot be forwarded',
  431: 'too many request header fields',
  502: 'the backend failed to answer',
  503: 'no backend is available',
  504: 'the backend did not answer in time',
};

const BODIES = Object.fromEntries(
  Object.entries(MESSAGES).map(([status, message]) => [status, Buffer.from(`${status} ${STATUS_CODES[status]}: ${message}\n`)]),
) as Record<ProxyStatus, Buffer>;

/** Answers with `status` unless a response has started, in which case the only honest signal is a cut. */
export function sendError(res: ServerResponse, status: ProxyStatus, closeConnection: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (closeConnection) res.shouldKeepAlive = false;
  const body = BODIES[status];
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
}

/** The same answer on a raw socket (an upgrade request has no ServerResponse), then closes it. */
export function writeRawError(socket: Duplex, status: ProxyStatus): void {
  if (socket.destroyed) return;
  const body = BODIES[status];
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  // Destroyed once flushed: a client that never closes its side must not keep the socket.
  socket.end(Buffer.concat([Buffer.from(head), body]), () => socket.destroy());
}
