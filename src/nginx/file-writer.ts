// Dev-mode NGINX output: each pool with spec.nginx becomes `<dir>/<upstream>.conf`, the same text the
// cluster controller puts in the pool's ConfigMap, so an nginx on the developer's machine (or the
// reloader watching the folder) sees exactly what production would.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectKey } from '../api/keys.js';
import type { Actuator, ActuatorReport } from '../controller/actuator.js';
import type { Logger } from '../log.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import { checkConfigMap, configHash, renderUpstream, upstreamFileName, type UpstreamRenderOptions } from '../plan/nginx-upstream.js';
import { writeAtomically } from './write-atomically.js';

export interface NginxFileWriterOptions extends UpstreamRenderOptions {
  /** The folder nginx includes (`include <dir>/*.conf;` in its `http {}`); created when missing. */
  dir: string;
  logger: Logger;
}

interface Written {
  file: string;
  hash: string;
}

/**
 * Writes each pool's upstream block to `<dir>/<upstream>.conf` (temp file in the same folder, then
 * rename, so nginx and watchers never read a half-written file), only when the content hash changed,
 * and removes the file when the pool is gone or drops spec.nginx. A problem the user must fix (bad
 * address, too large, two pools claiming one upstream name) is reported and the last good file kept.
 */
export class NginxFileWriter implements Actuator {
  readonly name = 'nginx-files';
  private readonly dir: string;
  private readonly logger: Logger;
  private readonly render: UpstreamRenderOptions;
  private readonly written = new Map<ObjectKey, Written>();

  constructor({ dir, logger, ...render }: NginxFileWriterOptions) {
    this.dir = dir;
    this.logger = logger.child({ actuator: this.name });
    this.render = render;
  }

  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    if (!plan?.nginx) {
      await this.remove(key);
      return {};
    }
    const problem = checkConfigMap(plan, undefined, this.render);
    if (problem) return { problem };
    const file = path.join(this.dir, upstreamFileName(plan));
    const owner = this.ownerOf(file);
    if (owner !== undefined && owner !== key) {
      return {
        problem: {
          reason: 'UpstreamConflict',
          message: `upstream ${plan.nginx.upstream} is already written for pool ${owner}; set spec.nginx.upstream to a unique name`,
        },
      };
    }
    const text = renderUpstream(plan, this.render);
    const hash = configHash(text);
    const previous = this.written.get(key);
    if (previous && previous.file !== file) await this.remove(key);
    // After a restart the map is empty: compare with the file on disk so that an unchanged pool does
    // not make the reloader reload nginx.
    const current = previous?.file === file ? previous.hash : await this.hashOnDisk(file);
    if (current !== hash) {
      await writeAtomically(file, text);
      this.logger.info({ pool: key, file, hash, backends: plan.backends.length }, 'nginx upstream file written');
    }
    this.written.set(key, { file, hash });
    return { facts: { configMap: plan.nginx.configMap, hash } };
  }

  /** The files stay: they are the output, and nginx keeps serving them after Ballast stops. */
  async close(): Promise<void> {}

  private ownerOf(file: string): ObjectKey | undefined {
    for (const [key, w] of this.written) if (w.file === file) return key;
    return undefined;
  }

  private async hashOnDisk(file: string): Promise<string | undefined> {
    try {
      return configHash(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async remove(key: ObjectKey): Promise<void> {
    const previous = this.written.get(key);
    if (!previous) return;
    await rm(previous.file, { force: true });
    this.written.delete(key);
    this.logger.info({ pool: key, file: previous.file }, 'nginx upstream file removed');
  }
}
