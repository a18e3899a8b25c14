// The data plane under churn, driven the way the reconciler drives it (ProxyPools.apply with plans),
// with constant GET load on loopback: rolling updates and a crashed backend lose nothing, WebSockets
// live until their backend drains, and nothing is left open afterwards.
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { silentLogger } from '../../src/log.js';
import type { Backend, DesiredPool } from '../../src/plan/desired-pool.js';
import { ProxyPools } from '../../src/proxy/proxy-pools.js';
import { httpRequest, spawnEchoBackend, startEchoBackend, startEchoBackends, type EchoBackend } from '../support/backends.js';
import { waitFor } from '../support/wait-for.js';
import { startLoad } from './load.js';
import { metricValue } from './metric-value.js';
import { listenerPort, poolPlan } from './plans.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

function proxyPools(options: { limits?: { headersTimeoutMs: number } } = {}) {
  const registry = new Registry();
  const proxy = new ProxyPools({ logger: silentLogger, registry, ...options });
  cleanups.push(() => proxy.close());
  return { proxy, registry };
}

const ready = (b: { port: number }): Backend => ({ address: '127.0.0.1', port: b.port, weight: 1, state: 'ready' });

/** A WebSocket through the proxy that knows which backend it landed on. */
async function openSocket(port: number): Promise<{ ws: WebSocket; backend: number; echo: (m: string) => Promise<string> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/live`);
  ws.on('error', () => {});
  const [first] = (await once(ws, 'message')) as [Buffer];
  const backend = Number(/port (\d+)/.exec(first.toString())![1]);
  const echo = async (m: string) => {
    const reply = once(ws, 'message');
    ws.send(m);
    return ((await reply) as [Buffer])[0].toString();
  };
  return { ws, backend, echo };
}

describe('churn under load', () => {
  it('rolls every backend over with zero failed requests, WebSockets draining with their backend', async () => {
    const { proxy } = proxyPools();
    const initial = await startEchoBackends(3);
    const all: EchoBackend[] = [...initial];
    cleanups.push(() => Promise.all(all.map((b) => b.close())));
    let backends = initial.map(ready);
    const plan = (): DesiredPool => poolPlan(backends, { drainTimeoutSeconds: 1 });
    const port = listenerPort((await proxy.apply('test/web', plan())).facts);
    const state = () => proxy.snapshot()['test/web'];

    const sockets = await Promise.all(Array.from({ length: 6 }, () => openSocket(port)));
    expect(new Set(sockets.map((s) => s.backend)).size).toBe(3);
    const load = startLoad(port, { concurrency: 4 });

    for (const old of initial) {
      // A new Pod becomes ready...
      const fresh = await startEchoBackend();
      all.push(fresh);
      backends = [...backends, ready(fresh)];
      await proxy.apply('test/web', plan());
      await waitFor(() => fresh.requests > 20, 5000);
      // ...the old one starts terminating: no new requests from now on...
      backends = backends.map((b) => (b.port === old.port ? { ...b, state: 'terminating' } : b));
      await proxy.apply('test/web', plan());
      // Requests picked before the swap finish first; only the two WebSockets stay in flight.
      const onOld = sockets.filter((s) => s.backend === old.port);
      expect(onOld).toHaveLength(2);
      await waitFor(() => state().backends.find((b) => b.backend === old.address)?.inFlight === onOld.length, 2000);
      const oldRequests = old.requests;
      const freshRequests = fresh.requests;
      await waitFor(() => fresh.requests > freshRequests + 20, 5000);
      expect(old.requests).toBe(oldRequests);
      // ...and leaves the slice. Its WebSockets still work until the drain deadline cuts them.
      backends = backends.filter((b) => b.port !== old.port);
      await proxy.apply('test/web', plan());
      for (const s of onOld) expect(await s.echo('still here')).toBe('still here');
      await waitFor(() => onOld.every((s) => s.ws.readyState === WebSocket.CLOSED), 3000);
      await waitFor(() => old.openConnections() === 0 && !state().backends.some((b) => b.backend === old.address), 2000);
      await old.close();
      // The WebSockets of backends not rolled yet are untouched.
      for (const s of sockets) if (backends.some((b) => b.port === s.backend)) expect(s.ws.readyState).toBe(WebSocket.OPEN);
    }

    const result = await load.stop();
    console.log(`rolling update: ${result.sent} requests sent, ${result.failed} failed`);
    expect(result.failures).toEqual({});
    expect(result.sent).toBeGreaterThan(500);
    expect(sockets.every((s) => s.ws.readyState === WebSocket.CLOSED)).toBe(true);
    // Back to baseline: no client connection left on the proxy, none from the proxy on old backends.
    await waitFor(() => state().clientConnections === 0, 2000);
    expect(initial.map((b) => b.openConnections())).toEqual([0, 0, 0]);
    await proxy.close();
    await waitFor(() => all.every((b) => b.openConnections() === 0), 2000);
  });

  it('loses no GET when a backend process is SIGKILLed mid-load, and counts the retried failures', async () => {
    const { proxy, registry } = proxyPools();
    const procs = await Promise.all([spawnEchoBackend(), spawnEchoBackend(), spawnEchoBackend()]);
    cleanups.push(() => Promise.all(procs.map((p) => p.kill())));
    const port = listenerPort((await proxy.apply('test/web', poolPlan(procs.map((p) => p.port)))).facts);
    const load = startLoad(port, { concurrency: 6, path: '/?ms=5' });
    await waitFor(() => load.sent > 300, 5000);
    const victim = procs[1];
    await victim.kill('SIGKILL');
    const killedAt = load.sent;
    await waitFor(() => load.sent > killedAt + 500, 5000);
    const result = await load.stop();

    const backend = `127.0.0.1:${victim.port}`;
    const failedExchanges = await metricValue(registry, 'ballast_proxy_upstream_errors_total', { backend });
    const retried = await metricValue(registry, 'ballast_proxy_retries_total');
    console.log(`backend SIGKILL: ${result.sent} requests sent, ${result.failed} failed, ${retried} retried (${failedExchanges} failed exchanges)`);
    expect(result.failures).toEqual({});
    expect(failedExchanges).toBeGreaterThan(0);
    expect(retried).toBe(await metricValue(registry, 'ballast_proxy_upstream_errors_total'));
    expect(await metricValue(registry, 'ballast_proxy_ejections_total', { backend })).toBe(1);
    expect(proxy.snapshot()['test/web'].backends.find((b) => b.backend === backend)?.state).toBe('ejected');
    expect(result.servedBy.get(victim.port)).toBeGreaterThan(0);
  });

  it('serves everyone else while slowloris clients trickle headers, then cuts them', async () => {
    const { proxy } = proxyPools({ limits: { headersTimeoutMs: 1000 } });
    const backends = await startEchoBackends(2);
    cleanups.push(() => Promise.all(backends.map((b) => b.close())));
    const port = listenerPort((await proxy.apply('test/web', poolPlan(backends.map((b) => b.port)))).facts);

    const slow = Array.from({ length: 20 }, () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => socket.write('X-A: b\r\n'), 100);
      socket.once('close', () => clearInterval(drip));
      cleanups.push(async () => (clearInterval(drip), socket.destroy()));
      return { socket, answer: () => answer };
    });
    const load = startLoad(port, { concurrency: 4, timeoutMs: 1000 });
    await waitFor(() => load.sent > 300, 5000);
    const result = await load.stop();
    expect(result.failures).toEqual({});
    await waitFor(() => slow.every((s) => s.socket.destroyed), 4000);
    expect(slow.every((s) => s.answer().startsWith('HTTP/1.1 408'))).toBe(true);
    expect(backends[0].requests + backends[1].requests).toBe(result.sent);
  });

  it('answers 504 at responseSeconds for a hanging backend while the other keeps serving', async () => {
    const { proxy } = proxyPools();
    const [good] = await startEchoBackends(1);
    cleanups.push(() => good.close());
    // Accepts connections and requests, answers nothing.
    const hanging = createServer(() => {}).listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    cleanups.push(() => new Promise((r) => (hanging.closeAllConnections(), hanging.close(r))));
    const hangingPort = (hanging.address() as AddressInfo).port;
    const plan = poolPlan([hangingPort, good.port], { timeouts: { connectSeconds: 1, responseSeconds: 0.5, idleSeconds: 5, requestSeconds: 60 } });
    const port = listenerPort((await proxy.apply(plan.key, plan)).facts);

    const answers: Array<{ status: number; ms: number }> = [];
    const deadline = Date.now() + 1500;
    const client = async () => {
      while (Date.now() < deadline) {
        const started = Date.now();
        const res = await httpRequest(port, '/', { timeoutMs: 3000 });
        answers.push({ status: res.status, ms: Date.now() - started });
      }
    };
    await Promise.all([client(), client(), client(), client()]);
    const timeouts = answers.filter((a) => a.status === 504);
    const served = answers.filter((a) => a.status === 200);
    expect(timeouts.length + served.length).toBe(answers.length);
    expect(timeouts.length).toBeGreaterThan(0);
    for (const t of timeouts) expect(t.ms).toBeGreaterThanOrEqual(450);
    for (const t of timeouts) expect(t.ms).toBeLessThan(1500);
    // At most one per client: the first timeout ejects the hanging backend (maxFails 1), and a
    // timeout is not retried (the backend may be working on the request). The rest is served.
    expect(timeouts.length).toBeLessThanOrEqual(4);
    expect(served.length).toBeGreaterThan(20);
  });
});
