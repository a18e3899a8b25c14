// `ballast` as a real process (from source, through tsx), its JSON log lines kept for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './wait-for.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export class BallastProcess {
  private out = '';
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', resolve));
  }

  /** `netns`: in a network namespace of its own (only a loopback), where nothing else listens. */
  static start(args: string[], env: Record<string, string> = {}, { netns = false } = {}): BallastProcess {
    const node = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...args];
    const [cmd, ...argv] = netns ? ['unshare', '-rn', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...node] : node;
    const child = spawn(cmd, argv, {
      cwd: ROOT,
      env: { ...process.env, BALLAST_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new BallastProcess(child);
  }

  /** Its JSON log lines so far (a line that is not JSON, such as a crash, as `{ msg }`). */
  logs(): Record<string, unknown>[] {
    return this.out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return { msg: l };
        }
      });
  }

  /** The first log line matching, once it is there. */
  async waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return waitFor(() => {
      if (this.child.exitCode !== null) throw new Error(`ballast exited with ${this.child.exitCode}:\n${this.out.slice(-3000)}`);
      return this.logs().find(match);
    }, timeoutMs);
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
