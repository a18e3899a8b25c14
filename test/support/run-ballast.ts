// The CLI as users run it, from source: a real process, its exit code, its output.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { waitFor } from './wait-for.js';

const MAIN = ['--import', 'tsx', 'src/cli/main.ts'];

export interface RunOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Run as `nobody`: root reads any file, so permission errors need another uid. */
  unprivileged?: boolean;
}

/** Runs `ballast ARGS…` to its end (at most `timeoutMs`, then SIGKILL and code -1). */
export function runBallast(args: string[], { timeoutMs = 30_000, env = {}, unprivileged = false }: RunOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = [process.execPath, ...MAIN, ...args];
  const [cmd, ...argv] = unprivileged && process.getuid?.() === 0 ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', ...node] : node;
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const e = err as { code?: number | string; killed?: boolean } | null;
      resolve({ code: !e ? 0 : e.killed ? -1 : typeof e.code === 'number' ? e.code : 1, stdout, stderr });
    });
  });
}

export interface BallastProcess {
  child: ChildProcess;
  /** The JSON log lines so far. */
  lines(): Record<string, unknown>[];
  /** Everything on stderr so far. */
  stderr(): string;
  /** Waits for a log line that `match` accepts, and returns it. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts a long-running `ballast ARGS…` (dev mode, say). `user` runs it as that user through setpriv
 * (tests run as root, and root reads a chmod 000 file).
 */
export function spawnBallast(args: string[], { user }: { user?: string } = {}): BallastProcess {
  const argv = [process.execPath, ...MAIN, ...args];
  const child = user
    ? spawn('setpriv', [`--reuid=${user}`, '--regid=nogroup', '--clear-groups', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    child,
    lines,
    stderr: () => err,
    waitForLog: (match, timeoutMs = 20_000) =>
      waitFor(() => {
        if (child.exitCode !== null) throw new Error(`ballast exited ${child.exitCode}: ${err}`);
        return lines().find(match);
      }, timeoutMs),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
