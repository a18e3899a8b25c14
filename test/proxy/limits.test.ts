// Client-side limits: header size, clients that do not read, and graceful shutdown.
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { WebSocket } from 'ws';
import { silentLogger } from '../../src/log.js';
import type { DesiredPool } from '../../src/plan/desired-pool.js';
import { ProxyPools, type ProxyPoolsOptions } from '../../src/proxy/proxy-pools.js';
import { httpRequest, startEchoBackends, type EchoBackend } from '../support/backends.js';
import { refused } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';
import { listenerPort, poolPlan } from './plans.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function setup(overrides: Partial<DesiredPool> = {}, options: Partial<ProxyPoolsOptions> = {}) {
  const backends = await startEchoBackends(1);
  cleanups.push(() => Promise.all(backends.map((b) => b.close())));
  const proxy = new ProxyPools({ logger: silentLogger, ...options });
  cleanups.push(() => proxy.close());
  const plan = poolPlan([backends[0].port], overrides);
  const port = listenerPort((await proxy.apply(plan.key, plan)).facts);
  return { proxy, port, backend: backends[0] as EchoBackend, state: () => proxy.snapshot()[plan.key] };
}

describe('client limits', () => {
  it('answers 431 to a header block above maxHeaderSize', async () => {
    const { port, backend } = await setup({}, { limits: { maxHeaderSize: 2048 } });
    const res = await httpRequest(port, '/', { headers: { 'x-big': 'y'.repeat(4096) } });
    expect(res.status).toBe(431);
    expect(backend.requests).toBe(0);
  });

  it('cuts a client that stops reading after idleSeconds, and frees the backend', async () => {
    const { port, backend, state } = await setup({ timeouts: { connectSeconds: 1, responseSeconds: 5, idleSeconds: 0.3, requestSeconds: 60 } });
    const socket = connect(port, '127.0.0.1');
    cleanups.push(async () => socket.destroy());
    socket.on('error', () => {});
    socket.write('GET /big?bytes=50000000 HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    // Paused, the client also stops noticing the proxy's close: the proxy side is what is checked.
    socket.pause();
    await waitFor(() => backend.requests === 1 && state().backends[0].inFlight === 1, 2000);
    await waitFor(() => state().backends[0].inFlight === 0 && state().clientConnections === 0, 3000);
    await waitFor(() => backend.openConnections() === 0, 6000);
  });
});

describe('shutdown', () => {
  it('keeps accepting for acceptDelayMs, then drains in-flight requests with Connection: close', async () => {
    const { proxy, port } = await setup();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    // An idle keep-alive connection, which shutdown must close.
    expect((await httpRequest(port, '/', { agent })).status).toBe(200);
    const idle = Object.values(agent.freeSockets).flat()[0]!;
    const idleClosed = once(idle, 'close');

    const slow = httpRequest(port, '/slow?ms=500');
    const done = proxy.shutdown({ acceptDelayMs: 200, graceMs: 3000 });
    // Still accepting during the delay.
    expect((await httpRequest(port, '/')).status).toBe(200);
    await waitFor(() => refused(port), 2000);
    await idleClosed;
    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.headers.connection).toBe('close');
    await done;
    expect(proxy.snapshot()).toEqual({});
  });

  it('leaves an upgraded connection open until the grace deadline once no request is left', async () => {
    const { proxy, port } = await setup();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => {});
    await once(ws, 'open');
    const done = proxy.shutdown({ acceptDelayMs: 0, graceMs: 3000 });
    // The listener has nothing in flight and closes at once; the tunnel is the pool's, and keeps its time.
    await new Promise((r) => setTimeout(r, 300));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    await done;
    await waitFor(() => ws.readyState === WebSocket.CLOSED, 2000);
  });

  it('cuts what is left at the grace deadline', async () => {
    const { proxy, port, backend } = await setup();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => {});
    await once(ws, 'open');
    const hanging = new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/hang', agent: false });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.on('response', (res) => resolve(String(res.statusCode)));
      req.end();
    });
    await waitFor(() => backend.requests === 2, 2000);
    const started = Date.now();
    await proxy.shutdown({ acceptDelayMs: 0, graceMs: 300 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await hanging).toBe('ECONNRESET');
    await waitFor(() => ws.readyState === WebSocket.CLOSED && backend.openConnections() === 0, 2000);
  });
});
