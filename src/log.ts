// Structured logs (pino): one JSON line per event; `BALLAST_LOG_LEVEL` or `--log-level` sets the level.
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function createLogger(level = process.env.BALLAST_LOG_LEVEL ?? 'info', destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({ level, base: { name: 'ballast' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** A logger that drops everything, for tests that do not assert on logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
