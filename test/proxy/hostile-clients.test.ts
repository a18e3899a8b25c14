// What a hostile client may send, on raw sockets, against real backends on loopback: it must not
// strip the headers Ballast sets, eject healthy backends, or break framing and keep-alive.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../src/log.js';
import type { DesiredPool } from '../../src/plan/desired-pool.js';
import { DEFAULT_LIMITS, PoolListener } from '../../src/proxy/pool-listener.js';
import { ProxyPools } from '../../src/proxy/proxy-pools.js';
import { httpRequest, startEchoBackend } from '../support/backends.js';
import { captureLogs } from '../support/log-capture.js';
import { finalResponses, headersOf, parseResponses, rawExchange, startRawBackend, type RawBackend } from '../support/raw-http.js';
import { waitFor } from '../support/wait-for.js';
import { listenerPort, poolPlan, type BackendSpec } from './plans.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function rawBackend(answer: (head: string) => string): Promise<RawBackend> {
  const backend = await startRawBackend(answer);
  cleanups.push(() => backend.close());
  return backend;
}

async function proxyFor(backends: BackendSpec[], overrides: Partial<DesiredPool> = {}) {
  const proxy = new ProxyPools({ logger: silentLogger });
  cleanups.push(() => proxy.close());
  const plan = poolPlan(backends, overrides);
  const port = listenerPort((await proxy.apply(plan.key, plan)).facts);
  return { proxy, port, state: () => proxy.snapshot()[plan.key] };
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const SWITCHED = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
const headComplete = (reply: string) => reply.includes('\r\n\r\n');

describe('headers Ballast sets', () => {
  it.each([
    ['HTTP', 'close', OK],
    ['upgrade', 'Upgrade', SWITCHED],
  ])('cannot be named away by the client on the %s path', async (_path, option, answer) => {
    const backend = await rawBackend(() => answer);
    const { port } = await proxyFor([backend.port]);
    const forged = `GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: ${option}, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host\r\nUpgrade: websocket\r\nX-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Proto: https\r\n\r\n`;
    await rawExchange(port, forged, headComplete);
    const seen = headersOf(backend.requests[0]);
    // The client's own X-Forwarded-For is what it declared hop-by-hop; the address Ballast saw is not.
    expect(seen['x-forwarded-for']).toEqual(['127.0.0.1']);
    expect(seen['x-forwarded-proto']).toEqual(['http']);
    expect(seen['x-forwarded-host']).toEqual(['shop.example']);
  });
});

describe('requests refused for their own shape', () => {
  it.each([
    ['HTTP', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n'],
    ['upgrade', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
  ])('get 400 on the %s path, reach no backend, and eject none (%j)', async (_path, request) => {
    const backends = await Promise.all([1, 2, 3, 4].map(() => rawBackend(() => OK)));
    const { port, state } = await proxyFor(
      backends.map((b) => b.port),
      { retries: 3 },
    );
    for (let i = 0; i < 4; i++) {
      const { reply } = await rawExchange(port, request, finalResponses(1));
      expect(parseResponses(reply)[0].status).toBe(400);
    }
    expect(state().backends.map((b) => b.state)).toEqual(['active', 'active', 'active', 'active']);
    expect(backends.map((b) => b.connections)).toEqual([0, 0, 0, 0]);
  });
});

describe('bodiless and interim responses (RFC 9110 §15.2, §8.6)', () => {
  const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  it.each([
    ['304 with a Content-Length and no body', 'GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "v1"\r\n\r\n', [304], { etag: ['"v1"'], 'content-length': ['1234'] }, ''],
    ['204', 'GET', 'HTTP/1.1 204 No Content\r\nX-Done: yes\r\n\r\n', [204], { 'x-done': ['yes'] }, ''],
    ['HEAD with a Content-Length', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n', [200], { 'content-length': ['1234'] }, ''],
    ['103 Early Hints, then 200', 'GET', `HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n${FINAL}`, [103, 200], { 'content-length': ['2'] }, 'ok'],
    ['102 Processing, then 200', 'GET', `HTTP/1.1 102 Processing\r\n\r\n${FINAL}`, [102, 200], { 'content-length': ['2'] }, 'ok'],
  ])('forwards %s, keeps the connection, and blames no backend', async (_name, method, answer, statuses, headers, body) => {
    const backend = await rawBackend(() => answer);
    const { port, state } = await proxyFor([backend.port]);
    const request = `${method} /r HTTP/1.1\r\nHost: x\r\n\r\n`;
    const head = [method === 'HEAD', method === 'HEAD'];
    // Twice on one client connection: the first response must be framed right for the second to arrive.
    const { reply, closed } = await rawExchange(port, request + request, finalResponses(2, head));
    expect(closed).toBe(false);
    const responses = parseResponses(reply, head);
    expect(responses.map((r) => r.status)).toEqual([...statuses, ...statuses]);
    const final = responses[statuses.length - 1];
    expect(final.headers).toEqual(expect.objectContaining(headers));
    expect(final.body).toBe(body);
    if (statuses[0] === 103) expect(responses[0].headers.link).toEqual(['</app.css>; rel=preload']);
    expect(state().backends.map((b) => b.state)).toEqual(['active']);
  });
});

describe('client limits', () => {
  const withFields = (n: number, extra = '') => {
    let head = `GET / HTTP/1.1\r\nHost: x\r\n${extra}`;
    for (let i = extra ? 3 : 1; i < n; i++) head += `X-${i}: v\r\n`;
    return `${head}\r\n`;
  };

  it('forwards 100 header fields, and answers 431 past that instead of dropping fields, on both paths', async () => {
    const backend = await rawBackend(() => OK);
    const { port } = await proxyFor([backend.port]);
    const { reply } = await rawExchange(port, withFields(100), finalResponses(1));
    expect(parseResponses(reply)[0].status).toBe(200);
    // Host plus 99 fields, and nothing Ballast adds is lost either.
    expect(Object.keys(headersOf(backend.requests[0])).filter((n) => n.startsWith('x-') && !n.startsWith('x-forwarded'))).toHaveLength(99);
    for (const n of [101, 1100]) {
      const http = await rawExchange(port, withFields(n), finalResponses(1));
      expect(parseResponses(http.reply)[0].status).toBe(431);
      const upgrade = await rawExchange(port, withFields(n, 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
      expect(parseResponses(upgrade.reply)[0].status).toBe(431);
    }
    expect(backend.requests).toHaveLength(1);
  });

  it('answers 408 to a request body slower than requestSeconds and frees the backend connection', async () => {
    const backend = await startEchoBackend();
    cleanups.push(() => backend.close());
    const { port, state } = await proxyFor([backend.port], { timeouts: { connectSeconds: 1, responseSeconds: 30, idleSeconds: 30, requestSeconds: 0.5 } });
    // 10 of 1,000 announced bytes, then nothing: the body is still on its way to the backend.
    const slow = rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789', () => false, 10_000);
    await waitFor(() => backend.openConnections() === 1 && state().backends[0].inFlight === 1, 3000);
    const { reply, closed } = await slow;
    expect(closed).toBe(true);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    await waitFor(() => state().backends[0].inFlight === 0 && backend.openConnections() === 0, 5000);
  });

  it('does not cut a response that takes longer than requestSeconds once the request is in', async () => {
    const backend = await startEchoBackend();
    cleanups.push(() => backend.close());
    const { port } = await proxyFor([backend.port], { timeouts: { connectSeconds: 1, responseSeconds: 30, idleSeconds: 30, requestSeconds: 0.3 } });
    const res = await httpRequest(port, '/slow?ms=1500');
    expect(res.status).toBe(200);
  });
});

describe('a router that throws', () => {
  it('costs the request a 502 (or the upgrade its socket) and a log line, not the process', async () => {
    const { logger, messages } = captureLogs('error');
    const boom = () => {
      throw new Error('boom');
    };
    const listener = await PoolListener.open({ address: '127.0.0.1', port: 0, router: { handleRequest: boom, handleUpgrade: boom }, limits: DEFAULT_LIMITS, idleTimeoutMs: 5000, requestTimeoutMs: 5000, logger });
    cleanups.push(() => listener.close(0));
    const port = Number(listener.address.split(':')[1]);
    const http = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', finalResponses(1));
    expect(parseResponses(http.reply)[0].status).toBe(502);
    const upgrade = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect([parseResponses(upgrade.reply)[0].status, upgrade.closed]).toEqual([502, true]);
    expect(messages()).toEqual(['request failed inside the proxy; answered 502', 'upgrade failed inside the proxy; answered 502']);
  });

  it('counts a request that threw or got 431 as over: closing does not wait for it', async () => {
    const boom = () => {
      throw new Error('boom');
    };
    const listener = await PoolListener.open({ address: '127.0.0.1', port: 0, router: { handleRequest: boom, handleUpgrade: boom }, limits: DEFAULT_LIMITS, idleTimeoutMs: 5000, requestTimeoutMs: 5000, logger: silentLogger });
    cleanups.push(() => listener.close(0));
    const port = Number(listener.address.split(':')[1]);
    const thrown = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', finalResponses(1));
    const tooMany = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: v\r\n'.repeat(DEFAULT_LIMITS.maxHeaderFields)}\r\n`, finalResponses(1));
    expect([parseResponses(thrown.reply)[0].status, parseResponses(tooMany.reply)[0].status]).toEqual([502, 431]);
    expect(listener.requests).toBe(2);
    // A leaked request would hold close() until its grace ran out, long after this deadline.
    const closed = listener.close(60_000).then(() => 'closed');
    expect(await Promise.race([closed, sleep(5000, 'still waiting for a request', { ref: false })])).toBe('closed');
  });
});
