import path from 'node:path';
import { startBallast } from '../app.js';
import type { Logger } from '../log.js';
import { NginxFileWriter } from '../nginx/file-writer.js';
import { FileSource } from '../sources/file/file-source.js';
import { isFolder } from '../sources/file/manifest-files.js';
import { runUntilSignal } from './run-until-signal.js';

export interface DevOptions {
  manifests: string;
  admin: string;
  nginxOut?: string;
  shutdownDelaySeconds?: number;
  logger: Logger;
}

/** `ballast dev`: the file source, the proxy, and optionally NGINX upstream files. */
export async function runDev({ manifests, admin, nginxOut, shutdownDelaySeconds = 0, logger }: DevOptions): Promise<number> {
  await isFolder(manifests); // a file where the folder should be: NotAFolderError before anything listens
  const app = await startBallast({
    logger,
    admin,
    sources: [new FileSource({ dir: path.resolve(manifests), logger })],
    actuators: nginxOut ? [{ actuator: new NginxFileWriter({ dir: path.resolve(nginxOut), logger }) }] : [],
    shutdown: { acceptDelayMs: shutdownDelaySeconds * 1000, graceMs: 10_000 },
  });
  return runUntilSignal(app.stop, logger);
}
