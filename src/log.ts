// Structured logs (pino). On a terminal they are short readable lines (pino-pretty); piped or
// collected they stay one JSON line per event. The CLI's `--log-level` / `--log-format` (or
// BALLAST_LOG_LEVEL / BALLAST_LOG_FORMAT) choose.
import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

type Destination = NodeJS.WritableStream & { isTTY?: boolean; hasColors?: () => boolean };

/** Pretty for a person at a terminal, JSON for anything that reads the stream. */
function defaultLogFormat(destination: Destination): LogFormat {
  return destination.isTTY ? 'pretty' : 'json';
}

export function createLogger(level = 'info', destination: Destination = process.stdout, format = defaultLogFormat(destination)): Logger {
  const options = { level, base: { name: 'ballast' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'json') return pino(options, destination);
  // Synchronous, in this thread: lines keep their order with anything else written to the stream.
  const prettify = prettyFactory({
    // Colours only where the terminal has them (hasColors honours NO_COLOR, FORCE_COLOR and TERM).
    colorize: destination.hasColors?.() ?? false,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
  });
  return pino(options, { write: (line: string) => destination.write(prettify(line)) });
}

/** A logger that drops everything, for tests that do not assert on logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
