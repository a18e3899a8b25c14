// Raw sockets on both sides of the proxy, for what a well-behaved HTTP library would never send.
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * Writes `payload` (bytes as given) to `127.0.0.1:port` and collects the reply, latin1, until `done`
 * says it is complete (the socket is then destroyed) or the peer closes. Rejects after `timeoutMs`.
 */
export function rawExchange(port: number, payload: string, done: (reply: string) => boolean = () => false, timeoutMs = 5000): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no complete reply within ${timeoutMs} ms; got ${JSON.stringify(reply)}`)), timeoutMs);
    socket.on('data', (c: Buffer) => {
      reply += c.toString('latin1');
      if (done(reply)) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ reply, closed: false });
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closed: true });
    });
    socket.write(payload);
  });
}

export interface RawResponse {
  status: number;
  /** Header values by lower-cased name. */
  headers: Record<string, string[]>;
  body: string;
}

/** Header values by lower-cased name, from the lines of a raw head after its first line. */
export function headersOf(head: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    (out[line.slice(0, colon).toLowerCase()] ??= []).push(line.slice(colon + 1).trim());
  }
  return out;
}

/**
 * The complete responses at the start of a raw reply, interim (1xx) ones included, framed by
 * Content-Length only (tests send nothing chunked); 1xx, 204, 304 and answers to a HEAD (`head`,
 * by position among the final responses) carry no body.
 */
export function parseResponses(reply: string, head: boolean[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  let finals = 0;
  for (;;) {
    const end = reply.indexOf('\r\n\r\n', at);
    if (end === -1) return out;
    const text = reply.slice(at, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
    const headers = headersOf(text);
    const bodiless = status < 200 || status === 204 || status === 304 || (status >= 200 && head[finals] === true);
    const length = bodiless ? 0 : Number(headers['content-length']?.[0] ?? 0);
    if (reply.length < end + 4 + length) return out;
    out.push({ status, headers, body: reply.slice(end + 4, end + 4 + length) });
    if (status >= 200) finals++;
    at = end + 4 + length;
  }
}

/** A `done` for rawExchange: `n` final (non-1xx) responses have arrived. */
export const finalResponses =
  (n: number, head: boolean[] = []) =>
  (reply: string): boolean =>
    parseResponses(reply, head).filter((r) => r.status >= 200).length >= n;

export interface RawBackend {
  readonly port: number;
  /** Every request head received, as text, in order. */
  readonly requests: string[];
  /** Connections accepted. */
  connections: number;
  close(): Promise<void>;
}

/**
 * A backend that answers each request head (up to the blank line) with whatever `answer` returns,
 * written as is, on the same keep-alive connection. Requests must not carry bodies.
 */
export async function startRawBackend(answer: (head: string) => string): Promise<RawBackend> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (c: Buffer) => {
      buffered += c.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        requests.push(head);
        socket.write(Buffer.from(answer(head), 'latin1'));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() {
      return state.connections;
    },
    set connections(n: number) {
      state.connections = n;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
