// The dashboard in a real browser: Debian's Chromium opens GET / of a real `ballast dev` process
// proxying to real backends on loopback, and follows manifest edits and a killed backend without a
// reload. A screenshot is kept in test-artifacts/ (git-ignored).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { DASHBOARD_CSP } from '../../src/admin/dashboard.js';
import { httpRequest, spawnEchoBackend, type BackendProcess } from '../support/backends.js';
import { launchBrowser, type Browser } from '../support/browser.js';
import { freePort, get } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';

const HOSTILE = '<img src=x onerror=alert(1)>';
const ARTIFACTS = path.resolve('test-artifacts');

let dir: string;
let ballast: ChildProcess;
let exited: Promise<unknown>;
let admin: string;
let backends: BackendProcess[];
let listen: number;
let browser: Browser;
let page: Page;
/** What the page did that it must not: script errors, CSP violations, dialogs, requests elsewhere. */
const misbehaviour: string[] = [];

function webPool(ports: number[]): string {
  return `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata:
  name: web
  annotations: { description: "${HOSTILE}" }
spec:
  listener: { address: 127.0.0.1, port: ${listen} }
  outlierDetection: { maxFails: 1, failTimeoutSeconds: 300 }
  endpoints:
${ports.map((p) => `    - { address: 127.0.0.1, port: ${p} }`).join('\n')}
`;
}

// A Service pool without a listener (NGINX only), with one endpoint left out as not ready.
const apiPool = (port: number) => `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: api, namespace: shop }
spec:
  service: { name: api, port: http }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: api-1, namespace: shop, labels: { kubernetes.io/service-name: api } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints:
  - { addresses: [127.0.0.1], conditions: { ready: true } }
  - { addresses: [127.0.0.2], conditions: { ready: false } }
`;

// A pool named with markup: refused (not a DNS-1123 name), and the refusal, which quotes the name, is
// listed among the changes.
const markupPool = `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: "${HOSTILE}" }
spec: { endpoints: [{ address: 127.0.0.1, port: 9 }] }
`;

const row = (pool: string, backend: string) => `[data-pool="${pool}"] tr[data-backend="${backend}"]`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-dashboard-'));
  backends = await Promise.all([spawnEchoBackend(), spawnEchoBackend(), spawnEchoBackend()]);
  listen = await freePort();
  await writeFile(path.join(dir, 'web.yaml'), webPool([backends[0].port, backends[1].port]));
  await writeFile(path.join(dir, 'api.yaml'), apiPool(backends[2].port));
  await writeFile(path.join(dir, 'markup.yaml'), markupPool);
  ballast = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--manifests', dir, '--admin', '127.0.0.1:0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  exited = new Promise((resolve) => ballast.once('exit', resolve));
  let out = '';
  ballast.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  admin = await waitFor(() => /"admin":"([^"]+)"/.exec(out)?.[1], 20_000);
  await waitFor(async () => (await get(`http://${admin}/readyz`)).status === 200, 20_000);

  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on('pageerror', (err) => misbehaviour.push(`page error: ${err.message}`));
  page.on('console', (m) => m.type() === 'error' && misbehaviour.push(`console: ${m.text()}`));
  page.on('dialog', (d) => {
    misbehaviour.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('request', (r) => new URL(r.url()).host !== admin && !r.url().startsWith('data:') && misbehaviour.push(`request to ${r.url()}`));
  await page.goto(`http://${admin}/`);
  // Any full reload would lose this.
  await page.evaluate(() => Object.assign(window, { loadedOnce: true }));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  ballast?.kill('SIGTERM');
  await exited;
  await Promise.all(backends.map((b) => b.kill()));
  await rm(dir, { recursive: true, force: true });
});

describe('dashboard', () => {
  it('is served by Ballast itself with a strict Content-Security-Policy, read-only', async () => {
    const page = await get(`http://${admin}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    for (const asset of ['/dashboard.js', '/dashboard.css']) {
      const r = await get(`http://${admin}${asset}`);
      expect([asset, r.status, r.headers['x-content-type-options']]).toEqual([asset, 200, 'nosniff']);
    }
    const state = JSON.parse((await get(`http://${admin}/dashboard/state`)).body) as { pools: { key: string }[] };
    expect(state.pools.map((p) => p.key)).toEqual(['default/web', 'shop/api']);
    expect((await httpRequest(Number(admin.split(':')[1]), '/', { method: 'POST' })).status).toBe(405);
  });

  it('shows every pool and backend with its state, and endpoints left out with why', async () => {
    const [a, b, c] = backends.map((x) => `127.0.0.1:${x.port}`);
    await page.waitForSelector(`${row('default/web', a)}[data-state="active"]`, { timeout: 10_000 });
    await page.waitForSelector(`${row('default/web', b)}[data-state="active"]`, { timeout: 10_000 });
    expect(await page.locator(row('default/web', a)).innerText()).toContain('serving');
    const web = page.locator('[data-pool="default/web"] > summary');
    expect(await web.innerText()).toContain('Ready');
    expect(await web.innerText()).toContain('2/2 ready');

    // The NGINX-only Service pool: its backend is planned, the not-ready endpoint is left out.
    const api = '[data-pool="shop/api"]';
    await page.waitForSelector(`${row('shop/api', c)}[data-state="planned"]`, { timeout: 10_000 });
    expect(await page.locator(`${api} .excluded li[data-backend="127.0.0.2:${backends[2].port}"]`).innerText()).toContain('not ready');
  });

  it('renders markup from manifests as text', async () => {
    // An annotation, and the refusal of a pool named with markup, are shown as the characters they are...
    await page.waitForSelector('[data-pool="default/web"] .annotations dd', { timeout: 10_000 });
    expect(await page.locator('[data-pool="default/web"] .annotations dd').innerText()).toBe(HOSTILE);
    await page.locator('.change', { hasText: `"${HOSTILE}"` }).first().waitFor({ timeout: 10_000 });
    // ...and never become elements.
    expect(await page.locator('img').count()).toBe(0);
  });

  it('follows manifest edits and killed backends without a reload: draining, ejected, panic', async () => {
    const [a, b, c] = backends.map((x) => `127.0.0.1:${x.port}`);
    const webState = async () => {
      const state = JSON.parse((await get(`http://${admin}/dashboard/state`)).body) as { pools: { key: string; panic: boolean; backends: { backend: string; state: string; inFlight: number }[] }[] };
      return state.pools.find((p) => p.key === 'default/web')!;
    };
    await writeFile(path.join(dir, 'web.yaml'), webPool([backends[0].port, backends[1].port, backends[2].port]));
    await page.waitForSelector(`${row('default/web', c)}[data-state="active"]`, { timeout: 10_000 });
    await page.waitForSelector('.change >> text=BackendsChanged', { timeout: 10_000 });

    // Slow requests on each backend (round robin), then the third leaves the file: it drains them.
    const slow = Promise.allSettled([0, 1, 2].map(() => get(`http://127.0.0.1:${listen}/?ms=8000`, { timeoutMs: 15_000 })));
    await waitFor(async () => (await webState()).backends.every((x) => x.inFlight === 1), 5_000);
    await writeFile(path.join(dir, 'web.yaml'), webPool([backends[0].port, backends[1].port]));
    await page.waitForSelector(`${row('default/web', c)}[data-state="draining"]`, { timeout: 5_000 });
    expect(await page.locator(row('default/web', c)).innerText()).toMatch(/draining, cut at \d\d:\d\d:\d\d/);

    // Killed: its request in flight fails, and the next ones fail to connect; passive health ejects it.
    await backends[0].kill();
    await waitFor(async () => {
      await get(`http://127.0.0.1:${listen}/`);
      return (await webState()).backends.find((x) => x.backend === a)?.state === 'ejected';
    }, 10_000);
    await page.waitForSelector(`${row('default/web', a)}[data-state="ejected"]`, { timeout: 10_000 });
    expect(await page.locator(row('default/web', a)).innerText()).toContain('ejected by passive health');
    expect(await page.locator(`${row('default/web', b)}`).getAttribute('data-state')).toBe('active');

    // The other one too: no backend is left available, so the pool panics and routes to both.
    await backends[1].kill();
    await waitFor(async () => {
      await get(`http://127.0.0.1:${listen}/`);
      return (await webState()).panic;
    }, 10_000);
    await page.waitForSelector('[data-pool="default/web"] > summary >> text=Panic', { timeout: 10_000 });
    expect(await page.locator(row('default/web', b)).innerText()).toContain('gets traffic (panic)');
    await slow;

    // A broken manifest is listed with its file; the pool keeps serving.
    await writeFile(path.join(dir, 'broken.yaml'), 'apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: broken }\nspec: { listener: { port: 70000 } }\n');
    await page.locator('.change.warning', { hasText: 'broken.yaml' }).first().waitFor({ timeout: 10_000 });
    expect(await page.locator('.change.warning', { hasText: 'broken.yaml' }).first().innerText()).toContain('InvalidManifest');

    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(misbehaviour).toEqual([]);
  }, 60_000);

  it('stays usable with hundreds of pools: they start collapsed and the filter finds one', async () => {
    const bulk = Array.from({ length: 300 }, (_, i) => `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: bulk-${i}, namespace: many }
spec: { endpoints: [{ address: 127.0.0.1, port: ${1000 + i} }] }
`).join('---\n');
    await writeFile(path.join(dir, 'bulk.yaml'), bulk);
    await page.waitForFunction(() => document.querySelectorAll('details.pool').length === 302, undefined, { timeout: 15_000 });
    expect(await page.locator('details.pool[data-pool^="many/"][open]').count()).toBe(0);
    await page.fill('#filter', '127.0.0.1:1137');
    await page.waitForFunction(() => document.querySelectorAll('details.pool:not([hidden])').length === 1, undefined, { timeout: 5_000 });
    expect(await page.locator('details.pool:not([hidden])').getAttribute('data-pool')).toBe('many/bulk-137');
    // The filter holds across live updates (the header's "changed N s ago" moves with each one).
    const header = '[data-pool="many/bulk-137"] > summary';
    const before = await page.locator(header).innerText();
    await page.waitForFunction(([sel, text]) => (document.querySelector(sel) as HTMLElement | null)?.innerText !== text, [header, before], { timeout: 5_000 });
    expect(await page.locator('details.pool:not([hidden])').count()).toBe(1);
    await page.fill('#filter', '');
    expect(misbehaviour).toEqual([]);
  }, 30_000);
});
