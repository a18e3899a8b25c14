import { afterAll, describe, expect, it } from '@jest/globals';
import { disturbed, impossible, type CpuWindow } from '../../bench/lib/cpu-window.js';
import { startNginxBackend, type Nginx } from '../../bench/lib/nginx.js';
import { cpuSecondsOf, processTree } from '../../bench/lib/proc.js';
import { freePort } from '../support/http-get.js';

const window = (proxySeconds: number, busy: number, others = 0, steal = 0): CpuWindow => ({
  wallS: 4,
  seconds: { proxy: proxySeconds },
  cores: [{ cpu: 1, busy, ours: busy - others, others, steal }],
});

describe('impossible', () => {
  it('refuses a proxy figure above one core: the double-counted NGINX of issue 14 (1.95 CPU-s/s)', () => {
    expect(impossible(window(7.8, 1), 'proxy', 1)).toMatch(/1\.95 CPU-s\/s pinned to one core/);
  });
  it('refuses a proxy figure above its pinned core’s busy time', () => {
    expect(impossible(window(2, 0.3), 'proxy', 1)).toMatch(/CPU 1 was busy only 0\.30/);
  });
  it('accepts a figure within one core and within the core’s busy time (tick rounding allowed)', () => {
    expect(impossible(window(4.02, 1), 'proxy', 1)).toBeUndefined();
    expect(impossible(window(1, 0.25), 'proxy', 1)).toBeUndefined();
  });
});

describe('disturbed', () => {
  it('names the cores where other work or steal went over the limits', () => {
    expect(disturbed(window(2, 0.6, 0.04, 0.01))).toBeUndefined();
    expect(disturbed(window(2, 0.9, 0.4))).toBe('CPU 1: others 40%');
    expect(disturbed(window(2, 0.6, 0, 0.1))).toBe('CPU 1: others 0%, steal 10%');
  });
});

describe('nginx accounting', () => {
  let nginx: Nginx | undefined;
  afterAll(() => nginx?.stop());

  it('lists the master and its worker once each, and counts a pid listed twice once', async () => {
    nginx = await startNginxBackend([await freePort()]);
    const pids = nginx.pids();
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(processTree(pids[1])).toEqual([pids[1]]); // the worker has no children
    expect(cpuSecondsOf([...pids, ...pids, pids[1]])).toBe(cpuSecondsOf(pids));
  });
});
