// The nginx binary as Ballast drives it: `nginx -t` before every reload, `nginx -s reload`, both on the
// same prefix and main config NGINX runs with, so the check covers exactly what NGINX will load.
import { execFile } from 'node:child_process';

export interface CommandResult {
  /** The exit code; -1 when the command could not be run at all (missing binary, timeout). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args`, without a shell; resolves whatever the exit code. */
export type CommandRunner = (file: string, args: string[]) => Promise<CommandResult>;

const COMMAND_TIMEOUT_MS = 15_000;

export const runCommand: CommandRunner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const code = typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr: stderr || err.message });
    });
  });

export interface NginxBinaryOptions {
  /** nginx's main config (`-c`); relative paths are relative to the prefix, as nginx resolves them. */
  conf: string;
  /** nginx's prefix (`-p`), when not the binary's compiled-in one. */
  prefix?: string;
  /** Default `nginx` (from PATH). */
  bin?: string;
  run?: CommandRunner;
}

export class NginxBinary {
  readonly bin: string;
  private readonly run: CommandRunner;

  constructor(private readonly opts: NginxBinaryOptions) {
    this.bin = opts.bin ?? 'nginx';
    this.run = opts.run ?? runCommand;
  }

  get conf(): string {
    return this.opts.conf;
  }

  /** `nginx -t`: exit 0 when the config (and everything it includes) would load. */
  test(): Promise<CommandResult> {
    return this.run(this.bin, this.args('-t'));
  }

  /** `nginx -s reload`: signals the master named in the pid file; fails when NGINX is not running. */
  reload(): Promise<CommandResult> {
    return this.run(this.bin, this.args('-s', 'reload'));
  }

  private args(...extra: string[]): string[] {
    const prefix = this.opts.prefix ? ['-p', this.opts.prefix] : [];
    return [...prefix, '-c', this.opts.conf, ...extra];
  }
}
