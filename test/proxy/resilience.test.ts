// Retries, passive and active health, panic, drain deadlines and connect timeouts, against real
// backends that fail in real ways (refused ports, reset connections, a blackhole).
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { silentLogger } from '../../src/log.js';
import type { DesiredPool } from '../../src/plan/desired-pool.js';
import { ProxyPools } from '../../src/proxy/proxy-pools.js';
import { handledBy, httpRequest, startBlackhole, startEchoBackends, type EchoBackend } from '../support/backends.js';
import { freePort } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';
import { metricValue } from './metric-value.js';
import { listenerPort, poolPlan, type BackendSpec } from './plans.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function echoBackends(n: number): Promise<EchoBackend[]> {
  const list = (await startEchoBackends(n)).sort((a, b) => a.port - b.port);
  cleanups.push(() => Promise.all(list.map((b) => b.close())));
  return list;
}

interface Setup {
  proxy: ProxyPools;
  registry: Registry;
  port: number;
  plan: DesiredPool;
  state: () => ReturnType<ProxyPools['snapshot']>[string];
}

async function setup(backends: BackendSpec[], overrides: Partial<DesiredPool> = {}): Promise<Setup> {
  const registry = new Registry();
  const proxy = new ProxyPools({ logger: silentLogger, registry });
  cleanups.push(() => proxy.close());
  const plan = poolPlan(backends, overrides);
  const report = await proxy.apply(plan.key, plan);
  return { proxy, registry, plan, port: listenerPort(report.facts), state: () => proxy.snapshot()[plan.key] };
}

/**
 * A backend that resets connections: every request (`always`), or only a request that arrives on a
 * connection that already served one (`onReuse`: the keep-alive race, reproduced on demand). It
 * reads the request body before resetting, so the proxy has sent it.
 */
async function resettingBackend(mode: 'always' | 'onReuse'): Promise<{ port: number; requests: () => number }> {
  const served = new WeakMap<Socket, number>();
  let requests = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    req.resume();
    req.on('end', () => {
      if (mode === 'always' || n > 1) req.socket.destroy();
      else res.end(`Handled by server on port ${(server.address() as AddressInfo).port}\n`);
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  return { port: (server.address() as AddressInfo).port, requests: () => requests };
}

const noEjection = { outlierDetection: { maxFails: 0, failTimeoutSeconds: 10 } };

describe('retries', () => {
  it('sends a refused request to another backend, and counts the failure', async () => {
    const dead = await freePort();
    const [a] = await echoBackends(1);
    const { port, registry } = await setup([dead, a.port], noEjection);
    for (let i = 0; i < 4; i++) {
      const res = await httpRequest(port, '/');
      expect(res.status).toBe(200);
      expect(handledBy(res.body)).toBe(a.port);
    }
    expect(await metricValue(registry, 'ballast_proxy_retries_total')).toBe(2);
    expect(await metricValue(registry, 'ballast_proxy_upstream_errors_total', { backend: `127.0.0.1:${dead}`, kind: 'connect' })).toBe(2);
    expect(await metricValue(registry, 'ballast_proxy_requests_total', { code: '200' })).toBe(4);
    expect(await metricValue(registry, 'ballast_proxy_requests_total', { code: '502' })).toBe(0);
  });

  it('retries a GET whose connection is reset before any response byte', async () => {
    const bad = await resettingBackend('always');
    const [a] = await echoBackends(1);
    const { port } = await setup([bad.port, a.port], noEjection);
    for (let i = 0; i < 4; i++) expect((await httpRequest(port, '/')).status).toBe(200);
    expect(bad.requests()).toBe(2);
  });

  it('does not retry a POST reset on a fresh connection: the backend may have acted on it', async () => {
    const bad = await resettingBackend('always');
    const [a] = await echoBackends(1);
    const { port } = await setup([bad.port, a.port], noEjection);
    expect((await httpRequest(port, '/', { method: 'POST' })).status).toBe(502);
    expect(a.requests).toBe(0);
  });

  it('retries a bodiless POST reset on a reused keep-alive connection', async () => {
    const racy = await resettingBackend('onReuse');
    const [a] = await echoBackends(1);
    const { port } = await setup([racy.port, a.port], noEjection);
    expect(handledBy((await httpRequest(port, '/', { method: 'POST' })).body)).toBe(racy.port);
    expect(handledBy((await httpRequest(port, '/', { method: 'POST' })).body)).toBe(a.port);
    // Third request: round robin picks the racy backend again, on its now reused connection.
    const res = await httpRequest(port, '/', { method: 'POST' });
    expect(racy.requests()).toBe(2);
    expect(handledBy(res.body)).toBe(a.port);
  });

  it('never retries once request body bytes were sent', async () => {
    const racy = await resettingBackend('onReuse');
    const [a] = await echoBackends(1);
    const { port, registry } = await setup([racy.port, a.port], noEjection);
    const post = () => httpRequest(port, '/echo', { method: 'POST', body: 'payload' });
    expect((await post()).status).toBe(200);
    expect((await post()).status).toBe(200);
    const before = a.requests;
    expect((await post()).status).toBe(502);
    expect(a.requests).toBe(before);
    expect(await metricValue(registry, 'ballast_proxy_upstream_errors_total', { kind: 'reset' })).toBe(1);
    expect(await metricValue(registry, 'ballast_proxy_retries_total')).toBe(0);
  });

  it('answers 504 after connectSeconds when connecting hangs, after trying another backend', async () => {
    const hole = await startBlackhole();
    cleanups.push(() => hole.close());
    const { port, registry } = await setup([hole.port], { timeouts: { connectSeconds: 0.3, responseSeconds: 5, idleSeconds: 5, requestSeconds: 60 } });
    const started = Date.now();
    const res = await httpRequest(port, '/');
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await metricValue(registry, 'ballast_proxy_upstream_errors_total', { kind: 'connect_timeout' })).toBe(1);
  });
});

describe('passive health (outlierDetection)', () => {
  it('ejects a failing backend for failTimeoutSeconds, then takes it back', async () => {
    const dead = await freePort();
    const [a, b] = await echoBackends(2);
    const { port, registry, state } = await setup([dead, a.port, b.port], { outlierDetection: { maxFails: 1, failTimeoutSeconds: 0.5 } });
    expect((await httpRequest(port, '/')).status).toBe(200);
    expect(state().backends.find((x) => x.backend === `127.0.0.1:${dead}`)?.state).toBe('ejected');
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) seen.add(handledBy((await httpRequest(port, '/')).body));
    expect([...seen].sort()).toEqual([a.port, b.port].sort());
    expect(await metricValue(registry, 'ballast_proxy_upstream_errors_total', { backend: `127.0.0.1:${dead}` })).toBe(1);
    expect(await metricValue(registry, 'ballast_proxy_ejections_total', { backend: `127.0.0.1:${dead}` })).toBe(1);
    expect(await metricValue(registry, 'ballast_pool_backends', { state: 'ejected' })).toBe(1);
    await waitFor(() => state().backends.every((x) => x.state === 'active'), 2000);
    expect(await metricValue(registry, 'ballast_pool_backends', { state: 'active' })).toBe(3);
  });

  it('routes to every backend in panic, when fewer than half are available', async () => {
    const [dead1, dead2] = [await freePort(), await freePort()];
    const [a] = await echoBackends(1);
    const { port, state } = await setup([dead1, dead2, a.port], { retries: 2, outlierDetection: { maxFails: 1, failTimeoutSeconds: 30 } });
    expect((await httpRequest(port, '/')).status).toBe(200);
    expect(state().backends.filter((x) => x.state === 'ejected')).toHaveLength(2);
    expect(state().panic).toBe(true);
    // Routed to all three again; retries still find the live one.
    for (let i = 0; i < 3; i++) expect((await httpRequest(port, '/')).status).toBe(200);
  });

  it('keeps routing to the live half of a two-backend pool (exactly half is not panic)', async () => {
    const dead = await freePort();
    const [a] = await echoBackends(1);
    const { port, state } = await setup([dead, a.port], { retries: 0, outlierDetection: { maxFails: 1, failTimeoutSeconds: 30 } });
    expect((await httpRequest(port, '/')).status).toBe(502);
    expect(state().panic).toBe(false);
    for (let i = 0; i < 4; i++) expect((await httpRequest(port, '/')).status).toBe(200);
  });
});

describe('active health checks', () => {
  const healthCheck = { path: '/healthz', intervalSeconds: 0.05, timeoutSeconds: 0.5, unhealthyThreshold: 2, healthyThreshold: 1 };

  it('takes a backend out while it fails its checks, and back when it passes', async () => {
    const [a, b] = await echoBackends(2);
    const { port, registry, state } = await setup([a.port, b.port], { healthCheck });
    const stateOf = (x: EchoBackend) => state().backends.find((s) => s.backend === x.address)?.state;
    a.healthy = false;
    await waitFor(() => stateOf(a) === 'unhealthy', 2000);
    for (let i = 0; i < 4; i++) expect(handledBy((await httpRequest(port, '/')).body)).toBe(b.port);
    expect(await metricValue(registry, 'ballast_health_checks_total', { backend: a.address, result: 'unhealthy' })).toBeGreaterThanOrEqual(2);
    a.healthy = true;
    await waitFor(() => stateOf(a) === 'active', 2000);
    expect(await metricValue(registry, 'ballast_health_checks_total', { backend: a.address, result: 'healthy' })).toBeGreaterThanOrEqual(1);
  });

  it('never checks (or adds) a backend that discovery no longer lists', async () => {
    const [a, b] = await echoBackends(2);
    const { proxy, plan, registry } = await setup([a.port, b.port], { healthCheck });
    await waitFor(() => b.requests > 0, 2000);
    await proxy.apply(plan.key, { ...plan, backends: plan.backends.filter((x) => x.port === a.port) });
    const bAfterRemoval = b.requests;
    const checksOfA = await metricValue(registry, 'ballast_health_checks_total', { backend: a.address });
    // Several more rounds of checks of a, and none of b.
    await waitFor(async () => (await metricValue(registry, 'ballast_health_checks_total', { backend: a.address })) >= checksOfA + 5, 2000);
    expect(b.requests).toBe(bAfterRemoval);
  });
});

describe('draining and idle limits', () => {
  it('cuts what is still running on a removed backend at drainTimeoutSeconds', async () => {
    const [a, b] = await echoBackends(2);
    const { proxy, plan, port, state } = await setup([a.port], { drainTimeoutSeconds: 0.3, retries: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => {});
    await once(ws, 'open');
    const closed = once(ws, 'close');
    await proxy.apply(plan.key, { ...plan, backends: [{ ...plan.backends[0], port: b.port }] });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(state().backends.find((x) => x.backend === a.address)?.state).toBe('draining');
    await closed;
    await waitFor(() => a.openConnections() === 0 && state().backends.length === 1, 2000);
  });

  it('closes a WebSocket that is idle for idleSeconds, on both sides', async () => {
    const [a] = await echoBackends(1);
    const { port, state } = await setup([a.port], { timeouts: { connectSeconds: 1, responseSeconds: 1, idleSeconds: 0.3, requestSeconds: 60 } });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => {});
    await once(ws, 'open');
    await once(ws, 'close');
    await waitFor(() => a.openConnections() === 0 && state().clientConnections === 0 && state().backends[0].inFlight === 0, 2000);
  });
});
