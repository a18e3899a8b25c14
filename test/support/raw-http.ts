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

/** The status codes of every response head in a raw reply, in order (`HTTP/1.1 103 …` included). */
export const statusLines = (reply: string): number[] => [...reply.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

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
