// Child processes for benchmarks: every one is tracked and killed (its whole process group, which
// the benchmark created) on normal exit, on failure and on Ctrl-C. CPU placement with taskset.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface Child {
  proc: ChildProcess;
  pid: number;
  name: string;
  /** The last ~64 KiB of stdout+stderr, for error messages. */
  output(): string;
  /** Lines of stdout/stderr as they arrive. */
  onLine(fn: (line: string) => void): void;
  exited: Promise<number | null>;
  /** SIGTERM the process group, SIGKILL after `graceMs`. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<Child>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) killGroup(c.pid, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) killGroup(c.pid, 'SIGKILL');
      process.exit(130);
    });
  }
}

export const hasTaskset = (() => {
  const r = spawnSync('taskset', ['-V'], { stdio: 'ignore' });
  return r.status === 0;
})();

/** Where each party runs. With 2 cores: load generator and backend share CPU 0, the proxy under test has CPU 1 alone. */
export interface Placement {
  loadgen?: number;
  backend?: number;
  proxy?: number;
  description: string;
}

export function placement(): Placement {
  const cpus = os.availableParallelism();
  if (!hasTaskset) return { description: 'not pinned (taskset from util-linux not found)' };
  if (cpus >= 3) return { loadgen: 0, backend: 1, proxy: 2, description: 'taskset: wrk on CPU 0, backend on CPU 1, proxy under test on CPU 2' };
  if (cpus === 2)
    return { loadgen: 0, backend: 0, proxy: 1, description: 'taskset: wrk and the backend share CPU 0; the proxy under test has CPU 1 to itself (2 cores)' };
  return { description: 'not pinned (1 CPU)' };
}

let niceness = 0;

/**
 * Runs every benchmark process (load generator, backend, proxy under test) at this nice level, so
 * that other work on a shared machine disturbs the figures less (negative values need root).
 */
export function setNice(n: number): void {
  niceness = n;
}

export function niceLevel(): number {
  return niceness;
}

/** `cmd args` run under `taskset -c cpu` when a CPU is given and taskset exists, and under `nice` when set (both exec: same pid). */
export function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  const [c, a]: [string, string[]] = cpu === undefined || !hasTaskset ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
  return niceness === 0 ? [c, a] : ['nice', ['-n', String(niceness), c, ...a]];
}

export function start(name: string, cmd: string, args: string[], opts: SpawnOptions & { cpu?: number } = {}): Child {
  hookExit();
  const [c, a] = pinned(opts.cpu, cmd, args);
  const proc = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  let buf = '';
  const listeners: ((line: string) => void)[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const s = chunk.toString('utf8');
    buf = (buf + s).slice(-65536);
    if (listeners.length === 0) return;
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) for (const l of listeners) l(line);
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child: Child = {
    proc,
    pid: proc.pid,
    name,
    output: () => buf,
    onLine: (fn) => listeners.push(fn),
    exited,
    async stop(graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        live.delete(child);
        killGroup(proc.pid!, 'SIGKILL'); // leftovers in its group (nginx workers)
        return;
      }
      killGroup(proc.pid!, signal);
      const t = setTimeout(() => killGroup(proc.pid!, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      killGroup(proc.pid!, 'SIGKILL');
      live.delete(child);
    },
  };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/** Stops every child still running (used in `finally`). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(3000)));
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime+stime of a process in seconds, from /proc/<pid>/stat (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: fields after the last ')' start at field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * A process and all its descendants (nginx master + workers), each pid once. Children are read from
 * every thread's `children` file: a child belongs to the thread that forked it.
 */
export function processTree(pid: number): number[] {
  const out = new Set<number>();
  const visit = (p: number) => {
    if (out.has(p)) return;
    out.add(p);
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      return; // gone
    }
    for (const tid of tids) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) visit(Number(c));
      } catch {
        // thread gone
      }
    }
  };
  visit(pid);
  return [...out];
}

/**
 * utime+stime in seconds of a set of processes, each counted once. (Summing a tree per listed pid
 * counted nginx's worker twice, once as itself and once as its master's child: 2× its CPU.)
 */
export function cpuSecondsOf(pids: Iterable<number>): number {
  let s = 0;
  for (const p of new Set(pids)) s += cpuSeconds(p);
  return s;
}

/** utime+stime (seconds) of this process's children that have exited and been waited for (wrk, the load generator). */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / CLK_TCK;
}

/** The pid of `ksoftirqd/N` for each CPU N: softirq work (loopback TCP) deferred to it is charged to no benchmark process. */
export function ksoftirqdPids(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^ksoftirqd\/(\d+)$/.exec(readFileSync(`/proc/${d}/comm`, 'utf8').trim());
      if (m) out.set(Number(m[1]), Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Pins this process (every thread) to `cpu`, or back to all CPUs with `undefined`; children inherit it. */
export function pinSelf(cpu: number | undefined): void {
  if (!hasTaskset) return;
  const list = cpu === undefined ? `0-${os.cpus().length - 1}` : String(cpu);
  spawnSync('taskset', ['-a', '-p', '-c', list, String(process.pid)], { stdio: 'ignore' });
}

/** VmRSS of a process in bytes. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** One CPU's time from /proc/stat, in seconds. */
export interface CpuTimes {
  /** user + nice + system + irq + softirq: with tick-based accounting, the ticks charged to the processes that ran. */
  busy: number;
  /** Time the hypervisor gave to another guest. */
  steal: number;
  idle: number;
}

/** Per-CPU lines of /proc/stat (USER_HZ ticks) in seconds. */
export function cpuTimes(): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].split(/\s+/).map((v) => Number(v) / CLK_TCK);
    out[Number(m[1])] = { busy: user + nice + system + irq + softirq, steal, idle: idle + iowait };
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to completion (bounded), returning its output. */
export function run(cmd: string, args: string[], opts: { cpu?: number; timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  hookExit();
  const [c, a] = pinned(opts.cpu, cmd, args);
  return new Promise((resolve, reject) => {
    const proc = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
