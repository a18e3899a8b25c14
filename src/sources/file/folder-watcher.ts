// Watches a folder of files, debounced, and keeps watching when the folder itself changes hands.
// chokidar watches the folder it found at start: once that folder is deleted, replaced by a symlink
// or moved away, it sees nothing more, even after a new folder appears under the same name. So the
// parent is watched too (fs.watch, not recursive: chokidar there would also stat every sibling), for
// that one name only, and any change to the name restarts the watch.
import { watch as watchFs, type FSWatcher as FsWatcher } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../../log.js';

export interface FolderWatcherOptions {
  dir: string;
  /** Quiet time after the last event: editors and kubelet write in bursts. */
  debounceMs: number;
  /**
   * Called once per burst of changes (and once when a restarted watch is ready), with the time
   * (Date.now()) of the burst's first event, for those who report how long a change took to apply.
   */
  onChange: (firstEventAt: number) => void;
  logger: Logger;
}

export class FolderWatcher {
  private parent?: FsWatcher;
  private folder?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private burstStart?: number;
  private closed = false;

  constructor(private readonly opts: FolderWatcherOptions) {}

  /** Resolves once both watches are ready. */
  async start(): Promise<void> {
    const dir = path.resolve(this.opts.dir);
    // inotify on the parent names each entry that changes; only our folder's name matters.
    try {
      this.parent = watchFs(path.dirname(dir), (_event, name) => {
        if (name === path.basename(dir)) this.restart();
      });
      this.parent.on('error', (err) => this.opts.logger.error({ err, dir: path.dirname(dir) }, 'file watcher error'));
    } catch (err) {
      this.opts.logger.warn({ err, dir: path.dirname(dir) }, 'cannot watch the folder above the watched one; the watched folder itself appearing or being replaced is seen by the periodic re-read only');
    }
    await this.watchFolder();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.restartTimer);
    await this.replacing;
    this.parent?.close();
    await this.folder?.close();
  }

  /** Debounced onChange. */
  schedule(): void {
    if (this.closed) return;
    this.burstStart ??= Date.now();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const firstEventAt = this.burstStart!;
      this.burstStart = undefined;
      this.opts.onChange(firstEventAt);
    }, this.opts.debounceMs);
  }

  private async watchFolder(): Promise<void> {
    const dir = path.resolve(this.opts.dir);
    const folder = watch(dir, { ignoreInitial: true });
    this.folder = folder;
    folder.on('all', (event, p: string) => {
      this.schedule();
      if (event === 'unlinkDir' && p === dir) this.restart();
    });
    folder.on('error', (err) => this.opts.logger.error({ err, dir }, 'file watcher error'));
    await ready(folder);
  }

  private restartTimer?: NodeJS.Timeout;
  private replacing: Promise<void> = Promise.resolve();

  // Debounced too, and the old watch is closed only once the new one is ready: a chokidar watch closed
  // while it was still following its folder being replaced (by a symlink) leaked an fs.watch handle,
  // which kept the process from exiting. Files written before the new watch was in place raised no
  // event: the change scheduled after it covers them.
  private restart(): void {
    if (this.closed) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.replacing = this.replacing.then(async () => {
        if (this.closed) return;
        const old = this.folder;
        await this.watchFolder();
        await old?.close();
        this.schedule();
      });
    }, this.opts.debounceMs);
  }
}

const ready = (w: FSWatcher) => new Promise<void>((resolve) => w.once('ready', () => resolve()));
