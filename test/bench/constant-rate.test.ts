import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generate, responseEnd } from '../../bench/lib/constant-rate.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe('responseEnd', () => {
  const res = (s: string) => Buffer.from(s, 'latin1');
  it('finds the end of a Content-Length response, and not before the body is complete', () => {
    const full = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
    expect(responseEnd(res(full))).toEqual({ end: full.length, status: 200, close: false });
    expect(responseEnd(res(full.slice(0, -1)))).toBeUndefined();
    expect(responseEnd(res(full.slice(0, 20)))).toBeUndefined();
  });
  it('follows chunked encoding through trailers', () => {
    const full = 'HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n';
    expect(responseEnd(res(full))).toEqual({ end: full.length, status: 503, close: true });
    for (const cut of [60, full.length - 14, full.length - 2]) expect(responseEnd(res(full.slice(0, cut)))).toBeUndefined();
  });
  it('rejects a response it cannot delimit', () => {
    expect(() => responseEnd(res('HTTP/1.1 200 OK\r\n\r\nbody'))).toThrow(/without Content-Length or chunked/);
  });
});

describe('generate', () => {
  it('sends every scheduled request over keep-alive connections, reconnecting after Connection: close', async () => {
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      if (n % 3 === 0) res.writeHead(200, { connection: 'close', 'content-length': '2' }).end('ok');
      else if (n % 3 === 1) res.writeHead(200, { 'content-type': 'text/plain' }).end('chunked'); // no length: chunked
      else res.writeHead(404, { 'content-length': '0' }).end();
    });
    const r = await generate({ url, rate: 400, durationS: 0.5, warmupS: 0.1, connections: 4 });
    expect(r.scheduled).toBe(200);
    expect(r.unfinished).toBe(0);
    // Every third answer is a 404: counted as an error, not as completed.
    expect(r.completed + r.errors).toBe(200);
    expect(r.errors).toBeGreaterThanOrEqual(66);
    expect(r.errors).toBeLessThanOrEqual(67);
    expect(n).toBe(240);
  });

  it('charges a stall to every request due during it (open loop), not only to the one that stalled', async () => {
    // One connection, 200 req/s for 1 s; the 21st request is held 300 ms. The ~60 requests due
    // meanwhile wait for it, so each is late by the rest of the stall: a fifth of all requests are
    // at least 100 ms late. A closed-loop client would record one slow request and a p90 near 0.
    let n = 0;
    const url = await serve((_req, res) => {
      const reply = () => res.writeHead(200, { 'content-length': '2' }).end('ok');
      if (++n === 21) setTimeout(reply, 300);
      else reply();
    });
    const r = await generate({ url, rate: 200, durationS: 1, warmupS: 0, connections: 1 });
    expect(r.completed).toBe(200);
    expect(r.p90Ms).toBeGreaterThanOrEqual(100);
    expect(r.maxMs).toBeGreaterThanOrEqual(300);
  });

  it('counts requests that never get an answer as unfinished, and their latency as infinite', async () => {
    let n = 0;
    const url = await serve((_req, res) => {
      if (++n <= 10) res.writeHead(200, { 'content-length': '2' }).end('ok');
      // later requests hang
    });
    const r = await generate({ url, rate: 100, durationS: 0.2, warmupS: 0, connections: 1 }, 100);
    expect(r.completed).toBe(10);
    expect(r.unfinished).toBe(10);
    expect(r.p99Ms).toBe(Infinity);
  });
});
