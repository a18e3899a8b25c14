// What one measurement cost, checked against the machine: the CPU time of each party (from
// /proc/PID/stat), set against the busy time of the core it is pinned to (the per-CPU lines of
// /proc/stat). A party's CPU cannot exceed one core per pinned core, nor its core's busy time: a
// figure that does is an accounting error and is refused. Busy time on a pinned core that none of
// the parties account for is other work on the machine: the run is then not clean.
import { cpuTimes, ksoftirqdPids, cpuSecondsOf, type CpuTimes } from './proc.js';

export interface Party {
  name: string;
  /** The core it is pinned to (undefined: not pinned, not attributed to a core). */
  cpu: number | undefined;
  /** Cumulative CPU seconds. */
  seconds(): number;
}

export interface CoreUse {
  cpu: number;
  /** Shares of one core over the window (0..1). */
  busy: number;
  ours: number;
  /** busy − ours: work of processes that are not part of the measurement. */
  others: number;
  steal: number;
}

export interface CpuWindow {
  wallS: number;
  /** CPU seconds of each party over the window. */
  seconds: Record<string, number>;
  /** The cores the parties are pinned to. */
  cores: CoreUse[];
}

/** Other work above this share of a pinned core (or steal above STEAL_LIMIT) makes a measurement unclean. */
export const OTHERS_LIMIT = 0.05;
export const STEAL_LIMIT = 0.02;

/** Starts a window over `parties`; ksoftirqd of each pinned core is added as one of ours (loopback TCP deferred to it). */
export function cpuWindow(parties: Party[]): { stop(): CpuWindow } {
  const softirq = ksoftirqdPids();
  const cores = [...new Set(parties.map((p) => p.cpu).filter((c): c is number => c !== undefined))].sort();
  const all: Party[] = [...parties, ...cores.filter((c) => softirq.has(c)).map((c) => ({ name: `ksoftirqd/${c}`, cpu: c, seconds: () => cpuSecondsOf([softirq.get(c)!]) }))];
  const s0 = all.map((p) => p.seconds());
  const c0 = cpuTimes();
  const t0 = performance.now();
  return {
    stop() {
      const c1 = cpuTimes();
      const s1 = all.map((p) => p.seconds());
      const wallS = (performance.now() - t0) / 1000;
      const seconds: Record<string, number> = {};
      all.forEach((p, i) => (seconds[p.name] = s1[i] - s0[i]));
      const d = (cpu: number, f: keyof CpuTimes) => (c1[cpu][f] - c0[cpu][f]) / wallS;
      return {
        wallS,
        seconds,
        cores: cores.map((cpu) => {
          const ours = all.reduce((s, p, i) => s + (p.cpu === cpu ? s1[i] - s0[i] : 0), 0) / wallS;
          const busy = d(cpu, 'busy');
          // Tick rounding can put either a little over the other or over one core.
          return { cpu, busy, ours, others: Math.min(1, Math.max(0, busy - ours)), steal: d(cpu, 'steal') };
        }),
      };
    },
  };
}

/**
 * Why `party`'s CPU figure cannot be right, if it cannot: more than one core, or more than its core
 * was busy. Tolerance: /proc counts in 10 ms ticks, read twice per process and per core.
 */
export function impossible(w: CpuWindow, party: string, cpu: number | undefined): string | undefined {
  const s = w.seconds[party];
  if (s === undefined) return undefined;
  const slack = 0.01 + (3 * 0.01) / w.wallS;
  const cores = s / w.wallS;
  if (cores > 1 + slack) return `${party} used ${cores.toFixed(2)} CPU-s/s pinned to one core`;
  const core = w.cores.find((c) => c.cpu === cpu);
  if (core && cores > core.busy + slack) return `${party} used ${cores.toFixed(2)} CPU-s/s but CPU ${cpu} was busy only ${core.busy.toFixed(2)}`;
  return undefined;
}

/** Whether other work took a pinned core during the window (the figures are then not clean). */
export function disturbed(w: CpuWindow): string | undefined {
  const bad = w.cores.filter((c) => c.others > OTHERS_LIMIT || c.steal > STEAL_LIMIT);
  if (bad.length === 0) return undefined;
  return bad.map((c) => `CPU ${c.cpu}: others ${Math.round(c.others * 100)}%${c.steal > STEAL_LIMIT ? `, steal ${Math.round(c.steal * 100)}%` : ''}`).join('; ');
}
