import { describe, expect, it } from '@jest/globals';
import type { BalancedBackend, Balancer } from '../../src/proxy/balancers/balancer.js';
import { IPHash } from '../../src/proxy/balancers/ip-hash.js';
import { LeastConnections } from '../../src/proxy/balancers/least-connections.js';
import { Random } from '../../src/proxy/balancers/random.js';
import { RoundRobin } from '../../src/proxy/balancers/round-robin.js';

interface TestBackend extends BalancedBackend {
  name: string;
  inFlight: number;
}

const backends = (weights: number[]): TestBackend[] =>
  weights.map((weight, i) => ({ name: String.fromCharCode(97 + i), address: `10.0.0.${i + 1}`, port: 8080, weight, inFlight: 0 }));

const names = (balancer: Balancer<TestBackend>, n: number, clientAddress = '192.0.2.1') =>
  Array.from({ length: n }, () => balancer.pick({ clientAddress })!.name);

const counts = (picked: string[]) => picked.reduce<Record<string, number>>((acc, n) => ((acc[n] = (acc[n] ?? 0) + 1), acc), {});

/** A deterministic [0,1) sequence (mulberry32), for the random balancer. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('RoundRobin (NGINX smooth weighted round robin)', () => {
  it('gives a a b a c a a for weights 5, 1, 1, and repeats it', () => {
    const rr = new RoundRobin(backends([5, 1, 1]));
    expect(names(rr, 14).join(' ')).toBe('a a b a c a a a a b a c a a');
  });

  it('alternates equal weights in list order', () => {
    expect(names(new RoundRobin(backends([1, 1, 1])), 6).join('')).toBe('abcabc');
  });

  it('serves each backend exactly its weight share over a full cycle', () => {
    const rr = new RoundRobin(backends([3, 2, 1, 4]));
    expect(counts(names(rr, 100))).toEqual({ a: 30, b: 20, c: 10, d: 40 });
  });

  it('skips tried backends and returns undefined when all were tried', () => {
    const list = backends([1, 1]);
    const rr = new RoundRobin(list);
    expect(rr.pick({ clientAddress: '', tried: new Set([list[0]]) })).toBe(list[1]);
    expect(rr.pick({ clientAddress: '', tried: new Set(list) })).toBeUndefined();
    expect(new RoundRobin<TestBackend>([]).pick({ clientAddress: '' })).toBeUndefined();
  });
});

describe('LeastConnections', () => {
  it('picks the backend with the fewest in-flight requests per weight', () => {
    const list = backends([1, 1, 2]);
    list[0].inFlight = 3;
    list[1].inFlight = 1;
    list[2].inFlight = 3; // 1.5 per weight unit
    expect(new LeastConnections(list).pick({ clientAddress: '' })).toBe(list[1]);
  });

  it('shares ties by weight, like NGINX', () => {
    expect(counts(names(new LeastConnections(backends([3, 1])), 40))).toEqual({ a: 30, b: 10 });
  });

  it('keeps load even when requests stay in flight', () => {
    const list = backends([1, 1, 1]);
    const lc = new LeastConnections(list);
    for (let i = 0; i < 30; i++) lc.pick({ clientAddress: '' })!.inFlight++;
    expect(list.map((b) => b.inFlight)).toEqual([10, 10, 10]);
  });

  it('never picks a tried backend', () => {
    const list = backends([1, 1]);
    list[1].inFlight = 5;
    expect(new LeastConnections(list).pick({ clientAddress: '', tried: new Set([list[0]]) })).toBe(list[1]);
  });
});

describe('IPHash (consistent hashing)', () => {
  const clients = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);
  const assign = (list: TestBackend[]) => {
    const h = new IPHash(list);
    return new Map(clients.map((c) => [c, h.pick({ clientAddress: c })!.name]));
  };

  it('sends a client to the same backend every time', () => {
    const h = new IPHash(backends([1, 1, 1]));
    const first = h.pick({ clientAddress: '198.51.100.7' });
    for (let i = 0; i < 10; i++) expect(h.pick({ clientAddress: '198.51.100.7' })).toBe(first);
  });

  it('spreads clients roughly evenly, and by weight', () => {
    const even = counts([...assign(backends([1, 1, 1, 1])).values()]);
    for (const n of Object.values(even)) expect(Math.abs(n - 500)).toBeLessThan(100);
    const weighted = counts([...assign(backends([3, 1])).values()]);
    expect(weighted.a / 2000).toBeGreaterThan(0.65);
    expect(weighted.a / 2000).toBeLessThan(0.85);
  });

  it('moves only the clients of a removed backend, and takes few for an added one', () => {
    const five = backends([1, 1, 1, 1, 1]);
    const before = assign(five);
    const after = assign(five.filter((b) => b.name !== 'c'));
    for (const [client, name] of before) if (name !== 'c') expect(after.get(client)).toBe(name);

    const six = [...five, { name: 'f', address: '10.0.0.99', port: 8080, weight: 1, inFlight: 0 }];
    const grown = assign(six);
    const moved = clients.filter((c) => grown.get(c) !== before.get(c));
    expect(moved.every((c) => grown.get(c) === 'f')).toBe(true);
    expect(moved.length / clients.length).toBeLessThan(0.25); // ideal 1/6
  });

  it('walks on to an untried backend on retry', () => {
    const list = backends([1, 1, 1]);
    const h = new IPHash(list);
    const first = h.pick({ clientAddress: '203.0.113.5' })!;
    const second = h.pick({ clientAddress: '203.0.113.5', tried: new Set([first]) })!;
    expect(second).not.toBe(first);
    expect(h.pick({ clientAddress: '203.0.113.5', tried: new Set(list) })).toBeUndefined();
  });
});

describe('Random (power of two choices)', () => {
  it('spreads idle load by weight', () => {
    const share = counts(names(new Random(backends([2, 1, 1]), seeded(1)), 8000));
    expect(share.a / 8000).toBeGreaterThan(0.45);
    expect(share.b / 8000).toBeGreaterThan(0.2);
    expect(share.c / 8000).toBeGreaterThan(0.2);
  });

  it('of two draws, takes the less loaded', () => {
    const list = backends([1, 1, 1, 1]);
    list[0].inFlight = 100;
    const picked = counts(names(new Random(list, seeded(7)), 4000));
    // a is only picked when both draws are a: about 1/16 of the time at most.
    expect((picked.a ?? 0) / 4000).toBeLessThan(0.08);
  });

  it('keeps in-flight load balanced when requests stay in flight', () => {
    const list = backends([1, 1, 1, 1]);
    const r = new Random(list, seeded(3));
    for (let i = 0; i < 400; i++) r.pick({ clientAddress: '' })!.inFlight++;
    const loads = list.map((b) => b.inFlight);
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(4);
  });

  it('never picks a tried backend', () => {
    const list = backends([1, 1, 1]);
    const r = new Random(list, seeded(9));
    for (let i = 0; i < 50; i++) expect(r.pick({ clientAddress: '', tried: new Set([list[0], list[1]]) })).toBe(list[2]);
    expect(r.pick({ clientAddress: '', tried: new Set(list) })).toBeUndefined();
  });
});
