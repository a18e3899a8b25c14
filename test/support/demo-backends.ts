import { startDemoBackend } from '../../src/cli/demo.js';
import { get } from './http-get.js';

/** `n` of the demo's backends (`Handled by server on port N`) on free loopback ports. */
export async function startDemoBackends(n: number): Promise<{ ports: number[]; close: () => Promise<void> }> {
  const servers = await Promise.all(Array.from({ length: n }, () => startDemoBackend(0)));
  return {
    ports: servers.map((s) => (s.address() as { port: number }).port),
    close: async () => {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** Which demo backend answered each of `n` sequential requests through the listener on `port` (-status on errors). */
export async function spread(port: number, n: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await get(`http://127.0.0.1:${port}/`);
    const m = /port (\d+)/.exec(r.body);
    seen.push(m ? Number(m[1]) : -r.status);
  }
  return seen;
}

/** True when 2×|expected| requests through `port` reached exactly the `expected` backends. */
export async function servedBy(port: number, expected: number[]): Promise<boolean> {
  const seen = new Set(await spread(port, expected.length * 2));
  return seen.size === expected.length && expected.every((p) => seen.has(p));
}
