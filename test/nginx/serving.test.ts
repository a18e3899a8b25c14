// A real nginx runs rendered upstream blocks in front of real loopback backends.
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { renderUpstream } from '../../src/plan/nginx-upstream.js';
import { createNginxPrefix, nginxPlan, startBackend, startNginx, stopAllNginx, type Backend, type NginxPrefix, type RunningNginx } from '../support/nginx.js';
import { freePort, get } from '../support/http-get.js';

const backends: Backend[] = [];
let nginx: RunningNginx | undefined;

let prefix: NginxPrefix | undefined;

afterEach(async () => {
  await nginx?.stop();
  await prefix?.remove();
  nginx = undefined;
  prefix = undefined;
  await Promise.all(backends.splice(0).map((b) => b.close()));
});
afterAll(stopAllNginx);

/** Starts nginx with `spec`'s rendered upstream; the backends are this test's. */
async function serve(spec: Record<string, unknown>): Promise<RunningNginx> {
  prefix = await createNginxPrefix({ include: 'upstream.conf', upstream: 'default_web' });
  const text = renderUpstream(nginxPlan('web', spec), { emptyPoolListen: `127.0.0.1:${await freePort()}` });
  await writeFile(path.join(prefix.prefix, 'upstream.conf'), text);
  nginx = await startNginx(prefix);
  return nginx;
}

async function tally(n: number, url: string): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const counts: Record<string, number> = {};
  try {
    for (let i = 0; i < n; i++) {
      const r = await get(url, { agent });
      expect(r.status).toBe(200);
      counts[r.body] = (counts[r.body] ?? 0) + 1;
    }
  } finally {
    agent.destroy();
  }
  return counts;
}

describe('rendered upstreams under a real nginx', () => {
  it('splits 40 requests 30:10 over weights 3:1 (weighted round robin)', async () => {
    backends.push(await startBackend('a'), await startBackend('b'));
    const [a, b] = backends;
    const n = await serve({ endpoints: [{ address: '127.0.0.1', port: a.port, weight: 3 }, { address: '127.0.0.1', port: b.port, weight: 1 }] });
    expect(await tally(40, n.url())).toEqual({ a: 30, b: 10 });
  });

  it('alternates exactly over equal weights (round robin)', async () => {
    backends.push(await startBackend('a'), await startBackend('b'), await startBackend('c'));
    const n = await serve({ endpoints: backends.map((b) => ({ address: '127.0.0.1', port: b.port })) });
    expect(await tally(30, n.url())).toEqual({ a: 10, b: 10, c: 10 });
  });

  it('sends one client to one backend with IPHash', async () => {
    backends.push(await startBackend('a'), await startBackend('b'));
    const n = await serve({ algorithm: 'IPHash', endpoints: backends.map((b) => ({ address: '127.0.0.1', port: b.port })) });
    expect(Object.values(await tally(20, n.url()))).toEqual([20]);
  });

  it('uses both backends with Random (two choices)', async () => {
    backends.push(await startBackend('a'), await startBackend('b'));
    const n = await serve({ algorithm: 'Random', endpoints: backends.map((b) => ({ address: '127.0.0.1', port: b.port })) });
    const counts = await tally(40, n.url());
    expect(Object.keys(counts).sort()).toEqual(['a', 'b']);
  });

  it('reuses upstream connections (keepalive)', async () => {
    const seen = new Set<string>();
    const server = http.createServer((req, res) => {
      seen.add(`${req.socket.remotePort}`);
      res.end('ok');
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    backends.push({
      name: 'raw',
      port: 0,
      hits: 0,
      close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
      drain: () => new Promise((resolve) => server.close(() => resolve())),
    });
    const port = (server.address() as { port: number }).port;
    const n = await serve({ endpoints: [{ address: '127.0.0.1', port }] });
    for (let i = 0; i < 10; i++) expect((await get(n.url())).status).toBe(200);
    expect(seen.size).toBe(1);
  });

  it('answers 503 at once, with a clear body, for a pool with no backend', async () => {
    const n = await serve({ service: { name: 'web', port: 'http' } });
    // The short timeout is the "at once": no connect timeout, no retry loop behind it.
    const r = await get(n.url('/anything'), { timeoutMs: 1000 });
    expect(r.status).toBe(503);
    expect(r.body).toBe('no ready backend in BalancerPool default/web\n');
  });
});
