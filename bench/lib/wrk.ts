// wrk as the one load generator: run it (pinned), parse requests/s, latency percentiles and errors.
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from './proc.js';

export const WRK = process.env.WRK_BIN ?? '/usr/bin/wrk';

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  threads?: number;
  headers?: string[];
  /** Per-connection think time in ms between a response and the next request (a Lua `delay()`), to pace the rate. */
  thinkMs?: number;
  cpu?: number;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    case 'm':
      return v * 60_000;
    default:
      throw new Error(`wrk: unknown time unit "${unit}"`);
  }
}

export function parseWrk(raw: string): WrkResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(raw);
    if (!m) throw new Error(`wrk output has no ${p}% latency line:\n${raw}`);
    return toMs(m[1], m[2]);
  };
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(raw);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  if (!done || !rps) throw new Error(`cannot parse wrk output:\n${raw}`);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(raw);
  return {
    requests: Number(done[1]),
    seconds: toMs(done[2], done[3]) / 1000,
    rps: Number(rps[1]),
    p50Ms: pct('50'),
    p75Ms: pct('75'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: errs ? errs.slice(1).reduce((s, v) => s + Number(v), 0) : 0,
    raw,
  };
}

async function thinkScript(ms: number): Promise<string> {
  // wrk's delay() takes whole milliseconds: draw floor/ceil so the mean is `ms`, which also
  // spreads the connections out instead of letting them move in lock-step.
  const file = path.join(tmpdir(), `ballast-bench-think-${process.pid}-${ms}.lua`);
  const lo = Math.floor(ms);
  const frac = ms - lo;
  await writeFile(file, `function delay()\n  if math.random() < ${frac} then return ${lo + 1} end\n  return ${lo}\nend\n`);
  return file;
}

export async function wrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads ?? 1}`, `-c${o.connections}`, `-d${o.durationS}s`, '--latency', '--timeout', '5s'];
  for (const h of o.headers ?? []) args.push('-H', h);
  const script = o.thinkMs === undefined ? undefined : await thinkScript(o.thinkMs);
  if (script) args.push('-s', script);
  args.push(o.url);
  const r = await run(WRK, args, { cpu: o.cpu, timeoutMs: (o.durationS + 30) * 1000 }).finally(() => (script ? rm(script, { force: true }) : undefined));
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}${r.stdout}`);
  return parseWrk(r.stdout);
}
