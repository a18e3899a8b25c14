// The NGINX sidecar: reload nginx when the mounted upstream ConfigMaps change, but only with a config
// that `nginx -t` accepts. kubelet updates a ConfigMap volume by swapping the `..data` symlink, and
// editors and writers replace files by rename; so any event in the folder just means "re-read
// everything", debounced, and the content hash decides whether anything changed (Traefik's file
// provider does the same). The watch is dev mode's FolderWatcher, so the folder itself being deleted,
// re-created, swapped for a link or moved is followed too. A periodic re-check covers missed events
// and a reload signal that failed.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { FolderWatcher } from '../sources/file/folder-watcher.js';
import { NginxBinary, type CommandRunner } from './nginx-binary.js';

export interface NginxReloaderOptions {
  /** The mounted folder of upstream files (a ConfigMap volume, or NginxFileWriter's folder). */
  watchDir: string;
  /** nginx's main config (`-c`); relative paths are relative to the prefix, as nginx resolves them. */
  nginxConf: string;
  /** nginx's prefix (`-p`), when not the binary's compiled-in one. */
  nginxPrefix?: string;
  nginxBin?: string;
  /** Quiet time after the last event before re-checking; kubelet's swap emits a burst over ~100 ms. */
  debounceMs?: number;
  /** Interval of the safety re-check; 0 disables it. */
  resyncMs?: number;
  logger: Logger;
  run?: CommandRunner;
}

export interface NginxReloaderStatus {
  watching: boolean;
  /** Re-checks done (each hashes the folder; most find nothing changed). */
  checks: number;
  /** Reload signals sent after a successful `nginx -t`. */
  reloads: number;
  /** Configs `nginx -t` refused; nginx kept running the last good one. */
  rejected: number;
  /** Hash of the folder content nginx was last told to load. */
  loadedHash?: string;
  /** Why the last attempt failed (nginx -t stderr, or the reload command's); cleared by a reload. */
  lastError?: string;
  /** From the first event of a burst to the reload signal, for the last reload. */
  lastReloadLatencyMs?: number;
}

export interface NginxReloaderEvents {
  reloaded: [{ hash: string; latencyMs: number }];
  rejected: [{ hash: string; error: string }];
  /** The reload command itself failed (e.g. nginx not running yet); retried at the next re-check. */
  failed: [{ hash: string; error: string }];
}

/**
 * Content hash of the regular files directly in `dir`, following symlinks. Dot-entries are skipped:
 * they are kubelet's `..data` and timestamped folders (their files are reached through the top-level
 * links) and writers' temp files. A missing folder hashes as empty.
 */
async function hashFolder(dir: string): Promise<string> {
  const hash = createHash('sha256');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return hash.digest('hex').slice(0, 16);
    throw err;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if (!(await stat(file)).isFile()) continue;
      hash.update(`${name}\0`).update(await readFile(file)).update('\0');
    } catch (err) {
      // Removed between readdir and read: the unlink event schedules another check.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Watches `watchDir` and reloads nginx (`nginx [-p prefix] -c conf -s reload`) when the content of the
 * folder changed and `nginx -t` accepts the config. A refused config is logged with nginx's stderr,
 * counted, and not retried until the content changes again; nginx keeps serving the last good one.
 * Never throws after start(): every failure is logged, counted and reported as an event.
 * The first check after start() reloads once, since the files may have changed between nginx's start
 * and ours. `nginx -t` does not bind sockets, so a listen address already in use only fails inside
 * nginx at reload (nginx then keeps the old config and logs it).
 */
export class NginxReloader extends EventEmitter<NginxReloaderEvents> {
  private readonly opts: Required<Pick<NginxReloaderOptions, 'watchDir' | 'nginxConf' | 'debounceMs' | 'resyncMs'>>;
  private readonly nginx: NginxBinary;
  private readonly logger: Logger;
  private watcher?: FolderWatcher;
  private resync?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private burstStart?: number;
  private rejectedHash?: string;
  private readonly state: NginxReloaderStatus = { watching: false, checks: 0, reloads: 0, rejected: 0 };

  constructor({ watchDir, nginxConf, nginxPrefix, nginxBin, debounceMs = 200, resyncMs = 10_000, run, logger }: NginxReloaderOptions) {
    super();
    this.opts = { watchDir, nginxConf, debounceMs, resyncMs };
    this.nginx = new NginxBinary({ conf: nginxConf, prefix: nginxPrefix, bin: nginxBin, run });
    this.logger = logger.child({ component: 'nginx-reloader' });
  }

  /** Resolves once the watcher is ready and the first check (and reload) is done. */
  async start(): Promise<void> {
    if (this.watcher) return;
    const { watchDir: dir, debounceMs } = this.opts;
    this.watcher = new FolderWatcher({ dir, debounceMs, onChange: (firstEventAt) => this.trigger(firstEventAt), logger: this.logger });
    await this.watcher.start();
    this.state.watching = true;
    if (this.opts.resyncMs > 0) {
      this.resync = setInterval(() => this.trigger(), this.opts.resyncMs);
      this.resync.unref();
    }
    this.trigger();
    await this.running;
    this.logger.info({ watchDir: this.opts.watchDir, nginxConf: this.opts.nginxConf, hash: this.state.loadedHash }, 'nginx reloader started');
  }

  /** Stops watching and waits for a check in progress; nginx itself is left running. */
  async stop(): Promise<void> {
    clearInterval(this.resync);
    this.again = false;
    const watcher = this.watcher;
    this.watcher = undefined;
    this.state.watching = false;
    await watcher?.close();
    await this.running;
  }

  status(): NginxReloaderStatus {
    return { ...this.state };
  }

  // One check at a time; events during a check run one more afterwards, so the last state always wins.
  private trigger(firstEventAt?: number): void {
    if (!this.watcher) return;
    if (firstEventAt !== undefined) this.burstStart ??= firstEventAt;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.check()
      .catch((err: unknown) => {
        this.state.lastError = String(err);
        this.logger.error({ err }, 'nginx config check failed');
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.trigger();
        }
      });
  }

  private async check(): Promise<void> {
    const since = this.burstStart ?? Date.now();
    this.burstStart = undefined;
    this.state.checks++;
    const hash = await hashFolder(this.opts.watchDir);
    if (hash === this.state.loadedHash) {
      // Back to what nginx runs (e.g. a broken change was reverted): nothing is wrong any more.
      this.rejectedHash = undefined;
      this.state.lastError = undefined;
      return;
    }
    if (hash === this.rejectedHash) return;

    const test = await this.nginx.test();
    if (test.code !== 0) {
      const error = test.stderr.trim();
      this.rejectedHash = hash;
      this.state.rejected++;
      this.state.lastError = error;
      this.logger.error({ hash, stderr: error }, 'nginx -t refused the new config; nginx keeps serving the last good one');
      this.emit('rejected', { hash, error });
      return;
    }
    if (test.stderr.includes('[warn]')) this.logger.warn({ hash, stderr: test.stderr.trim() }, 'nginx -t passed with warnings');

    const reload = await this.nginx.reload();
    if (reload.code !== 0) {
      const error = reload.stderr.trim();
      this.state.lastError = error;
      this.logger.error({ hash, stderr: error }, 'nginx reload failed; retrying at the next re-check');
      this.emit('failed', { hash, error });
      return;
    }
    const latencyMs = Date.now() - since;
    this.state.loadedHash = hash;
    this.state.reloads++;
    this.state.lastError = undefined;
    this.state.lastReloadLatencyMs = latencyMs;
    this.rejectedHash = undefined;
    this.logger.info({ hash, latencyMs }, 'nginx reloaded');
    this.emit('reloaded', { hash, latencyMs });
  }
}
