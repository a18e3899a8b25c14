// A constant, bounded GET load: `concurrency` clients, each sending its next request when the last
// one finished, over keep-alive connections, until stopped.
import { Agent } from 'node:http';
import { httpRequest } from '../support/backends.js';

export interface LoadResult {
  sent: number;
  failed: number;
  /** Failures by status code or error message, for the assertion message. */
  failures: Record<string, number>;
  /** Backend port per answer: which backends served the load. */
  servedBy: Map<number, number>;
}

export interface Load {
  readonly sent: number;
  /** Stops sending, waits for the requests in flight, and closes the client connections. */
  stop(): Promise<LoadResult>;
}

export function startLoad(port: number, { concurrency = 4, path = '/', timeoutMs = 5000 } = {}): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = { sent: 0, failed: 0, failures: {}, servedBy: new Map() };
  const fail = (why: string) => {
    result.failed++;
    result.failures[why] = (result.failures[why] ?? 0) + 1;
  };
  let stopped = false;
  const client = async () => {
    while (!stopped) {
      result.sent++;
      try {
        const res = await httpRequest(port, path, { agent, timeoutMs });
        const by = /port (\d+)/.exec(res.body);
        if (res.status !== 200 || !by) fail(String(res.status));
        else result.servedBy.set(Number(by[1]), (result.servedBy.get(Number(by[1])) ?? 0) + 1);
      } catch (err) {
        fail((err as Error).message);
      }
    }
  };
  const clients = Array.from({ length: concurrency }, client);
  return {
    get sent() {
      return result.sent;
    },
    async stop() {
      stopped = true;
      await Promise.all(clients);
      agent.destroy();
      return result;
    },
  };
}
