// Benchmark 1: proxy throughput, latency and CPU per request, Ballast against its peers, one run,
// one backend, one load generator (wrk -t1 -c32 --latency), keep-alive and Connection: close.
//   npx tsx bench/proxy.ts [--duration 4] [--backend nginx|node] [--no-profile]
import { readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib/ballast.js';
import { summariseProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { freePort, get, waitForHttp } from './lib/http.js';
import { startNginxBackend } from './lib/nginx.js';
import { cpuBusy, placement, start, stopAll, treeCpuSeconds, type Placement } from './lib/proc.js';
import { fmtInt, fmtMs, fmtRatio, table } from './lib/table.js';
import { startBallastPool, startTarget, TARGET_LABEL, type Running, type TargetName } from './lib/targets.js';
import { wrk, type WrkResult } from './lib/wrk.js';

export interface ProxyBenchOptions {
  durationS: number;
  warmupS: number;
  connections: number;
  /** Each target is measured this many times, interleaved; rows report medians. */
  rounds: number;
  backend: 'nginx' | 'node';
  targets: TargetName[];
  profile: boolean;
  log?: (line: string) => void;
}

export const DEFAULT_TARGETS: TargetName[] = ['direct', 'nginx', 'ballast', 'http-proxy-ka', 'http-proxy', 'seed-lb'];

export type Mode = 'keep-alive' | 'close';

export interface Row {
  target: TargetName;
  mode: Mode;
  connections: number;
  thinkMs?: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  /** Proxy process CPU time per request (µs); undefined for direct. */
  cpuUsPerReq?: number;
  backendCpuUsPerReq: number;
  /** Busy share of each CPU during the run (0..1). */
  busy: number[];
  /** With several rounds: each round's figures (the row holds their medians). */
  rounds?: { rps: number; p50Ms: number; p99Ms: number; cpuUsPerReq?: number }[];
}

export interface HalfLoad {
  /** Ballast's keep-alive peak that "half" refers to. */
  peakRps: number;
  fewer: { connections: number; rows: Row[] };
  paced: { connections: number; thinkMs: number; rows: Row[] };
}

export interface ProxyBenchResult {
  placement: Placement;
  backend: string;
  options: Omit<ProxyBenchOptions, 'log'>;
  rows: Row[];
  halfLoad?: HalfLoad;
  idleRssBytes?: number;
  profile?: ProfileSummary;
  markdown: string;
}

const HEADERS: Record<Mode, string[]> = { 'keep-alive': [], close: ['Connection: close'] };

async function measure(
  target: TargetName,
  running: Running,
  backendPids: () => number[],
  mode: Mode,
  o: { connections: number; durationS: number; warmupS: number; thinkMs?: number; cpu?: number },
): Promise<Row> {
  const probe = await get(running.url, { fresh: true });
  if (probe.status !== 200 || !probe.body.includes('Handled by server')) throw new Error(`${target}: ${running.url} answered ${probe.status} ${probe.body.slice(0, 200)}`);
  const base = { url: running.url, connections: o.connections, headers: HEADERS[mode], cpu: o.cpu, thinkMs: o.thinkMs };
  if (o.warmupS > 0) await wrk({ ...base, durationS: o.warmupS });
  const cpu0 = running.pids().reduce((s, p) => s + treeCpuSeconds(p), 0);
  const bcpu0 = backendPids().reduce((s, p) => s + treeCpuSeconds(p), 0);
  const busy0 = cpuBusy();
  const t0 = performance.now();
  const r: WrkResult = await wrk({ ...base, durationS: o.durationS });
  const wall = (performance.now() - t0) / 1000;
  const busy1 = cpuBusy();
  const cpu1 = running.pids().reduce((s, p) => s + treeCpuSeconds(p), 0);
  const bcpu1 = backendPids().reduce((s, p) => s + treeCpuSeconds(p), 0);
  const hz = 100; // /proc/stat counts USER_HZ ticks
  return {
    target,
    mode,
    connections: o.connections,
    thinkMs: o.thinkMs,
    rps: r.rps,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    requests: r.requests,
    errors: r.non2xx + r.socketErrors,
    cpuUsPerReq: target === 'direct' ? undefined : ((cpu1 - cpu0) * 1e6) / r.requests,
    backendCpuUsPerReq: ((bcpu1 - bcpu0) * 1e6) / r.requests,
    busy: busy1.map((b, i) => (b - busy0[i]) / hz / wall),
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function medianRow(rs: Row[]): Row {
  if (rs.length === 1) return rs[0];
  const m = (f: (r: Row) => number | undefined) => {
    const v = rs.map(f).filter((x): x is number => x !== undefined);
    return v.length ? median(v) : undefined;
  };
  return {
    ...rs[0],
    rps: m((r) => r.rps)!,
    p50Ms: m((r) => r.p50Ms)!,
    p99Ms: m((r) => r.p99Ms)!,
    requests: m((r) => r.requests)!,
    errors: rs.reduce((s, r) => s + r.errors, 0),
    cpuUsPerReq: m((r) => r.cpuUsPerReq),
    backendCpuUsPerReq: m((r) => r.backendCpuUsPerReq)!,
    busy: rs[0].busy.map((_, i) => median(rs.map((r) => r.busy[i]))),
    rounds: rs.map((r) => ({ rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuUsPerReq: r.cpuUsPerReq })),
  };
}

function rowsTable(rows: Row[]): string {
  const by = (t: TargetName) => rows.find((r) => r.target === t);
  const ng = by('nginx');
  const di = by('direct');
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
  return table(
    ['target', 'req/s', '× NGINX', '× direct', 'p50 ms', 'p50 × NGINX', 'p99 ms', 'p99 × NGINX', 'p99 × direct', 'proxy CPU µs/req', 'CPU × NGINX', 'backend CPU µs/req', 'CPU busy', 'errors'],
    rows.map((r) => [
      TARGET_LABEL[r.target],
      fmtInt(r.rps),
      fmtRatio(ratio(r.rps, ng?.rps)),
      fmtRatio(ratio(r.rps, di?.rps)),
      fmtMs(r.p50Ms),
      fmtRatio(ratio(r.p50Ms, ng?.p50Ms)),
      fmtMs(r.p99Ms),
      fmtRatio(ratio(r.p99Ms, ng?.p99Ms)),
      fmtRatio(ratio(r.p99Ms, di?.p99Ms)),
      r.cpuUsPerReq === undefined ? '–' : fmtMs(r.cpuUsPerReq, 1),
      fmtRatio(ratio(r.cpuUsPerReq, ng?.cpuUsPerReq)),
      fmtMs(r.backendCpuUsPerReq, 1),
      r.busy.map((b) => `${Math.round(b * 100)}%`).join('/'),
      String(r.errors),
    ]),
  );
}

function halfTable(rows: Row[]): string {
  const di = rows.find((r) => r.target === 'direct');
  return table(
    ['target', 'connections', 'think ms', 'req/s', 'p50 ms', 'p99 ms', 'p99 added over direct, ms'],
    rows.map((r) => [
      TARGET_LABEL[r.target],
      String(r.connections),
      r.thinkMs === undefined ? '–' : fmtMs(r.thinkMs, 2),
      fmtInt(r.rps),
      fmtMs(r.p50Ms, 3),
      fmtMs(r.p99Ms, 3),
      r.target === 'direct' || !di ? '–' : fmtMs(r.p99Ms - di.p99Ms, 3),
    ]),
  );
}

async function profileBallast(backendPorts: number[], pl: Placement, o: ProxyBenchOptions): Promise<ProfileSummary | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ballast-bench-prof-'));
  try {
    const running = await startBallastPool(backendPorts, pl.proxy, ['--cpu-prof', '--cpu-prof-dir', dir]);
    const spawnedAt = running.ballast!.spawnedAt;
    let window = { fromMs: 0, toMs: 0 };
    try {
      await wrk({ url: running.url, connections: o.connections, durationS: o.warmupS, cpu: pl.loadgen });
      const fromMs = performance.now() - spawnedAt;
      await wrk({ url: running.url, connections: o.connections, durationS: o.durationS, cpu: pl.loadgen });
      window = { fromMs, toMs: performance.now() - spawnedAt };
    } finally {
      await running.stop();
    }
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) return undefined;
    // Only the measured load: no module loading, warm-up or shutdown.
    return summariseProfile(path.join(dir, files[0]), ROOT, window);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runProxyBench(o: ProxyBenchOptions): Promise<ProxyBenchResult> {
  const log = o.log ?? (() => {});
  const pl = placement();
  const backendPort = await freePort();
  let backendPids: () => number[];
  let stopBackend: () => Promise<void>;
  if (o.backend === 'nginx') {
    const n = await startNginxBackend([backendPort], pl.backend);
    backendPids = () => n.pids();
    stopBackend = () => n.stop();
  } else {
    const c = start('node-backend', process.execPath, [path.join(ROOT, 'bench/peers/node-backend.cjs')], { cpu: pl.backend, env: { ...process.env, PORTS: String(backendPort) } });
    backendPids = () => [c.pid];
    stopBackend = () => c.stop();
    await waitForHttp(`http://127.0.0.1:${backendPort}/`, 10_000);
  }
  const rows: Row[] = [];
  let idleRssBytes: number | undefined;
  let halfLoad: HalfLoad | undefined;
  let profile: ProfileSummary | undefined;
  const cpu = pl.loadgen;
  try {
    // Rounds interleave the targets (a slow minute on a shared machine hits every target alike);
    // each (target, mode) reports the median of its rounds.
    const samples: Row[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      for (const name of o.targets) {
        log(`proxy: ${name}${o.rounds > 1 ? ` (round ${round}/${o.rounds})` : ''}`);
        const running = await startTarget(name, [backendPort], pl.proxy);
        try {
          if (running.idle) {
            await new Promise((r) => setTimeout(r, 1000));
            idleRssBytes = Math.min(idleRssBytes ?? Infinity, running.idle.rssBytes);
          }
          for (const mode of ['keep-alive', 'close'] as const) {
            const row = await measure(name, running, backendPids, mode, { connections: o.connections, durationS: o.durationS, warmupS: o.warmupS, cpu });
            log(`  ${mode}: ${fmtInt(row.rps)} req/s p50 ${fmtMs(row.p50Ms)} ms p99 ${fmtMs(row.p99Ms)} ms cpu ${fmtMs(row.cpuUsPerReq, 1)} µs/req errors ${row.errors}`);
            samples.push(row);
          }
        } finally {
          await running.stop();
        }
      }
    }
    for (const name of o.targets) for (const mode of ['keep-alive', 'close'] as const) rows.push(medianRow(samples.filter((r) => r.target === name && r.mode === mode)));

    const peak = rows.find((r) => r.target === 'ballast' && r.mode === 'keep-alive');
    if (peak && o.targets.includes('direct')) {
      log('proxy: half load');
      const half = peak.rps / 2;
      const peers: TargetName[] = ['direct', 'ballast', ...(o.targets.includes('nginx') ? (['nginx'] as const) : [])];
      // (a) Fewer connections: the connection count at which Ballast's closed-loop rate is nearest half its peak.
      let best = { connections: 1, rps: 0 };
      {
        const running = await startTarget('ballast', [backendPort], pl.proxy);
        try {
          for (const c of [1, 2, 3, 4, 6, 8, 12, 16]) {
            const r = await wrk({ url: running.url, connections: c, durationS: 2, cpu });
            if (Math.abs(r.rps - half) < Math.abs(best.rps - half)) best = { connections: c, rps: r.rps };
            if (r.rps > half) break;
          }
        } finally {
          await running.stop();
        }
      }
      // (b) Paced: many connections, each waiting a 10 ms think time between a response and its next
      // request (wrk Lua delay()), so every target gets about the same offered rate,
      // connections / (think + latency), nearly independent of the target's own latency.
      const thinkMs = 10;
      const pacedConnections = Math.max(1, Math.round((half * (thinkMs + 0.3)) / 1000));
      const fewerSamples: Row[] = [];
      const pacedSamples: Row[] = [];
      for (let round = 1; round <= o.rounds; round++) {
        for (const name of peers) {
          const running = await startTarget(name, [backendPort], pl.proxy);
          try {
            fewerSamples.push(await measure(name, running, backendPids, 'keep-alive', { connections: best.connections, durationS: o.durationS, warmupS: o.warmupS, cpu }));
            pacedSamples.push(await measure(name, running, backendPids, 'keep-alive', { connections: pacedConnections, thinkMs, durationS: o.durationS, warmupS: o.warmupS, cpu }));
          } finally {
            await running.stop();
          }
        }
      }
      const fewer = peers.map((t) => medianRow(fewerSamples.filter((r) => r.target === t)));
      const paced = peers.map((t) => medianRow(pacedSamples.filter((r) => r.target === t)));
      halfLoad = { peakRps: peak.rps, fewer: { connections: best.connections, rows: fewer }, paced: { connections: pacedConnections, thinkMs, rows: paced } };
    }

    if (o.profile && o.targets.includes('ballast')) {
      log('proxy: cpu profile of Ballast under keep-alive load');
      profile = await profileBallast([backendPort], pl, o);
    }
  } finally {
    await stopBackend();
  }

  const backend = o.backend === 'nginx' ? 'NGINX `return 200 "Handled by server on port N\\n"`, 1 worker' : 'minimal node:http server, fixed body';
  const md: string[] = [];
  md.push(`Backend: ${backend}. Load: \`wrk -t1 -c${o.connections} -d${o.durationS}s --latency\` after a ${o.warmupS} s warm-up per target and mode${o.rounds > 1 ? `; ${o.rounds} interleaved rounds, medians shown` : ''}. CPU placement: ${pl.description}. "CPU busy" is each CPU's busy share during the run (CPU0/CPU1…).`);
  const idleCore = pl.proxy === undefined ? undefined : rows.find((r) => r.target === 'direct' && r.mode === 'keep-alive')?.busy[pl.proxy];
  if (idleCore !== undefined && idleCore > 0.15) {
    md.push(
      `\n> **Noisy run:** CPU ${pl.proxy} was ${Math.round(idleCore * 100)}% busy during the direct run, when none of the benchmark's processes ran on it: other work shared the machine. Compare ratios and CPU per request rather than absolute figures, or re-run on a quiet machine.`,
    );
  }
  for (const mode of ['keep-alive', 'close'] as const) {
    md.push(`\n**${mode === 'keep-alive' ? 'Keep-alive' : 'New connection per request (`-H "Connection: close"`)'}**\n`);
    md.push(rowsTable(rows.filter((r) => r.mode === mode)));
  }
  if (halfLoad) {
    md.push(`\n**Latency at half of Ballast's keep-alive peak (${fmtInt(halfLoad.peakRps / 2)} of ${fmtInt(halfLoad.peakRps)} req/s)**${o.rounds > 1 ? ` (${o.rounds} interleaved rounds, medians)` : ''}; NGINX under the same load is the control for what the machine itself adds.\n`);
    md.push(`(a) Fewer connections: ${halfLoad.fewer.connections} connection(s), the count at which Ballast's closed-loop rate came nearest half its peak; the other targets get the same connection count (so direct runs faster).\n`);
    md.push(halfTable(halfLoad.fewer.rows));
    md.push(`\n(b) Paced: ${halfLoad.paced.connections} connections, each waiting ${fmtMs(halfLoad.paced.thinkMs, 0)} ms (wrk Lua \`delay()\`) between a response and its next request, so every target gets about the same request rate (wrk2-style open-loop pacing is not available).\n`);
    md.push(halfTable(halfLoad.paced.rows));
  }
  if (profile) {
    md.push(`\n**Where Ballast's CPU goes** (\`node --cpu-prof\`, keep-alive load, ${fmtInt(profile.totalMs)} ms profiled; share of non-idle samples)\n`);
    md.push(table(['area', 'self %'], profile.byArea.map((f) => [f.frame, f.selfPct.toFixed(1)])));
    md.push('');
    md.push(table(['top frames (self)', 'self %'], profile.top.map((f) => [`\`${f.frame}\``, f.selfPct.toFixed(1)])));
    md.push('');
    md.push(table(['Ballast functions (inclusive)', 'incl. %'], profile.ballastInclusive.map((f) => [`\`${f.frame}\``, f.selfPct.toFixed(1)])));
  }
  const { log: _log, ...options } = o;
  void _log;
  return { placement: pl, backend, options, rows, halfLoad, idleRssBytes, profile, markdown: md.join('\n') };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '4' },
      backend: { type: 'string', default: 'nginx' },
      targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
      rounds: { type: 'string', default: '1' },
      'no-profile': { type: 'boolean', default: false },
    },
  });
  runProxyBench({
    durationS: Number(values.duration),
    warmupS: 1,
    connections: 32,
    rounds: Number(values.rounds),
    backend: values.backend === 'node' ? 'node' : 'nginx',
    targets: values.targets!.split(',') as TargetName[],
    profile: !values['no-profile'],
    log: (l) => console.error(l),
  })
    .then((r) => console.log(r.markdown))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => void stopAll());
}
