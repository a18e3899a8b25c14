// Benchmark 1: proxy throughput, latency and CPU per request, Ballast against its peers and the
// Node floors, one run, one backend, one load generator (wrk -t1 -c32 --latency), keep-alive and
// Connection: close; every CPU figure checked against its pinned core's busy time. Then latency at
// fixed rates (25/50/75% of Ballast's peak) from the constant-rate generator.
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
import { constantRate, type ConstantRateResult } from './lib/constant-rate.js';
import { cpuWindow, disturbed, impossible, OTHERS_LIMIT, STEAL_LIMIT, type CoreUse, type CpuWindow, type Party } from './lib/cpu-window.js';
import { cpuSecondsOf, pinSelf, placement, reapedChildrenCpuSeconds, start, stopAll, type Placement } from './lib/proc.js';
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

export const DEFAULT_TARGETS: TargetName[] = ['direct', 'nginx', 'haproxy', 'ballast', 'node-bare', 'undici-pool', 'net-pipe', 'http-proxy-ka', 'http-proxy', 'seed-lb'];

/** Measured at fixed rates, side by side (direct: what the generator, backend and machine add alone). */
export const STEADY_TARGETS: TargetName[] = ['direct', 'ballast', 'nginx'];
export const STEADY_PERCENTS = [25, 50, 75];

export type Mode = 'keep-alive' | 'close';

export interface Row {
  target: TargetName;
  mode: Mode;
  connections: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  /** Proxy process CPU time per request (µs); undefined for direct, and when refused. */
  cpuUsPerReq?: number;
  backendCpuUsPerReq: number;
  /** The proxy's CPU-seconds per second (from /proc/PID/stat of its processes). */
  proxyCores: number;
  /** Each pinned core during the run (from /proc/stat): busy, ours, others, steal. */
  cores: CoreUse[];
  /** Why the proxy's CPU figure cannot be right (above one core, or above its core's busy time). */
  refused?: string;
  /** Other work on a pinned core during the run, when above the limits. */
  disturbed?: string;
  /** With several rounds: each round's figures (the row holds their medians). */
  rounds?: { rps: number; p50Ms: number; p99Ms: number; cpuUsPerReq?: number }[];
}

/** One target at one fixed rate (constant-rate generator). */
export interface SteadyRow {
  target: TargetName;
  percent: number;
  rate: number;
  result: ConstantRateResult;
  cpuUsPerReq?: number;
  cores: CoreUse[];
  refused?: string;
  disturbed?: string;
}

export interface Steady {
  /** Ballast's keep-alive peak (req/s) the percentages refer to. */
  peakRps: number;
  connections: number;
  durationS: number;
  rows: SteadyRow[];
}

export interface ProxyBenchResult {
  placement: Placement;
  backend: string;
  options: Omit<ProxyBenchOptions, 'log'>;
  rows: Row[];
  steady?: Steady;
  /** Every measurement window was free of other work on the pinned cores. */
  clean: boolean;
  idleRssBytes?: number;
  profile?: ProfileSummary;
  markdown: string;
}

const HEADERS: Record<Mode, string[]> = { 'keep-alive': [], close: ['Connection: close'] };

/** The parties of one measurement: the proxy, the backend, the load generator and this process, each on its core. */
function parties(proxyPids: number[], backendPids: number[], pl: Placement): Party[] {
  return [
    { name: 'proxy', cpu: pl.proxy, seconds: () => cpuSecondsOf(proxyPids) },
    { name: 'backend', cpu: pl.backend, seconds: () => cpuSecondsOf(backendPids) },
    // wrk and the constant-rate generator are children that exit at the end of their run.
    { name: 'load generator', cpu: pl.loadgen, seconds: reapedChildrenCpuSeconds },
    {
      name: 'harness',
      cpu: pl.loadgen,
      seconds: () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      },
    },
  ];
}

function judge(w: CpuWindow, pl: Placement, requests: number, hasProxy: boolean) {
  const refused = hasProxy && pl.proxy !== undefined ? impossible(w, 'proxy', pl.proxy) : undefined;
  return {
    cpuUsPerReq: !hasProxy || refused ? undefined : (w.seconds.proxy * 1e6) / requests,
    backendCpuUsPerReq: (w.seconds.backend * 1e6) / requests,
    proxyCores: w.seconds.proxy / w.wallS,
    cores: w.cores,
    refused,
    disturbed: disturbed(w),
  };
}

async function measure(target: TargetName, running: Running, backendPids: () => number[], mode: Mode, o: { connections: number; durationS: number; warmupS: number; pl: Placement }): Promise<Row> {
  const probe = await get(running.url, { fresh: true });
  if (probe.status !== 200 || !probe.body.includes('Handled by server')) throw new Error(`${target}: ${running.url} answered ${probe.status} ${probe.body.slice(0, 200)}`);
  const base = { url: running.url, connections: o.connections, headers: HEADERS[mode], cpu: o.pl.loadgen };
  if (o.warmupS > 0) await wrk({ ...base, durationS: o.warmupS });
  const window = cpuWindow(parties(running.pids(), backendPids(), o.pl));
  const r: WrkResult = await wrk({ ...base, durationS: o.durationS });
  const w = window.stop();
  return {
    target,
    mode,
    connections: o.connections,
    rps: r.rps,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    requests: r.requests,
    errors: r.non2xx + r.socketErrors,
    ...judge(w, o.pl, r.requests, target !== 'direct'),
  };
}

async function measureSteady(target: TargetName, running: Running, backendPids: () => number[], percent: number, rate: number, o: { connections: number; durationS: number; warmupS: number; pl: Placement }): Promise<SteadyRow> {
  const window = cpuWindow(parties(running.pids(), backendPids(), o.pl));
  const result = await constantRate({ url: running.url, rate, durationS: o.durationS, warmupS: o.warmupS, connections: o.connections, cpu: o.pl.loadgen });
  const w = window.stop();
  // The window spans the warm-up too: CPU per request over every request sent in it.
  const j = judge(w, o.pl, Math.round((o.durationS + o.warmupS) * rate), target !== 'direct');
  return { target, percent, rate, result, cpuUsPerReq: j.cpuUsPerReq, cores: j.cores, refused: j.refused, disturbed: j.disturbed };
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
  const refused = rs.find((r) => r.refused)?.refused;
  const dist = rs.filter((r) => r.disturbed);
  return {
    ...rs[0],
    rps: m((r) => r.rps)!,
    p50Ms: m((r) => r.p50Ms)!,
    p99Ms: m((r) => r.p99Ms)!,
    requests: m((r) => r.requests)!,
    errors: rs.reduce((s, r) => s + r.errors, 0),
    // One impossible round means the accounting is wrong: the row's CPU figure is refused.
    cpuUsPerReq: refused ? undefined : m((r) => r.cpuUsPerReq),
    backendCpuUsPerReq: m((r) => r.backendCpuUsPerReq)!,
    proxyCores: m((r) => r.proxyCores)!,
    cores: rs[0].cores.map((c, i) => ({
      cpu: c.cpu,
      busy: median(rs.map((r) => r.cores[i].busy)),
      ours: median(rs.map((r) => r.cores[i].ours)),
      others: median(rs.map((r) => r.cores[i].others)),
      steal: median(rs.map((r) => r.cores[i].steal)),
    })),
    refused,
    disturbed: dist.length ? `${dist.length} of ${rs.length} rounds (${dist[0].disturbed})` : undefined,
    rounds: rs.map((r) => ({ rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuUsPerReq: r.cpuUsPerReq })),
  };
}

function medianSteady(rs: SteadyRow[]): SteadyRow {
  if (rs.length === 1) return rs[0];
  const m = (f: (r: ConstantRateResult) => number) => median(rs.map((r) => f(r.result)));
  const refused = rs.find((r) => r.refused)?.refused;
  const dist = rs.filter((r) => r.disturbed);
  const cpu = rs.map((r) => r.cpuUsPerReq).filter((x): x is number => x !== undefined);
  return {
    ...rs[0],
    result: {
      ...rs[0].result,
      scheduled: m((r) => r.scheduled),
      completed: m((r) => r.completed),
      errors: rs.reduce((s, r) => s + r.result.errors, 0),
      unfinished: rs.reduce((s, r) => s + r.result.unfinished, 0),
      achievedRps: m((r) => r.achievedRps),
      p50Ms: m((r) => r.p50Ms),
      p90Ms: m((r) => r.p90Ms),
      p99Ms: m((r) => r.p99Ms),
      p999Ms: m((r) => r.p999Ms),
      maxMs: Math.max(...rs.map((r) => r.result.maxMs)),
      sendLagP50Ms: m((r) => r.sendLagP50Ms),
      sendLagP99Ms: m((r) => r.sendLagP99Ms),
    },
    cpuUsPerReq: refused || cpu.length === 0 ? undefined : median(cpu),
    refused,
    disturbed: dist.length ? `${dist.length} of ${rs.length} rounds (${dist[0].disturbed})` : undefined,
  };
}

const pctOf = (x: number) => `${Math.round(x * 100)}%`;

function rowsTable(rows: Row[], pl: Placement): string {
  const by = (t: TargetName) => rows.find((r) => r.target === t);
  const ng = by('nginx');
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
  const core = (r: Row, cpu: number | undefined) => r.cores.find((c) => c.cpu === cpu);
  return table(
    ['target', 'req/s', '× NGINX', 'p50 ms', 'p99 ms', 'proxy CPU µs/req', 'CPU × NGINX', 'proxy CPU-s/s', `CPU ${pl.proxy ?? '–'} busy`, 'others on pinned CPUs', 'backend CPU µs/req', 'errors'],
    rows.map((r) => [
      TARGET_LABEL[r.target] + (r.disturbed ? ' ⚠' : ''),
      fmtInt(r.rps),
      fmtRatio(ratio(r.rps, ng?.rps)),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      r.target === 'direct' ? '–' : r.refused ? '**refused**' : fmtMs(r.cpuUsPerReq, 1),
      fmtRatio(ratio(r.cpuUsPerReq, ng?.cpuUsPerReq)),
      r.target === 'direct' ? '–' : r.proxyCores.toFixed(2),
      core(r, pl.proxy) ? core(r, pl.proxy)!.busy.toFixed(2) : '–',
      r.cores.map((c) => `${pctOf(c.others)}`).join(' / '),
      fmtMs(r.backendCpuUsPerReq, 1),
      String(r.errors),
    ]),
  );
}

/** Ballast set against each reference in the same run: how far from NGINX, HAProxy and what Node itself can do. */
function closenessTable(rows: Row[]): string | undefined {
  const b = rows.find((r) => r.target === 'ballast');
  if (!b) return undefined;
  const refs = rows.filter((r) => r.target !== 'ballast' && r.target !== 'direct' && ['nginx', 'haproxy', 'node-bare', 'undici-pool', 'net-pipe'].includes(r.target));
  if (refs.length === 0) return undefined;
  const ratio = (a: number | undefined, c: number | undefined) => (a === undefined || c === undefined || c === 0 ? undefined : a / c);
  return table(
    ['Ballast against', 'its req/s', 'Ballast req/s ÷ its', 'its CPU µs/req', 'Ballast CPU/req ÷ its'],
    refs.map((r) => [TARGET_LABEL[r.target], fmtInt(r.rps), fmtRatio(ratio(b.rps, r.rps)), fmtMs(r.cpuUsPerReq, 1), fmtRatio(ratio(b.cpuUsPerReq, r.cpuUsPerReq))]),
  );
}

function steadyTable(s: Steady): string {
  const direct = (p: number) => s.rows.find((r) => r.target === 'direct' && r.percent === p);
  const ms = (v: number) => (Number.isFinite(v) ? fmtMs(v, 3) : '∞');
  return table(
    ['rate', 'target', 'achieved req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'p99 added over direct, ms', 'generator send lag p99 ms', 'proxy CPU µs/req', 'errors + unanswered'],
    s.rows.map((r) => {
      const d = direct(r.percent);
      return [
        `${r.percent}% (${fmtInt(r.rate)} req/s)`,
        TARGET_LABEL[r.target] + (r.disturbed ? ' ⚠' : ''),
        fmtInt(r.result.achievedRps),
        ms(r.result.p50Ms),
        ms(r.result.p99Ms),
        ms(r.result.p999Ms),
        ms(r.result.maxMs),
        r.target === 'direct' || !d ? '–' : ms(r.result.p99Ms - d.result.p99Ms),
        ms(r.result.sendLagP99Ms),
        r.target === 'direct' ? '–' : r.refused ? '**refused**' : fmtMs(r.cpuUsPerReq, 1),
        String(r.result.errors + r.result.unfinished),
      ];
    }),
    2,
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
  // This process runs beside wrk, never on the proxy's core; children inherit it until pinned.
  pinSelf(pl.loadgen);
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
  let steady: Steady | undefined;
  let profile: ProfileSummary | undefined;
  const m = { connections: o.connections, durationS: o.durationS, warmupS: o.warmupS, pl };
  // Every measurement (each round); the tables show medians over rounds.
  const samples: Row[] = [];
  const steadySamples: SteadyRow[] = [];
  try {
    // Rounds interleave the targets (a slow minute on a shared machine hits every target alike);
    // each (target, mode) reports the median of its rounds.
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
            const row = await measure(name, running, backendPids, mode, m);
            log(
              `  ${mode}: ${fmtInt(row.rps)} req/s p50 ${fmtMs(row.p50Ms)} ms p99 ${fmtMs(row.p99Ms)} ms cpu ${row.refused ? `REFUSED (${row.refused})` : `${fmtMs(row.cpuUsPerReq, 1)} µs/req`} (${row.proxyCores.toFixed(2)} CPU-s/s) errors ${row.errors}${row.disturbed ? ` (disturbed: ${row.disturbed})` : ''}`,
            );
            samples.push(row);
          }
        } finally {
          await running.stop();
        }
      }
    }
    for (const name of o.targets) for (const mode of ['keep-alive', 'close'] as const) rows.push(medianRow(samples.filter((r) => r.target === name && r.mode === mode)));

    const peak = rows.find((r) => r.target === 'ballast' && r.mode === 'keep-alive');
    if (peak) {
      log('proxy: latency at fixed rates (constant-rate generator)');
      const targets = STEADY_TARGETS.filter((t) => t === 'ballast' || o.targets.includes(t));
      const points = STEADY_PERCENTS.map((percent) => ({ percent, rate: Math.round((peak.rps * percent) / 100) }));
      for (let round = 1; round <= o.rounds; round++) {
        for (const name of targets) {
          const running = await startTarget(name, [backendPort], pl.proxy);
          try {
            // Warm up at full load first, as before the wrk runs: a fresh Node process is slow for its first seconds (JIT).
            await wrk({ url: running.url, connections: o.connections, durationS: Math.max(1, o.warmupS), cpu: pl.loadgen });
            for (const { percent, rate } of points) {
              const row = await measureSteady(name, running, backendPids, percent, rate, m);
              log(`  ${name} at ${percent}% (${fmtInt(rate)} req/s): p50 ${fmtMs(row.result.p50Ms, 3)} p99 ${fmtMs(row.result.p99Ms, 3)} p99.9 ${fmtMs(row.result.p999Ms, 3)} ms, lag p99 ${fmtMs(row.result.sendLagP99Ms, 3)} ms${row.disturbed ? ` (disturbed: ${row.disturbed})` : ''}`);
              steadySamples.push(row);
            }
          } finally {
            await running.stop();
          }
        }
      }
      steady = {
        peakRps: peak.rps,
        connections: o.connections,
        durationS: o.durationS,
        rows: points.flatMap(({ percent }) => targets.map((t) => medianSteady(steadySamples.filter((r) => r.target === t && r.percent === percent)))),
      };
    }

    if (o.profile && o.targets.includes('ballast')) {
      log('proxy: cpu profile of Ballast under keep-alive load');
      profile = await profileBallast([backendPort], pl, o);
    }
  } finally {
    await stopBackend();
    pinSelf(undefined);
  }

  const all = [...samples, ...steadySamples];
  const clean = all.every((r) => !r.disturbed);
  const worst = (f: (c: CoreUse) => number) => Math.max(0, ...[...samples, ...steadySamples].flatMap((r) => r.cores).map(f));
  const spread = `largest share of a pinned core taken by other work ${pctOf(worst((c) => c.others))}, largest steal ${pctOf(worst((c) => c.steal))}`;
  const refusals = all.filter((r) => r.refused);
  const backend = o.backend === 'nginx' ? 'NGINX `return 200 "Handled by server on port N\\n"`, 1 worker' : 'minimal node:http server, fixed body';
  const md: string[] = [];
  md.push(
    `Backend: ${backend}. Load: \`wrk -t1 -c${o.connections} -d${o.durationS}s --latency\` after a ${o.warmupS} s warm-up per target and mode${o.rounds > 1 ? `; ${o.rounds} interleaved rounds, medians shown` : ''}. CPU placement: ${pl.description}; this benchmark's own process runs beside wrk.`,
  );
  md.push(
    `\nCPU accounting: "proxy CPU" is utime + stime from \`/proc/PID/stat\` of every process of the proxy (nginx: master and worker, each once) over the measured run; "proxy CPU-s/s" is that per second of wall time, and "CPU ${pl.proxy ?? '–'} busy" is the pinned core's busy time from the per-CPU lines of \`/proc/stat\` over the same run. A proxy figure above one core or above its core's busy time is impossible and is **refused** (not shown). "Others on pinned CPUs" is each pinned core's busy time that none of the measured processes (proxy, backend, load generator, this process, ksoftirqd) account for, CPU ${[...new Set([pl.loadgen, pl.backend, pl.proxy].filter((c) => c !== undefined))].join(' / ')}: above ${pctOf(OTHERS_LIMIT)} (or steal above ${pctOf(STEAL_LIMIT)}) other work shared the core, and the row is marked ⚠.`,
  );
  if (refusals.length) md.push(`\n> **Refused CPU figures:** ${refusals.map((r) => `${TARGET_LABEL[r.target]}: ${r.refused}`).join('; ')}.`);
  md.push(
    clean
      ? `\n**Clean run:** no measurement had other work above ${pctOf(OTHERS_LIMIT)} of a pinned core or steal above ${pctOf(STEAL_LIMIT)} (${spread}).`
      : `\n> **Not a clean run:** other work took CPU on the pinned cores during ${all.filter((r) => r.disturbed).length} of ${all.length} measurements (⚠; ${spread}). Throughput and latency are not honest figures on such a run; CPU per request moves less, but compare it with care too.`,
  );
  for (const mode of ['keep-alive', 'close'] as const) {
    md.push(`\n**${mode === 'keep-alive' ? 'Keep-alive' : 'New connection per request (`-H "Connection: close"`)'}**\n`);
    const modeRows = rows.filter((r) => r.mode === mode);
    md.push(rowsTable(modeRows, pl));
    const close = closenessTable(modeRows);
    if (close)
      md.push(
        `\nHow close Ballast is (${mode}), to NGINX and HAProxy and to the Node floors. The floors do less than a proxy must (no balancing, retries, health, limits or metrics): the bare server (no upstream at all) and the byte pipe (no HTTP parsing) bound what any Node proxy can reach; the minimal undici Pool proxy is the plain Node proxy on the same client library (its \`request()\` API and a stream pipe, where Ballast drives undici's \`dispatch\`).\n\n${close}`,
      );
  }
  if (steady) {
    md.push(
      `\n**Latency at fixed rates** (25/50/75% of Ballast's keep-alive peak of ${fmtInt(steady.peakRps)} req/s; ${steady.durationS} s each after a ${o.warmupS} s warm-up${o.rounds > 1 ? `, ${o.rounds} interleaved rounds, medians; max over rounds` : ''}). The constant-rate generator (\`bench/lib/constant-rate.ts\`, on the load generator's core) sends request k at start + k / rate over ${steady.connections} keep-alive connections whatever became of the earlier ones, and measures each latency from that due time, so a stall is charged to every request it held up (open loop, no coordinated omission). A request that finds every connection busy waits, and that wait counts. "Generator send lag" is how late the generator itself sent (already inside the latencies); direct is the control for what the generator, the backend and the machine add alone.\n`,
    );
    md.push(steadyTable(steady));
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
  return { placement: pl, backend, options, rows, steady, clean, idleRssBytes, profile, markdown: md.join('\n') };
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
