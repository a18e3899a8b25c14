// Every error the CLI reports to a person, listed in this one file (fastify's lib/errors.js): a stable
// code, the exit code, and whether the line points at the help. Each is one line on stderr that names
// the flag or file, what is wrong and what to do. Anything else that reaches main is a bug in Ballast
// and keeps its stack.
//
// Exit codes: 0 done; 1 the command line was fine but running it failed (invalid manifests from
// `validate` or `render`, an address that cannot be listened on); 2 the command line is wrong and
// nothing ran; 141 the reader of stdout or stderr went away (main.ts).

export const CLI_ERRORS = {
  /** An unknown command or flag, a missing or extra argument, a flag or BALLAST_* value that cannot be used. */
  BALLAST_ERR_USAGE: { exitCode: 2, help: true },
  /** An address Ballast must listen on is taken, not on this machine, or privileged. */
  BALLAST_ERR_LISTEN: { exitCode: 1, help: false },
} as const;

export type CliErrorCode = keyof typeof CLI_ERRORS;

export class CliError extends Error {
  constructor(
    readonly code: CliErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The command line is wrong: exit 2, and point at `ballast --help`. */
export class UsageError extends CliError {
  constructor(message: string) {
    super('BALLAST_ERR_USAGE', message);
  }
}

/**
 * A listen error (from `server.listen`) as a CliError for the person who chose the address, `what`
 * naming it (`--admin 127.0.0.1:9901`); undefined for any other error.
 */
export function listenError(what: string, err: unknown, hint: string): CliError | undefined {
  const e = err as NodeJS.ErrnoException;
  const reason =
    e?.code === 'EADDRINUSE' ? 'address already in use (is another ballast running?)'
    : e?.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
    : e?.code === 'EADDRNOTAVAIL' ? 'not an address of this machine'
    : e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN' ? 'host name not found'
    : undefined;
  return reason ? new CliError('BALLAST_ERR_LISTEN', `${what}: ${reason}; ${hint}`) : undefined;
}

/** Writes what a person needs to read about `err` and returns the exit code. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream): number {
  if (err instanceof CliError) {
    const { exitCode, help } = CLI_ERRORS[err.code];
    stderr.write(`ballast: ${err.message}\n${help ? "see 'ballast --help'\n" : ''}`);
    return exitCode;
  }
  stderr.write(`ballast: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
