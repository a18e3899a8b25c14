import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { silentLogger } from '../../src/log.js';
import { ProxyPools } from '../../src/proxy/proxy-pools.js';
import { handledBy, httpRequest, startEchoBackend, startEchoBackends, type EchoBackend } from '../support/backends.js';
import { freePort, refused } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';
import { listenerPort, poolPlan } from './plans.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function backends(n: number): Promise<EchoBackend[]> {
  const list = (await startEchoBackends(n)).sort((a, b) => a.port - b.port);
  cleanups.push(() => Promise.all(list.map((b) => b.close())));
  return list;
}

function proxyPools(onListenerClosed?: () => void): ProxyPools {
  const proxy = new ProxyPools({ logger: silentLogger, onListenerClosed });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Applies a plan and returns the listener port. */
async function listen(proxy: ProxyPools, plan: ReturnType<typeof poolPlan>): Promise<number> {
  const report = await proxy.apply(plan.key, plan);
  expect(report.problem).toBeUndefined();
  return listenerPort(report.facts);
}

describe('ProxyPools', () => {
  it('round-robins requests over the backends through a real listener', async () => {
    const [a, b, c] = await backends(3);
    const port = await listen(proxyPools(), poolPlan([a.port, b.port, c.port]));
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await httpRequest(port, '/');
      expect(res.status).toBe(200);
      seen.push(handledBy(res.body));
    }
    expect(seen).toEqual([a.port, b.port, c.port, a.port, b.port, c.port]);
  });

  it('removes hop-by-hop headers, sets X-Forwarded-*, and passes Host through', async () => {
    const [a] = await backends(1);
    const port = await listen(proxyPools(), poolPlan([a.port]));
    const res = await httpRequest(port, '/headers?x=1', {
      headers: {
        Host: 'shop.example',
        Connection: 'keep-alive, X-Drop-Me',
        'X-Drop-Me': 'secret',
        'Keep-Alive': 'timeout=5',
        'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
        TE: 'trailers',
        'X-Forwarded-For': '203.0.113.9',
        'X-Forwarded-Proto': 'https',
        'X-Custom': 'kept',
      },
    });
    const seen = JSON.parse(res.body) as { url: string; rawHeaders: string[] };
    const headers = new Map<string, string[]>();
    for (let i = 0; i < seen.rawHeaders.length; i += 2) {
      const name = seen.rawHeaders[i].toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), seen.rawHeaders[i + 1]]);
    }
    expect(seen.url).toBe('/headers?x=1');
    expect(headers.get('host')).toEqual(['shop.example']);
    expect(headers.get('x-custom')).toEqual(['kept']);
    expect(headers.get('x-forwarded-for')).toEqual(['203.0.113.9, 127.0.0.1']);
    expect(headers.get('x-forwarded-proto')).toEqual(['http']);
    expect(headers.get('x-forwarded-host')).toEqual(['shop.example']);
    for (const gone of ['x-drop-me', 'keep-alive', 'proxy-authorization', 'te']) expect(headers.get(gone)).toBeUndefined();
    // Upstream keep-alive is the proxy's business, not the client's.
    expect(headers.get('connection')).toEqual(['keep-alive']);
  });

  it('removes hop-by-hop response headers, including those named in Connection', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { Connection: 'X-Internal', 'X-Internal': 'secret', 'Proxy-Authenticate': 'Basic', 'X-Kept': 'yes', 'Content-Type': 'text/plain' });
      res.end('ok');
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((r) => server.close(r)));
    const backendPort = (server.address() as { port: number }).port;
    const port = await listen(proxyPools(), poolPlan([backendPort]));
    const res = await httpRequest(port, '/');
    expect(res.body).toBe('ok');
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers['x-internal']).toBeUndefined();
    expect(res.headers['proxy-authenticate']).toBeUndefined();
  });

  it('answers 502 with a short body when the backend refuses the connection', async () => {
    const dead = await freePort();
    const port = await listen(proxyPools(), poolPlan([dead], { retries: 0 }));
    const res = await httpRequest(port, '/');
    expect(res.status).toBe(502);
    expect(res.body).toBe('502 Bad Gateway: the backend failed to answer\n');
    expect(res.body).not.toContain(String(dead));
  });

  it('answers 503 when the pool has no backend', async () => {
    const port = await listen(proxyPools(), poolPlan([]));
    const res = await httpRequest(port, '/');
    expect(res.status).toBe(503);
    expect(res.body).toBe('503 Service Unavailable: no backend is available\n');
  });

  it('answers 504 when the backend sends no headers within responseSeconds', async () => {
    const [a] = await backends(1);
    const port = await listen(proxyPools(), poolPlan([a.port], { timeouts: { connectSeconds: 1, responseSeconds: 0.3, idleSeconds: 5, requestSeconds: 60 } }));
    const res = await httpRequest(port, '/hang');
    expect(res.status).toBe(504);
    expect(res.body).toBe('504 Gateway Timeout: the backend did not answer in time\n');
  });

  it('forwards request bodies', async () => {
    const [a] = await backends(1);
    const port = await listen(proxyPools(), poolPlan([a.port]));
    const body = 'x'.repeat(200_000);
    const res = await httpRequest(port, '/echo', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    expect(res.body).toBe(body);
  });

  it('proxies a WebSocket and closes both sides afterwards', async () => {
    const [a] = await backends(1);
    const proxy = proxyPools();
    const port = await listen(proxy, poolPlan([a.port]));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(m.toString()));
    await once(ws, 'open');
    ws.send('hello');
    await waitFor(() => messages.length === 2, 2000);
    expect(messages).toEqual([`port ${a.port}`, 'hello']);
    expect(proxy.snapshot()['test/web'].backends[0].inFlight).toBe(1);
    ws.close();
    await once(ws, 'close');
    await waitFor(() => a.openConnections() === 0 && proxy.snapshot()['test/web'].backends[0].inFlight === 0, 2000);
  });

  it('relays a refused upgrade, retries a refused WebSocket connect, and answers 503 without backends', async () => {
    const refusing = createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('no socket for you');
    }).listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    cleanups.push(() => new Promise((r) => refusing.close(r)));
    const proxy = proxyPools();
    const unexpected = async (port: number) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.on('error', () => {});
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
      let body = '';
      for await (const chunk of res) body += chunk;
      return { status: res.statusCode, body };
    };
    const refusedPort = await listen(proxy, poolPlan([(refusing.address() as { port: number }).port]));
    expect(await unexpected(refusedPort)).toEqual({ status: 401, body: 'no socket for you' });

    const [a] = await backends(1);
    const retryPort = await listen(proxy, poolPlan([await freePort(), a.port], { key: 'test/retry', name: 'retry' }));
    for (let i = 0; i < 2; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${retryPort}/`);
      const [first] = (await once(ws, 'message')) as [Buffer];
      expect(first.toString()).toBe(`port ${a.port}`);
      ws.close();
    }

    const emptyPort = await listen(proxy, poolPlan([], { key: 'test/empty', name: 'empty' }));
    expect(await unexpected(emptyPort)).toEqual({ status: 503, body: '503 Service Unavailable: no backend is available\n' });
  });

  it('keeps an in-flight request on its backend across a pool swap, then closes that backend', async () => {
    const [a, b] = await backends(2);
    const proxy = proxyPools();
    const plan = poolPlan([a.port]);
    const port = await listen(proxy, plan);
    const slow = httpRequest(port, '/slow?ms=400');
    await waitFor(() => a.requests === 1, 2000);
    await proxy.apply(plan.key, poolPlan([b.port]));
    expect(handledBy((await httpRequest(port, '/')).body)).toBe(b.port);
    const res = await slow;
    expect(res.status).toBe(200);
    expect(handledBy(res.body)).toBe(a.port);
    // Drained: the old backend's keep-alive connection is closed, not left to time out.
    await waitFor(() => a.openConnections() === 0, 2000);
    expect(proxy.snapshot()['test/web'].backends.map((x) => x.backend)).toEqual([b.address]);
  });

  it('moves a listener (new one first, old one closed after its requests) and closes it', async () => {
    const [a] = await backends(1);
    const proxy = proxyPools();
    const [first, second] = [await freePort(), await freePort()];
    const plan = poolPlan([a.port], { listener: { address: '127.0.0.1', port: first } });
    expect(await listen(proxy, plan)).toBe(first);
    const slow = httpRequest(first, '/slow?ms=300');
    await waitFor(() => a.requests === 1, 2000);
    const moved = await proxy.apply(plan.key, { ...plan, listener: { address: '127.0.0.1', port: second } });
    expect(moved).toEqual({ facts: { listener: `127.0.0.1:${second}` } });
    expect((await httpRequest(second, '/')).status).toBe(200);
    expect((await slow).status).toBe(200);
    await waitFor(() => refused(first), 2000);

    expect(await proxy.apply(plan.key, undefined)).toEqual({});
    await waitFor(() => refused(second), 2000);
    expect(proxy.snapshot()).toEqual({});
  });

  it('says which listener each pool holds, and when one is let go (moved or removed)', async () => {
    const [a] = await backends(1);
    let closed = 0;
    const proxy = proxyPools(() => closed++);
    const [first, second] = [await freePort(), await freePort()];
    const plan = poolPlan([a.port], { listener: { address: '127.0.0.1', port: first } });
    await listen(proxy, plan);
    expect(proxy.listeners()).toEqual(new Map([[plan.key, { address: '127.0.0.1', port: first }]]));
    await listen(proxy, { ...plan, retries: 3 }); // same listener: nothing let go
    expect(closed).toBe(0);
    await listen(proxy, { ...plan, listener: { address: '127.0.0.1', port: second } });
    expect([closed, proxy.listeners().get(plan.key)]).toEqual([1, { address: '127.0.0.1', port: second }]);
    await proxy.apply(plan.key, undefined);
    expect([closed, proxy.listeners().size]).toEqual([2, 0]);
  });

  it('reports EADDRINUSE as ListenerFailed instead of throwing, and retries on the next apply', async () => {
    const [a] = await backends(1);
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as { port: number }).port;
    const proxy = proxyPools();
    const plan = poolPlan([a.port], { listener: { address: '127.0.0.1', port: taken } });
    const report = await proxy.apply(plan.key, plan);
    expect(report.problem?.reason).toBe('ListenerFailed');
    expect(report.problem?.message).toContain('EADDRINUSE');
    expect(report.facts).toBeUndefined();
    expect(proxy.snapshot()[plan.key]).toEqual(expect.objectContaining({ listener: undefined, listenerProblem: report.problem }));
    expect(proxy.listeners().size).toBe(0);
    await new Promise((r) => blocker.close(r));
    expect(await proxy.apply(plan.key, { ...plan, retries: 2 })).toEqual({ facts: { listener: `127.0.0.1:${taken}` } });
    expect(proxy.snapshot()[plan.key].listenerProblem).toBeUndefined();
    expect((await httpRequest(taken, '/')).status).toBe(200);
  });

  it('leaks no socket when clients abort', async () => {
    const [a] = await backends(1);
    const proxy = proxyPools();
    const port = await listen(proxy, poolPlan([a.port]));
    const pool = () => proxy.snapshot()['test/web'];
    const requests = Array.from({ length: 5 }, () => {
      const req = request({ host: '127.0.0.1', port, path: '/hang', agent: false });
      req.on('error', () => {});
      req.end();
      return req;
    });
    await waitFor(() => a.requests === 5 && pool().clientConnections === 5, 2000);
    for (const req of requests) req.destroy();
    await waitFor(() => pool().clientConnections === 0 && pool().backends[0].inFlight === 0, 2000);
    // Each aborted exchange cuts its backend connection. undici then opens one spare connection per
    // cut one (it re-queues the aborted request before noticing the abort); those idle out after the
    // upstream keep-alive timeout (4 s).
    await waitFor(() => a.openConnections() === 0 && pool().backends[0].connections === 0, 6000);
    expect((await httpRequest(port, '/')).status).toBe(200);
  });

  it('applies a backend that comes back while it drains without opening a second pool for it', async () => {
    const a = await startEchoBackend();
    cleanups.push(() => a.close());
    const proxy = proxyPools();
    const plan = poolPlan([a.port]);
    const port = await listen(proxy, plan);
    const slow = httpRequest(port, '/slow?ms=300');
    await waitFor(() => a.requests === 1, 2000);
    await proxy.apply(plan.key, poolPlan([]));
    expect(proxy.snapshot()['test/web'].backends.map((b) => b.state)).toEqual(['draining']);
    expect((await httpRequest(port, '/')).status).toBe(503);
    await proxy.apply(plan.key, plan);
    expect(proxy.snapshot()['test/web'].backends.map((b) => b.state)).toEqual(['active']);
    expect((await slow).status).toBe(200);
    expect((await httpRequest(port, '/')).status).toBe(200);
  });
});
