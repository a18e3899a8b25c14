import path from 'node:path';
import type { Logger } from '../log.js';
import { NginxReloader, type NginxReloaderOptions } from '../nginx/reloader.js';
import { runUntilSignal } from './run-until-signal.js';

/** `ballast nginx-reloader`: beside NGINX, validate and reload on every change of the mounted upstreams. */
export async function runNginxReloader(opts: Omit<NginxReloaderOptions, 'logger'> & { logger: Logger }): Promise<number> {
  const reloader = new NginxReloader({ ...opts, watchDir: path.resolve(opts.watchDir) });
  await reloader.start();
  return runUntilSignal(() => reloader.stop(), opts.logger);
}
