// Small HTTP helpers for benchmarks: a keep-alive GET for tight polling, and waits with deadlines.
import http from 'node:http';
import { sleep } from './proc.js';

export interface Reply {
  status: number;
  body: string;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });

export function get(url: string, { timeoutMs = 3000, fresh = false }: { timeoutMs?: number; fresh?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: fresh ? false : keepAlive, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export { freePort } from '../../test/support/http-get.js';

/** Polls until `check` holds; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

/** Waits until GET url answers `status` (and `bodyIncludes`, when given). */
export function waitForHttp(url: string, timeoutMs = 15_000, status = 200, bodyIncludes?: string): Promise<void> {
  return waitFor(
    `${url} to answer ${status}`,
    async () => {
      const r = await get(url, { fresh: true, timeoutMs: 1000 });
      return r.status === status && (bodyIncludes === undefined || r.body.includes(bodyIncludes));
    },
    timeoutMs,
  );
}

/** One sample of a Prometheus text exposition: the value of `name` (summed over label sets matching `labels`). */
export function metric(text: string, name: string, labels = ''): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    const v = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}
