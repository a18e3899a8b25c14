import path from 'node:path';
import { ChangeLog } from '../admin/change-log.js';
import { startBallast, type Ballast } from '../app.js';
import type { Logger } from '../log.js';
import { NginxFileWriter } from '../nginx/file-writer.js';
import { FileSource } from '../sources/file/file-source.js';
import { runUntilSignal } from './run-until-signal.js';

export interface DevOptions {
  manifests: string;
  admin: string;
  adminAllowedHosts?: string[];
  nginxOut?: string;
  shutdownDelaySeconds?: number;
  /** Proxy worker processes (`--workers`); 1 serves in this process. */
  workers?: number;
  logger: Logger;
}

/** Dev mode, started: the file source, the proxy, and optionally NGINX upstream files. */
export function startDev({ manifests, admin, adminAllowedHosts, nginxOut, shutdownDelaySeconds = 0, workers, logger }: DevOptions): Promise<Ballast> {
  const changes = new ChangeLog();
  return startBallast({
    logger,
    admin,
    adminAllowedHosts,
    changes,
    sources: [new FileSource({ dir: path.resolve(manifests), logger, onErrors: (file, errors) => changes.fileErrors(file, errors) })],
    actuators: nginxOut ? [{ actuator: new NginxFileWriter({ dir: path.resolve(nginxOut), logger }) }] : [],
    shutdown: { acceptDelayMs: shutdownDelaySeconds * 1000, graceMs: 10_000 },
    workers,
  });
}

/** `ballast dev`: runs until SIGTERM or SIGINT. */
export async function runDev(options: DevOptions): Promise<number> {
  const app = await startDev(options);
  return runUntilSignal(app.stop, options.logger);
}
