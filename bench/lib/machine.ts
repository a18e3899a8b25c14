// The machine a run measured, and the tools it needs (with how to install them when missing).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { HAPROXY } from './haproxy.js';
import { NGINX } from './nginx.js';
import { hasTaskset, run } from './proc.js';
import { WRK } from './wrk.js';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  nginx: string;
  haproxy: string;
  wrk: string;
  kernel: string;
  taskset: boolean;
}

/** Throws with install instructions when nginx, haproxy or wrk is missing. */
export function checkTools(): void {
  const missing = [
    [NGINX, 'nginx'],
    [HAPROXY, 'haproxy'],
    [WRK, 'wrk'],
  ].filter(([bin]) => !existsSync(bin));
  if (missing.length === 0) return;
  throw new Error(
    `missing ${missing.map(([bin, pkg]) => `${pkg} (${bin})`).join(' and ')}.\n` +
      `Install them with:  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y nginx haproxy wrk\n` +
      `(or point NGINX_BIN / HAPROXY_BIN / WRK_BIN at other binaries). taskset (util-linux) is used for CPU pinning when present.`,
  );
}

export async function machine(): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const nginxV = await run(NGINX, ['-v']);
  const wrkV = await run(WRK, ['-v']);
  const haproxyV = await run(HAPROXY, ['-v']);
  return {
    nproc: os.availableParallelism(),
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    nginx: (nginxV.stderr + nginxV.stdout).trim().replace(/^nginx version: /, ''),
    haproxy: haproxyV.stdout.split('\n')[0].replace(/ - https?:.*$/, '').trim(),
    wrk: (wrkV.stdout + wrkV.stderr).split('\n')[0].trim(),
    kernel: os.release(),
    taskset: hasTaskset,
  };
}
