// Benchmark 3: scale in dev mode. N pools × 100 static endpoints (127.0.0.1 ports that need not
// exist; no listeners, so no port is opened): cold sync (spawn → /readyz 200), one endpoint change
// among them (file rename → the sync metric moves, checked in /debug/pools), RSS and heap.
//   npx tsx bench/scale.ts [--pools 10,100,1000] [--changes 5]
import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { memory, ROOT, startBallastCli, waitReady, type BallastProcess } from './lib/ballast.js';
import { summariseProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { freePort, get, metric } from './lib/http.js';
import { placement, rssBytes, sleep, stopAll } from './lib/proc.js';
import { fmtInt, fmtMiB, fmtMs, percentile, table } from './lib/table.js';
import { poolManifest } from './lib/targets.js';

export const ENDPOINTS_PER_POOL = 100;

export interface ScaleRow {
  pools: number;
  /** Each pool with a loopback listener (the proxy then holds its backends), or none (store and plans only). */
  listeners: boolean;
  endpoints: number;
  /** Process spawn → /readyz 200. */
  coldSyncMs: number;
  /** File rename → sync metric count moved (end to end, includes the file watcher's debounce and the re-read of every file). */
  changeE2eMs: number[];
  /** Ballast's `ballast_sync_latency_seconds` for the change: store updated → pool live. */
  changeSyncMs: number[];
  /** `ballast_reconcile_duration_seconds` for the change. */
  changeReconcileMs: number[];
  rssBytes?: number;
  heapUsedBytes?: number;
  procRssBytes: number;
  visibleInDebugPools: boolean;
  /** When the changes ran, in ms after spawn (to cut a profile to them). */
  changesWindow: { fromMs: number; toMs: number };
}

export interface ScaleResult {
  rows: ScaleRow[];
  /** The process with one pool and no traffic, for the idle-RSS target. */
  idle?: { rssBytes?: number; heapUsedBytes?: number; procRssBytes: number };
  profile?: ProfileSummary;
  markdown: string;
}

const poolName = (i: number) => `pool-${String(i).padStart(4, '0')}`;
const endpointPorts = (i: number, shift = 0) => Array.from({ length: ENDPOINTS_PER_POOL }, (_, j) => 10_000 + ((i * ENDPOINTS_PER_POOL + j + shift) % 50_000));

/** Listener ports per pool index when the pools have listeners (free loopback ports, no traffic). */
async function generate(dir: string, pools: number, listeners: boolean): Promise<(number | undefined)[]> {
  const listen: (number | undefined)[] = [];
  for (let i = 0; i < pools; i++) {
    listen[i] = listeners ? await freePort() : undefined;
    await writeFile(path.join(dir, `${poolName(i)}.yaml`), poolManifest(poolName(i), listen[i], endpointPorts(i)));
  }
  return listen;
}

async function syncCounters(b: BallastProcess): Promise<{ count: number; sum: number; recSum: number; recCount: number }> {
  const text = await b.metrics();
  return {
    count: metric(text, 'ballast_sync_latency_seconds_count') ?? 0,
    sum: metric(text, 'ballast_sync_latency_seconds_sum') ?? 0,
    recSum: metric(text, 'ballast_reconcile_duration_seconds_sum') ?? 0,
    recCount: metric(text, 'ballast_reconcile_duration_seconds_count') ?? 0,
  };
}

async function measureScale(pools: number, changes: number, cpu: number | undefined, log: (l: string) => void, profileDir?: string, listeners = false): Promise<ScaleRow> {
  const dir = await mkdtemp(path.join(tmpdir(), `ballast-bench-scale-${pools}-`));
  let b: BallastProcess | undefined;
  try {
    const listen = await generate(dir, pools, listeners);
    const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
    b = await startBallastCli({ args: ['dev', '--manifests', dir, '--admin', '127.0.0.1:0'], cpu, nodeArgs, timeoutMs: 60_000 });
    const coldSyncMs = await waitReady(b, 300_000);
    const spawnedAt = b.spawnedAt;
    log(`  ${pools} pools: ready ${fmtInt(coldSyncMs)} ms after spawn`);
    // Let the first reconciles finish (readiness may come before the last pool is live).
    let prev = -1;
    for (let i = 0; i < 600; i++) {
      const c = (await syncCounters(b)).count;
      if (c === prev) break;
      prev = c;
      await sleep(200);
    }
    const e2e: number[] = [];
    const sync: number[] = [];
    const rec: number[] = [];
    const target = Math.floor(pools / 2);
    let visible = true;
    const changesFrom = performance.now();
    for (let k = 1; k <= changes; k++) {
      const before = await syncCounters(b);
      const tmp = path.join(dir, `.${poolName(target)}.tmp`);
      // One endpoint changes: the pool's last endpoint moves to another port.
      const ports = endpointPorts(target);
      ports[ports.length - 1] = 60_000 + k;
      await writeFile(tmp, poolManifest(poolName(target), listen[target], ports));
      const t0 = performance.now();
      await rename(tmp, path.join(dir, `${poolName(target)}.yaml`));
      let after = before;
      while (after.count === before.count && performance.now() - t0 < 60_000) {
        // Tight at first, then gentler: every /metrics scrape costs the process under test some CPU.
        await sleep(performance.now() - t0 < 1000 ? 10 : 25);
        after = await syncCounters(b);
      }
      e2e.push(performance.now() - t0);
      sync.push((after.sum - before.sum) * 1000);
      rec.push(((after.recSum - before.recSum) * 1000) / Math.max(1, after.recCount - before.recCount));
      if (k === changes) {
        const pools = (await get(`${b.admin}/debug/pools`, { timeoutMs: 60_000 })).body;
        visible = pools.includes(`"port": ${60_000 + k}`) || pools.includes(`:${60_000 + k}`);
      }
      await sleep(150);
    }
    const changesWindow = { fromMs: changesFrom - spawnedAt, toMs: performance.now() - spawnedAt };
    await sleep(1000);
    const mem = await memory(b);
    return {
      changesWindow,
      listeners,
      pools,
      endpoints: pools * ENDPOINTS_PER_POOL,
      coldSyncMs,
      changeE2eMs: e2e,
      changeSyncMs: sync,
      changeReconcileMs: rec,
      rssBytes: mem.rssBytes,
      heapUsedBytes: mem.heapUsedBytes,
      procRssBytes: rssBytes(b.pid),
      visibleInDebugPools: visible,
    };
  } finally {
    await b?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureIdle(cpu: number | undefined): Promise<ScaleResult['idle']> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ballast-bench-idle-'));
  let b: BallastProcess | undefined;
  try {
    await writeFile(path.join(dir, 'pool.yaml'), poolManifest('web', undefined, [10_000]));
    b = await startBallastCli({ args: ['dev', '--manifests', dir, '--admin', '127.0.0.1:0'], cpu });
    await waitReady(b);
    await sleep(2000);
    return { ...(await memory(b)), procRssBytes: rssBytes(b.pid) };
  } finally {
    await b?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const med = (v: number[]) => percentile(v, 50);

export async function runScale({
  pools,
  changes,
  profile = false,
  profilePools,
  withListeners = 10,
  log = () => {},
}: {
  pools: number[];
  /** Also this many pools with listeners (0: none), to measure what the proxy holds per endpoint. */
  withListeners?: number;
  changes: number;
  profile?: boolean;
  /** Pool count of the profiled run (default: the largest measured). */
  profilePools?: number;
  log?: (l: string) => void;
}): Promise<ScaleResult> {
  const cpu = placement().proxy;
  const idle = await measureIdle(cpu);
  const rows: ScaleRow[] = [];
  for (const n of pools) {
    log(`scale: ${n} pools × ${ENDPOINTS_PER_POOL} endpoints`);
    rows.push(await measureScale(n, changes, cpu, log));
  }
  if (withListeners > 0) {
    log(`scale: ${withListeners} pools × ${ENDPOINTS_PER_POOL} endpoints, each pool with a listener`);
    rows.push(await measureScale(withListeners, changes, cpu, log, undefined, true));
  }
  let prof: ProfileSummary | undefined;
  let profiled = 0;
  if (profile && pools.length > 0) {
    // A separate, profiled run; the summary keeps the changes only.
    const n = Math.min(profilePools ?? Infinity, Math.max(...pools));
    log(`scale: cpu profile of ${n} pools (cold sync + ${changes} changes)`);
    const dir = await mkdtemp(path.join(tmpdir(), 'ballast-bench-scale-prof-'));
    try {
      const row = await measureScale(n, changes, cpu, log, dir);
      profiled = n;
      const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
      if (files[0]) prof = summariseProfile(path.join(dir, files[0]), ROOT, row.changesWindow);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const md = [
    `Dev mode, one manifest file per pool, ${ENDPOINTS_PER_POOL} static endpoints each (127.0.0.1 ports nothing listens on). Without listeners no port is opened and the proxy holds nothing for the pool (an NGINX-only pool): those rows measure the sources, store, reconciler and plans. The row with listeners gives each pool a loopback listener (no traffic), so the proxy also holds its backends (an undici connection pool each). "One change" renames a new version of one pool's file over it (its last endpoint moves); ${changes} changes per size, medians shown. End to end = rename → \`ballast_sync_latency_seconds_count\` moves on /metrics (polled every 10 ms for the first second, then every 25 ms; each scrape costs the process ~1 ms); sync = that metric's own value (store updated → pool live); reconcile = \`ballast_reconcile_duration_seconds\`. RSS and heap from /metrics (prom-client defaults) 1 s after the changes.\n`,
    table(
      ['pools', 'listeners', 'endpoints', 'cold sync ms', 'one change: end to end ms', 'sync metric ms', 'reconcile ms', 'RSS MiB', 'heap used MiB', 'RSS per 1k endpoints MiB', 'visible in /debug/pools'],
      rows.map((r) => [
        fmtInt(r.pools),
        r.listeners ? 'yes' : 'no',
        fmtInt(r.endpoints),
        fmtInt(r.coldSyncMs),
        fmtMs(med(r.changeE2eMs), 1),
        fmtMs(med(r.changeSyncMs), 2),
        fmtMs(med(r.changeReconcileMs), 2),
        fmtMiB(r.rssBytes),
        fmtMiB(r.heapUsedBytes),
        idle?.rssBytes && r.rssBytes ? ((r.rssBytes - idle.rssBytes) / 2 ** 20 / (r.endpoints / 1000)).toFixed(2) : '–',
        r.visibleInDebugPools ? 'yes' : 'no',
      ]),
    ),
    `\nIdle (one pool, one endpoint, no listener, no traffic, 2 s after ready): RSS ${fmtMiB(idle?.rssBytes)} MiB, heap used ${fmtMiB(idle?.heapUsedBytes)} MiB.`,
  ];
  if (prof) {
    md.push(`\n**Where the time goes at ${fmtInt(profiled)} pools** (\`node --cpu-prof\`, only the ${changes} changes after the cold sync, /metrics polling included, ${fmtInt(prof.totalMs)} ms; share of non-idle samples)\n`);
    md.push(table(['area', 'self %'], prof.byArea.map((f) => [f.frame, f.selfPct.toFixed(1)])));
    md.push('');
    md.push(table(['top frames (self)', 'self %'], prof.top.map((f) => [`\`${f.frame}\``, f.selfPct.toFixed(1)])));
    md.push('');
    md.push(table(['Ballast functions (inclusive)', 'incl. %'], prof.ballastInclusive.map((f) => [`\`${f.frame}\``, f.selfPct.toFixed(1)])));
  }
  return { rows, idle, profile: prof, markdown: md.join('\n') };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { pools: { type: 'string', default: '10,100' }, changes: { type: 'string', default: '5' }, profile: { type: 'boolean', default: false } } });
  runScale({ pools: values.pools!.split(',').map(Number), changes: Number(values.changes), profile: values.profile, log: (l) => console.error(l) })
    .then((r) => console.log(r.markdown))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => void stopAll());
}
