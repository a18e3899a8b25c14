// Ballast under test: the built CLI (`dist/cli/main.js`) as a child process, pinned, with its admin
// address (asked for as 127.0.0.1:0) read from its `admin listening` log line.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { get, metric, waitFor } from './http.js';
import { run, start, type Child } from './proc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

/** `npm run build`. tsc still emits when it reports type errors: those are returned as a warning, not thrown. */
export async function buildBallast(): Promise<string | undefined> {
  const r = await run('npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 300_000 });
  if (!existsSync(CLI)) throw new Error(`npm run build did not produce ${CLI}:\n${r.stdout}\n${r.stderr}`);
  if (r.code !== 0) return `npm run build exited ${r.code} (benchmarking what tsc emitted):\n${(r.stdout + r.stderr).trim()}`;
  return undefined;
}

export interface BallastProcess {
  child: Child;
  pid: number;
  /** `http://host:port` of the admin listener. */
  admin: string;
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  args: string[];
  cpu?: number;
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Starts `node dist/cli/main.js ARGS` and resolves once its admin listener has been logged. */
export async function startBallastCli({ args, cpu, nodeArgs = [], env, timeoutMs = 30_000 }: StartOptions): Promise<BallastProcess> {
  const spawnedAt = performance.now();
  const child = start('ballast', process.execPath, [...nodeArgs, CLI, ...args, '--log-level', 'info'], { cpu, cwd: ROOT, env: { ...process.env, ...env } });
  let admin: string | undefined;
  child.onLine((line) => {
    if (admin) return;
    const m = /"admin":"([^"]+)"/.exec(line);
    if (m) admin = `http://${m[1]}`;
  });
  try {
    await Promise.race([
      waitFor('ballast to log its admin address', () => admin !== undefined, timeoutMs, 2),
      child.exited.then((code) => {
        throw new Error(`ballast exited (${code}) before listening:\n${child.output()}`);
      }),
    ]);
  } catch (err) {
    await child.stop();
    throw err;
  }
  const a = admin!;
  return {
    child,
    pid: child.pid,
    admin: a,
    spawnedAt,
    metrics: async () => (await get(`${a}/metrics`, { timeoutMs: 10_000 })).body,
    stop: () => child.stop(10_000),
  };
}

/** Resolves when /readyz answers 200, with the time since spawn in ms. */
export async function waitReady(b: BallastProcess, timeoutMs = 120_000, everyMs = 5): Promise<number> {
  await Promise.race([
    waitFor('ballast /readyz', async () => (await get(`${b.admin}/readyz`, { timeoutMs: 5000 })).status === 200, timeoutMs, everyMs),
    b.child.exited.then((code) => {
      throw new Error(`ballast exited (${code}):\n${b.child.output()}`);
    }),
  ]);
  return performance.now() - b.spawnedAt;
}

export interface Memory {
  rssBytes?: number;
  heapUsedBytes?: number;
}

export async function memory(b: BallastProcess): Promise<Memory> {
  const text = await b.metrics();
  return { rssBytes: metric(text, 'ballast_process_resident_memory_bytes'), heapUsedBytes: metric(text, 'ballast_nodejs_heap_size_used_bytes') };
}
