// `--workers 2` as users run it: a real `ballast dev` process whose node:cluster workers serve one
// shared listener, fed by the primary's one control loop. Real backends, real files, real signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { httpRequest, startEchoBackends, type EchoBackend } from '../support/backends.js';
import { freePort, get } from '../support/http-get.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { waitFor } from '../support/wait-for.js';

interface WorkerView {
  worker: number;
  pid: number;
  requests: number;
  backends: { backend: string }[];
}
interface PoolView {
  pool: string;
  backends: { backend: string }[];
  workers?: WorkerView[];
}

class Dev {
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  admin = '';

  constructor(readonly child: ChildProcess) {
    let rest = '';
    child.stdout!.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const l of parts.filter(Boolean)) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    });
    this.exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  }

  static async start(dir: string, workers: number): Promise<Dev> {
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--manifests', dir, '--admin', '127.0.0.1:0', '--workers', String(workers), '--log-format', 'json'];
    const dev = new Dev(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
    dev.admin = String((await waitFor(() => dev.lines.find((l) => l.msg === 'admin listening'), 20_000)).admin);
    await waitFor(() => dev.lines.some((l) => l.msg === 'ballast started'), 20_000);
    return dev;
  }

  logged(msg: string, worker?: number): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg && (worker === undefined || l.worker === worker));
  }

  async pools(): Promise<PoolView[]> {
    return JSON.parse((await get(`http://${this.admin}/debug/pools`)).body) as PoolView[];
  }

  async workers(): Promise<WorkerView[]> {
    return (await this.pools())[0]?.workers ?? [];
  }

  async ready(): Promise<boolean> {
    return (await get(`http://${this.admin}/readyz`)).status === 200;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The sum of the scraped series of `name` whose labels include `labels`. */
function scraped(text: string, name: string, labels: Record<string, string>): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

/** True when `pid` is gone. */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

const poolYaml = (listen: number, backends: EchoBackend[]) => `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: web }
spec:
  listener: { address: 127.0.0.1, port: ${listen} }
  endpoints:
${backends.map((b) => `    - { address: 127.0.0.1, port: ${b.port} }`).join('\n')}
`;

let backends: EchoBackend[];
let dir: string;
let dev: Dev | undefined;
let listen: number;

beforeAll(async () => {
  backends = await startEchoBackends(2);
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

describe('ballast dev --workers 2', () => {
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ballast-workers-'));
    listen = await freePort();
    await writeFile(path.join(dir, 'web.yaml'), poolYaml(listen, backends));
  });
  afterEach(async () => {
    await dev?.stop();
    dev = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('serves one listener from both workers, applies an edit in both, and sums their metrics', async () => {
    dev = await Dev.start(dir, 2);
    await waitFor(() => dev!.ready(), 10_000);
    // The kernel spreads new connections over the workers: send fresh ones until both have served.
    const served = await waitFor(async () => {
      for (let i = 0; i < 10; i++) expect((await httpRequest(listen, '/')).status).toBe(200);
      const workers = await dev!.workers();
      return workers.length === 2 && workers.every((w) => w.requests > 0) ? workers : undefined;
    }, 15_000);
    expect(served.map((w) => w.worker).sort()).toEqual([1, 2]);
    const total = served.reduce((n, w) => n + w.requests, 0);
    const metrics = (await get(`http://${dev.admin}/metrics`)).body;
    expect(scraped(metrics, 'ballast_proxy_requests_total', { pool: 'default/web', code: '200' })).toBe(total);
    // A state count is one pool's, not one per worker.
    expect(scraped(metrics, 'ballast_pool_backends', { pool: 'default/web', state: 'active' })).toBe(2);
    // The dashboard samples the workers' traffic counts, summed: the pool shows a request rate.
    await waitFor(async () => {
      for (let i = 0; i < 5; i++) await httpRequest(listen, '/');
      const state = JSON.parse((await get(`http://${dev!.admin}/dashboard/state`)).body) as { pools: { key: string; traffic?: { rps: number } }[] };
      return (state.pools.find((p) => p.key === 'default/web')?.traffic?.rps ?? 0) > 0;
    }, 10_000);

    // One edit, one reconcile in the primary, applied by every worker.
    await writeFile(path.join(dir, 'web.yaml'), poolYaml(listen, [backends[1]]));
    await waitFor(async () => {
      const workers = await dev!.workers();
      return workers.length === 2 && workers.every((w) => w.backends.map((b) => b.backend).join() === backends[1].address);
    }, 10_000);
    for (let i = 0; i < 10; i++) expect((await httpRequest(listen, '/')).headers['x-backend-port']).toBe(String(backends[1].port));
  });

  it('replaces a worker killed under load while the other serves; no request fails past a reconnect', async () => {
    dev = await Dev.start(dir, 2);
    await waitFor(() => dev!.ready(), 10_000);
    const load = new KeepAliveLoad(`http://127.0.0.1:${listen}/`, { concurrency: 4, maxMs: 20_000 });
    // Steady load: every client connection has served a request, so what the kill cuts is a request
    // on a reused connection, which a client may send again (RFC 9112 §9.3.1), as KeepAliveLoad does.
    // The kernel may put all four connections on one worker: the victim is the busiest one.
    const victim = await waitFor(async () => {
      const workers = await dev!.workers();
      return load.replies.length > 100 && workers.length === 2 ? workers.reduce((a, b) => (b.requests > a.requests ? b : a)) : undefined;
    }, 15_000);
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(() => dev!.logged('proxy worker exited; the others keep serving', victim.worker).length === 1, 10_000);
    const during = load.replies.length;
    await waitFor(() => dev!.logged('proxy worker started', victim.worker).length === 2, 10_000);
    await waitFor(() => dev!.ready(), 10_000);
    const after = load.replies.length;
    await waitFor(() => load.replies.length > after + 50, 10_000);
    await load.stop();
    // Requests on the dead worker's connections were retried once on a new one (an idempotent GET),
    // which the surviving worker answered.
    expect(load.failures).toEqual([]);
    expect(load.replies.length).toBeGreaterThan(during);
    const workers = await dev.workers();
    expect(workers.map((w) => w.worker).sort()).toEqual([1, 2]);
    expect(workers.find((w) => w.worker === victim.worker)!.pid).not.toBe(victim.pid);
    expect(gone(victim.pid)).toBe(true);
  });

  it('drains every worker on SIGTERM: in-flight requests finish, then all processes exit 0', async () => {
    dev = await Dev.start(dir, 2);
    await waitFor(() => dev!.ready(), 10_000);
    // Slow requests on fresh connections, until both workers hold some.
    const slow: Promise<{ status: number }>[] = [];
    await waitFor(async () => {
      for (let i = 0; i < 4; i++) slow.push(httpRequest(listen, '/slow?ms=1500', { timeoutMs: 10_000 }));
      const workers = await dev!.workers();
      return workers.length === 2 && workers.every((w) => w.requests > 0);
    }, 10_000);
    const pids = (await dev.workers()).map((w) => w.pid);
    dev.child.kill('SIGTERM');
    const statuses = await Promise.all(slow.map((r) => r.then((x) => x.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await dev.exited).toEqual([0, null]);
    expect(pids.every(gone)).toBe(true);
  });
});
