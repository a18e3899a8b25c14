// /metrics reads the data-plane counts from the tallies the dashboard samples: each response is
// counted once on the request path, and a scrape neither loses nor repeats what an earlier one read.
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { silentLogger } from '../../src/log.js';
import { ProxyPools } from '../../src/proxy/proxy-pools.js';
import { httpRequest, startEchoBackend } from '../support/backends.js';
import { freePort } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';
import { metricValue } from './metric-value.js';
import { listenerPort, poolPlan } from './plans.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** The value of the exposition line `series` (name and labels as rendered), undefined when absent. */
async function line(registry: Registry, series: string): Promise<number | undefined> {
  const found = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return found === undefined ? undefined : Number(found.slice(series.length + 1));
}

describe('proxy metrics', () => {
  it('scrapes request counts and durations from the same tallies as the dashboard, each response once', async () => {
    const backend = await startEchoBackend();
    cleanups.push(() => backend.close());
    backend.healthy = false; // its /healthz answers 503
    const registry = new Registry();
    const proxy = new ProxyPools({ logger: silentLogger, registry });
    cleanups.push(() => proxy.close());
    const plan = poolPlan([backend.port]);
    const port = listenerPort((await proxy.apply(plan.key, plan)).facts);
    const serve = async (path: string, n: number) => {
      for (let i = 0; i < n; i++) await httpRequest(port, path);
    };
    const requests = (code: string) => metricValue(registry, 'ballast_proxy_requests_total', { pool: plan.key, backend: backend.address, code });
    const histogram = (part: string) => line(registry, `ballast_proxy_request_duration_seconds_${part}`);

    // The pool's histogram is there, empty, from the start.
    expect(await histogram(`count{pool="${plan.key}"}`)).toBe(0);
    await serve('/', 3);
    await serve('/healthz', 1);
    expect([await requests('200'), await requests('503')]).toEqual([3, 1]);
    // Scraped again without new traffic: the same counts, not twice them.
    expect([await requests('200'), await requests('503')]).toEqual([3, 1]);
    await serve('/', 2);
    expect([await requests('200'), await requests('503')]).toEqual([5, 1]);

    expect(await histogram(`count{pool="${plan.key}"}`)).toBe(6);
    expect(await histogram(`bucket{pool="${plan.key}",le="+Inf"}`)).toBe(6);
    expect(await histogram(`bucket{pool="${plan.key}",le="60"}`)).toBe(6);
    expect(await histogram(`sum{pool="${plan.key}"}`)).toBeGreaterThan(0);

    const traffic = proxy.traffic().get(plan.key)!;
    expect([traffic.pool.requests, traffic.pool.errors]).toEqual([6, 1]);
    const tally = traffic.backends.get(backend.address)!;
    expect([tally.requests, tally.errors]).toEqual([6, 1]);

    // A removed pool's histogram goes once it has drained; its backends' counts stay for their retention.
    await proxy.apply(plan.key, undefined);
    await waitFor(async () => (await histogram(`count{pool="${plan.key}"}`)) === undefined, 5000);
    expect(await requests('200')).toBe(5);
  });

  it('scrapes failed exchanges from the backend tallies the dashboard reads, each once', async () => {
    const backend = await startEchoBackend();
    cleanups.push(() => backend.close());
    const dead = await freePort();
    const registry = new Registry();
    const proxy = new ProxyPools({ logger: silentLogger, registry });
    cleanups.push(() => proxy.close());
    const plan = poolPlan([dead, backend.port], { outlierDetection: { maxFails: 0, failTimeoutSeconds: 10 } });
    const port = listenerPort((await proxy.apply(plan.key, plan)).facts);
    for (let i = 0; i < 4; i++) expect((await httpRequest(port, '/')).status).toBe(200);
    const refused = () => metricValue(registry, 'ballast_proxy_upstream_errors_total', { pool: plan.key, backend: `127.0.0.1:${dead}`, kind: 'connect' });
    expect(await refused()).toBe(2);
    expect(await refused()).toBe(2);
    expect(await metricValue(registry, 'ballast_proxy_upstream_errors_total')).toBe(2);
    expect(proxy.traffic().get(plan.key)!.backends.get(`127.0.0.1:${dead}`)!.failures).toBe(2);
    expect(proxy.traffic().get(plan.key)!.pool.failures).toBe(2);
    expect((await httpRequest(port, '/')).status).toBe(200);
    expect((await httpRequest(port, '/')).status).toBe(200);
    expect(await refused()).toBe(3);
  });

  it('keeps the series of a pool removed and added back while its old self still drained', async () => {
    const backend = await startEchoBackend();
    cleanups.push(() => backend.close());
    const registry = new Registry();
    const proxy = new ProxyPools({ logger: silentLogger, registry, seriesRetentionMs: 100 });
    cleanups.push(() => proxy.close());
    const plan = poolPlan([backend.port]);
    const port = listenerPort((await proxy.apply(plan.key, plan)).facts);
    const slow = httpRequest(port, '/slow?ms=500'); // holds the old pool's drain
    await waitFor(() => proxy.snapshot()[plan.key]?.backends[0]?.inFlight === 1, 2000);
    await proxy.apply(plan.key, undefined);
    // Added back with no backend: its answers are the pool's no-backend 503s.
    const again = listenerPort((await proxy.apply(plan.key, poolPlan([]))).facts);
    expect((await httpRequest(again, '/')).status).toBe(503);
    expect((await slow).status).toBe(200);
    const served = (backendLabel: string, code: string) => metricValue(registry, 'ballast_proxy_requests_total', { pool: plan.key, backend: backendLabel, code });
    // The old pool has retired once its backend's series are gone (after their retention); then some more.
    await waitFor(async () => (await served(backend.address, '200')) === 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect((await httpRequest(again, '/')).status).toBe(503);
    expect(await served('none', '503')).toBe(2);
  });
});
