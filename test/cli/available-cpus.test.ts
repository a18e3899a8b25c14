// `--workers auto`: the least of the node's CPUs, the affinity and the cgroup quota, from the files Linux shows.
import { describe, expect, it } from '@jest/globals';
import { availableCpus } from '../../src/cli/available-cpus.js';

const files = (f: Record<string, string>) => (file: string) => f[file];
const status = (list: string) => `Name:\tnode\nCpus_allowed:\tff\nCpus_allowed_list:\t${list}\nMems_allowed:\t1\n`;

describe('availableCpus', () => {
  it.each([
    ['no limits', {}, 8, 8],
    ['affinity 0-1,4', { '/proc/self/status': status('0-1,4') }, 8, 3],
    ['cgroup v2 quota of 2.5 CPUs rounds up', { '/sys/fs/cgroup/cpu.max': '250000 100000\n' }, 8, 3],
    ['cgroup v2 without a quota', { '/sys/fs/cgroup/cpu.max': 'max 100000\n' }, 8, 8],
    ['cgroup v1 quota of 2 CPUs', { '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '200000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }, 8, 2],
    ['cgroup v1 without a quota (-1)', { '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }, 8, 8],
    ['the least of affinity and quota', { '/proc/self/status': status('0-3'), '/sys/fs/cgroup/cpu.max': '600000 100000' }, 16, 4],
    ['a tiny quota still runs one', { '/sys/fs/cgroup/cpu.max': '10000 100000' }, 8, 1],
  ])('%s', (_name, f, parallelism, want) => {
    expect(availableCpus(files(f), parallelism)).toBe(want);
  });
});
