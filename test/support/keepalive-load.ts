// A bounded keep-alive client load through NGINX: `concurrency` clients, each sending its next GET
// when the last one finished, until stop() or `maxMs`.
import http from 'node:http';
import { get } from './http-get.js';

/**
 * A request that fails on a reused socket before any response is retried once on a new connection:
 * the idempotent-request retry of RFC 9112 §9.3.1 that browsers and Node's docs do. An old nginx
 * worker closes its idle keep-alive connections at reload, and a request already on the wire to it is
 * lost; such retries are counted apart from failures.
 */
export class KeepAliveLoad {
  /** Every 200 reply, in order; `at` is performance.now(). */
  readonly replies: Array<{ at: number; body: string }> = [];
  readonly failures: string[] = [];
  retriedResets = 0;
  private running = true;
  private readonly agent: http.Agent;
  private readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    { concurrency = 1, maxMs = 20_000 } = {},
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const deadline = Date.now() + maxMs;
    const client = async () => {
      while (this.running && Date.now() < deadline) await this.one();
    };
    this.done = Promise.all(Array.from({ length: concurrency }, client)).then(() => {});
  }

  private async one(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        // The retry takes a new connection, not another pooled one to the same dead peer.
        const r = await get(this.url, { agent: attempt === 0 ? this.agent : undefined, timeoutMs: 2000 });
        if (r.status === 200) this.replies.push({ at: performance.now(), body: r.body });
        else this.failures.push(`status ${r.status}: ${r.body}`);
        return;
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
        if (attempt === 0 && e.reusedSocket && (e.code === 'ECONNRESET' || e.message === 'socket hang up')) {
          this.retriedResets++;
          continue;
        }
        this.failures.push(`${e.code ?? ''} ${e.message}${attempt > 0 ? ' (on the retry)' : e.reusedSocket ? ' (reused socket)' : ''}`);
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.agent.destroy();
  }
}
