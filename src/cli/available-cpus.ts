// `--workers auto`: the CPUs this process may actually run on. os.availableParallelism() counts the
// node's CPUs (and, on Linux, the sched affinity); a container's CPU limit is a cgroup quota that it
// does not see, and a Pod with `limits.cpu: 2` on a 32-core node must not start 32 workers.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a file, or undefined when it is absent (another cgroup version, not Linux). */
export type ReadFile = (file: string) => string | undefined;

const readIfPresent: ReadFile = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** `0-3,8,10-11` → 7. */
function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && hi >= lo) n += hi - lo + 1;
  }
  return n;
}

/** The cgroup CPU quota in CPUs (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`), or undefined when unlimited. */
function cgroupQuota(read: ReadFile): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2) return v2[0] === 'max' ? undefined : Number(v2[0]) / Number(v2[1] ?? 100_000);
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'));
  return quota > 0 && period > 0 ? quota / period : undefined;
}

/** The CPUs the process may use: the least of the node's, the affinity's and the cgroup quota (rounded up), at least 1. */
export function availableCpus(read: ReadFile = readIfPresent, parallelism = availableParallelism()): number {
  const limits = [parallelism];
  const allowed = /^Cpus_allowed_list:\s*(.+)$/m.exec(read('/proc/self/status') ?? '')?.[1];
  if (allowed && countCpuList(allowed) > 0) limits.push(countCpuList(allowed));
  const quota = cgroupQuota(read);
  if (quota !== undefined && Number.isFinite(quota) && quota > 0) limits.push(Math.ceil(quota));
  return Math.max(1, Math.min(...limits));
}
