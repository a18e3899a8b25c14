// The admin listener on a running dev-mode Ballast: probes, metrics, and the pool debug view.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startBallast, type Ballast } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import { FileSource } from '../../src/sources/file/file-source.js';
import { httpRequest } from '../support/backends.js';
import { startDemoBackends } from '../support/demo-backends.js';
import { freePort, get } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';

let dir: string;
let app: Ballast;
let backends: Awaited<ReturnType<typeof startDemoBackends>>;
let listen: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-admin-'));
  backends = await startDemoBackends(2);
  listen = await freePort();
  const [a, b] = backends.ports;
  await writeFile(
    path.join(dir, 'web.yaml'),
    `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: web }
spec:
  service: { name: web, port: http }
  listener: { address: 127.0.0.1, port: ${listen} }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-a, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: ${a} }]
endpoints:
  - { addresses: [127.0.0.1], conditions: { ready: true } }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-b, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: ${b} }]
endpoints:
  - { addresses: [127.0.0.1], conditions: { ready: false, serving: true, terminating: true } }
`,
  );
  app = await startBallast({ logger: silentLogger, admin: '127.0.0.1:0', sources: [new FileSource({ dir, logger: silentLogger, resyncMs: 0 })] });
});

afterAll(async () => {
  await app.stop();
  await backends.close();
  await rm(dir, { recursive: true, force: true });
});

describe('admin listener', () => {
  it('answers liveness and readiness', async () => {
    expect(await get(`http://${app.adminAddress}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(`http://${app.adminAddress}/readyz`)).toMatchObject({
      status: 200,
      body: '[+]shutdown ok\n[+]sources ok\n[+]reconcile ok\n[+]listeners ok: 1 of 1 open\nreadyz check passed\n',
    });
  });

  it('says why each endpoint is in or out', async () => {
    const [a, b] = backends.ports;
    const pools = JSON.parse((await get(`http://${app.adminAddress}/debug/pools`)).body);
    expect(pools).toEqual([
      expect.objectContaining({
        pool: 'default/web',
        listener: `127.0.0.1:${listen}`,
        backends: [expect.objectContaining({ backend: `127.0.0.1:${a}`, state: 'active', endpoint: 'ready' })],
        excluded: [{ backend: `127.0.0.1:${b}`, reason: 'Terminating' }],
      }),
    ]);
  });

  it('exposes Prometheus metrics for the proxy and the reconciler', async () => {
    for (let i = 0; i < 3; i++) expect((await get(`http://127.0.0.1:${listen}/`)).status).toBe(200);
    const metrics = (await get(`http://${app.adminAddress}/metrics`)).body;
    expect(metrics).toMatch(/^ballast_reconcile_total\{result="success"\} [1-9]/m);
    expect(metrics).toMatch(/^ballast_sync_latency_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^ballast_proxy_requests_total\{[^}]*pool="default\/web"[^}]*\} 3$/m);
    expect(metrics).toMatch(/^ballast_process_resident_memory_bytes \d+/m);
  });
});

/** The first `n` Server-Sent Events of a stream, as `{ event, data }`. */
function readEvents(url: string, n: number): Promise<{ event: string; data: string }[]> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let buffer = '';
      const events: { event: string; data: string }[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
          const event = field('event');
          if (event) events.push({ event, data: field('data') ?? '' });
          if (events.length === n) {
            req.destroy();
            resolve(events);
          }
        }
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${url}: fewer than ${n} events within 10 s`)));
    req.on('error', reject);
  });
}

describe('dashboard data', () => {
  it('streams the full view first, then one update a tick, the same bytes for every viewer', async () => {
    const url = `http://${app.adminAddress}/dashboard/events`;
    const [one, two] = await Promise.all([readEvents(url, 4), readEvents(url, 4)]);
    for (const events of [one, two]) {
      expect(events.map((e) => e.event)).toEqual(['snapshot', 'update', 'update', 'update']);
      const first = JSON.parse(events[0].data);
      expect(first).toMatchObject({ full: true, pools: [expect.objectContaining({ key: 'default/web', excluded: [expect.objectContaining({ reason: 'Terminating' })] })] });
      expect(JSON.parse(events[1].data)).toMatchObject({ full: false });
    }
    // Built once per tick: two viewers of the same tick get the same text.
    const byTime = new Map(one.slice(1).map((e) => [JSON.parse(e.data).generatedAt, e.data]));
    const shared = two.slice(1).filter((e) => byTime.has(JSON.parse(e.data).generatedAt));
    expect(shared.length).toBeGreaterThan(0);
    for (const e of shared) expect(e.data).toBe(byTime.get(JSON.parse(e.data).generatedAt));
  });

  it('answers unknown paths 404 and changes nothing on POST', async () => {
    expect((await get(`http://${app.adminAddress}/dashboard/nope`)).status).toBe(404);
    expect((await httpRequest(Number(app.adminAddress!.split(':')[1]), '/dashboard/state', { method: 'POST' })).status).toBe(405);
  });
});

describe('a listener that cannot open', () => {
  it('shows its error in /debug/pools and /readyz, and fails readiness only while no listener is open', async () => {
    const own = await mkdtemp(path.join(tmpdir(), 'ballast-busy-'));
    // Another process's socket holds the port.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const busy = (squatter.address() as AddressInfo).port;
    const pool = (name: string, port: number) =>
      `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: ${name} }\nspec:\n  listener: { address: 127.0.0.1, port: ${port} }\n  endpoints: [{ address: 127.0.0.1, port: ${backends.ports[0]} }]\n`;
    await writeFile(path.join(own, 'busy.yaml'), pool('busy', busy));
    const busyApp = await startBallast({ logger: silentLogger, admin: '127.0.0.1:0', sources: [new FileSource({ dir: own, logger: silentLogger, debounceMs: 50, resyncMs: 0 })] });
    try {
      const failure = `cannot listen on 127.0.0.1:${busy}: EADDRINUSE`;
      expect(await get(`http://${busyApp.adminAddress}/readyz`)).toMatchObject({
        status: 503,
        body: `[+]shutdown ok\n[+]sources ok\n[+]reconcile ok\n[-]listeners failed: 0 of 1 open\n    default/busy: ${failure}\nreadyz check failed\n`,
      });
      const pools = JSON.parse((await get(`http://${busyApp.adminAddress}/debug/pools`)).body) as { pool: string; listener?: string; problems: unknown[] }[];
      expect(pools).toEqual([expect.objectContaining({ pool: 'default/busy', problems: [{ reason: 'ListenerFailed', message: failure }] })]);
      expect(pools[0].listener).toBeUndefined();

      // A second pool that serves makes the process ready; the failed one stays listed.
      const free = await freePort();
      await writeFile(path.join(own, 'web.yaml'), pool('web', free));
      const ready = await waitFor(async () => {
        const r = await get(`http://${busyApp.adminAddress}/readyz`);
        return r.status === 200 ? r.body : undefined;
      }, 5000);
      expect(ready).toBe(`[+]shutdown ok\n[+]sources ok\n[+]reconcile ok\n[+]listeners ok: 1 of 2 open\n    default/busy: ${failure}\nreadyz check passed\n`);
    } finally {
      await busyApp.stop();
      await new Promise((resolve) => squatter.close(resolve));
      await rm(own, { recursive: true, force: true });
    }
  });
});

describe('ballast dev process', () => {
  it('on SIGTERM fails readiness first while still serving, then exits 0', async () => {
    const [admin, proxied] = [await freePort(), await freePort()];
    const own = await mkdtemp(path.join(tmpdir(), 'ballast-sigterm-'));
    await writeFile(path.join(own, 'web.yaml'), `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec:\n  listener: { address: 127.0.0.1, port: ${proxied} }\n  endpoints: [{ address: 127.0.0.1, port: ${backends.ports[0]} }]\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--manifests', own, '--admin', `127.0.0.1:${admin}`, '--shutdown-delay', '1'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor(async () => (await get(`http://127.0.0.1:${admin}/readyz`)).status === 200, 20_000);
    } finally {
      child.kill('SIGTERM');
    }
    await waitFor(async () => (await get(`http://127.0.0.1:${admin}/readyz`)).status === 503, 2000);
    expect((await get(`http://127.0.0.1:${proxied}/`)).status).toBe(200); // still serving during the delay
    await rm(own, { recursive: true, force: true });
    expect(await exited).toBe(0);
  }, 30_000);
});
