// The sampler turns cumulative tallies into recent rates, error shares, quantiles and chart points.
import { describe, expect, it } from '@jest/globals';
import { HISTORY_POINTS, TrafficSampler } from '../../src/admin/traffic-sampler.js';
import type { PoolTraffic } from '../../src/proxy/live-pool.js';
import { RequestTally } from '../../src/proxy/request-tally.js';

function pool(): PoolTraffic & { a: RequestTally } {
  const a = new RequestTally();
  return { pool: new RequestTally(), backends: new Map([['127.0.0.1:1', a]]), a };
}

/** `n` requests of `ms` each, `errors` of them 503, on the pool and its one backend. */
function serve(t: ReturnType<typeof pool>, n: number, ms: number, errors = 0) {
  for (let i = 0; i < n; i++) {
    const code = i < errors ? 503 : 200;
    t.pool.record(code, ms / 1000);
    t.a.record(code, ms / 1000);
  }
}

describe('TrafficSampler', () => {
  it('gives the rate, error share and quantiles of the recent requests, and one chart point per tick', () => {
    const s = new TrafficSampler();
    const web = pool();
    serve(web, 500, 3); // before the first sample: not "recent"
    s.tick(new Map([['default/web', web]]), 0, true);
    expect(s.pool('default/web')).toEqual(expect.objectContaining({ rps: 0, errors: 0, p50: undefined }));

    serve(web, 100, 20, 10);
    s.tick(new Map([['default/web', web]]), 1000, true);
    const stats = s.pool('default/web')!;
    expect(stats.rps).toBeCloseTo(100, 5);
    expect(stats.errorRate).toBeCloseTo(0.1, 5);
    expect(stats.errors).toBe(10);
    expect(stats.p50).toBeGreaterThan(16);
    expect(stats.p50).toBeLessThanOrEqual(32);
    expect(s.backend('default/web', '127.0.0.1:1')).toEqual(stats);
    expect(s.history('default/web')).toEqual([expect.objectContaining({ t: 1000, rps: 100, errorRate: 0.1 })]);
    expect(s.latest('default/web')).toEqual(s.history('default/web')[0]);

    // Two quiet seconds: the rate decays towards 0, the chart shows 0.
    s.tick(new Map([['default/web', web]]), 3000, true);
    expect(s.pool('default/web')!.rps).toBeLessThan(100);
    expect(s.pool('default/web')!.rps).toBeGreaterThan(0);
    expect(s.history('default/web').at(-1)).toEqual({ t: 3000, rps: 0, p50: undefined, p99: undefined, errorRate: undefined });
  });

  it('samples backends only while watched, forgets pools that are gone, and keeps five minutes of points', () => {
    const s = new TrafficSampler();
    const web = pool();
    for (let t = 0; t <= HISTORY_POINTS + 10; t++) {
      serve(web, 1, 1);
      s.tick(new Map([['default/web', web]]), t * 1000, false);
    }
    expect(s.history('default/web')).toHaveLength(HISTORY_POINTS);
    expect(s.backend('default/web', '127.0.0.1:1')).toBeUndefined();
    s.tick(new Map([['default/web', web]]), 400_000, true);
    expect(s.backend('default/web', '127.0.0.1:1')).toEqual(expect.objectContaining({ rps: 0, errors: 0 }));

    s.tick(new Map(), 401_000, true);
    expect(s.pool('default/web')).toBeUndefined();
    expect(s.history('default/web')).toEqual([]);
  });
});
