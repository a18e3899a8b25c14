import path from 'node:path';
import { startBallast } from '../app.js';
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

/** `ballast dev`: the file source, the proxy, and optionally NGINX upstream files. */
export async function runDev({ manifests, admin, adminAllowedHosts, nginxOut, shutdownDelaySeconds = 0, workers, logger }: DevOptions): Promise<number> {
  const app = await startBallast({
    logger,
    admin,
    adminAllowedHosts,
    sources: [new FileSource({ dir: path.resolve(manifests), logger })],
    actuators: nginxOut ? [{ actuator: new NginxFileWriter({ dir: path.resolve(nginxOut), logger }) }] : [],
    shutdown: { acceptDelayMs: shutdownDelaySeconds * 1000, graceMs: 10_000 },
    workers,
  });
  return runUntilSignal(app.stop, logger);
}
