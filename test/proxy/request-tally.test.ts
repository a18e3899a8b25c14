// The dashboard's request tally: counts, bucket placement and quantile estimates.
import { describe, expect, it } from '@jest/globals';
import { LATENCY_BOUNDS_MS, latencyQuantile, RequestTally } from '../../src/proxy/request-tally.js';

const bucketOf = (ms: number) => {
  const t = new RequestTally();
  t.record(200, ms / 1000);
  return t.latency.findIndex((n) => n === 1);
};

describe('RequestTally', () => {
  it('counts requests and 5xx answers', () => {
    const t = new RequestTally();
    for (const code of [200, 204, 404, 499, 500, 502, 503]) t.record(code, 0.001);
    expect([t.requests, t.errors, t.failures]).toEqual([7, 3, 0]);
  });

  it('sums the tallies of several workers, sent as JSON, by status code', () => {
    const a = new RequestTally();
    const b = new RequestTally();
    for (const code of [200, 200, 503]) a.record(code, 0.001);
    for (const code of [404, 200]) b.record(code, 0.1);
    b.recordFailure('connect');
    b.recordFailure('reset');
    const sum = new RequestTally();
    sum.setSum([JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b))]);
    expect(Object.fromEntries(sum.codes.map((c, i) => [c, sum.counts[i]]))).toEqual({ 200: 3, 404: 1, 503: 1 });
    expect([sum.requests, sum.errors, sum.failures]).toEqual([5, 1, 2]);
    expect(sum.latency.reduce((n, x) => n + x, 0)).toBe(5);
    // Summed again (the next sample): set, not added to.
    sum.setSum([a.toJSON()]);
    expect([sum.requests, sum.errors, sum.failures]).toEqual([3, 1, 0]);
  });

  it.each([
    [0, 0],
    [0.1, 0],
    [0.25, 0],
    [0.26, 1],
    [1, 2],
    [1.5, 3],
    [100, 9],
    [65_536, 18],
    [70_000, 19],
    [10_000_000, 19],
  ])('puts %p ms in bucket %p (upper bounds 0.25 ms doubling, then one above)', (ms, bucket) => {
    expect(bucketOf(ms)).toBe(bucket);
    if (bucket < LATENCY_BOUNDS_MS.length) expect(ms).toBeLessThanOrEqual(LATENCY_BOUNDS_MS[bucket]);
    if (bucket > 0) expect(ms).toBeGreaterThan(LATENCY_BOUNDS_MS[bucket - 1]);
  });
});

describe('latencyQuantile', () => {
  it('is undefined without requests', () => {
    expect(latencyQuantile(new RequestTally().latency, 0.5)).toBeUndefined();
  });

  it('lands in the bucket that holds the quantile', () => {
    const t = new RequestTally();
    for (let i = 0; i < 98; i++) t.record(200, 0.003); // (2, 4] ms
    for (let i = 0; i < 2; i++) t.record(200, 0.9); // (512, 1024] ms
    const p50 = latencyQuantile(t.latency, 0.5)!;
    const p99 = latencyQuantile(t.latency, 0.99)!;
    expect(p50).toBeGreaterThan(2);
    expect(p50).toBeLessThanOrEqual(4);
    expect(p99).toBeGreaterThan(512);
    expect(p99).toBeLessThanOrEqual(1024);
  });

  it('reports the top bound for requests slower than every bucket', () => {
    const t = new RequestTally();
    t.record(504, 120);
    expect(latencyQuantile(t.latency, 0.99)).toBe(LATENCY_BOUNDS_MS.at(-1));
  });
});
