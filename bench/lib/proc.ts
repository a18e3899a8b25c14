// Child processes for benchmarks: every one is tracked and killed (its whole process group, which
// the benchmark created) on normal exit, on failure and on Ctrl-C. CPU placement with taskset.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** A process and its direct children (nginx master + workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const tid of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)) if (tid) out.push(Number(tid));
  } catch {
    // no children file
  }
  return out;
}

export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((s, p) => s + cpuSeconds(p), 0);
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

/** Busy jiffies per CPU from /proc/stat, to tell which core was the bottleneck. */
export function cpuBusy(): number[] {
  const out: number[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = total - v[3] - v[4];
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
