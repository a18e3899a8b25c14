// Dev mode's source: a folder of manifests. Like Traefik's file provider, any change re-reads every
// file into one full view; the store then emits only what really changed. The rules:
// - a file that does not read, parse or validate removes nothing: every object it last declared keeps
//   its last good version (valid documents beside the broken one still apply) until the file is valid
//   again and no longer declares it, so a half-written file or a typo never takes down a pool;
// - only a file that is gone (ENOENT), or empty, takes its objects away;
// - parsing runs on a worker thread (manifest-parser.ts), never on the thread that serves the pools.
import path from 'node:path';
import { splitKey, type ObjectKey } from '../../api/keys.js';
import type { KubeObject, ObjectKind } from '../../api/schema.js';
import { KINDS } from '../../api/validate.js';
import type { Source } from '../../controller/source.js';
import type { SourceStore } from '../../controller/store.js';
import type { Logger } from '../../log.js';
import { FolderWatcher } from './folder-watcher.js';
import { errnoText, listManifestFiles, MANIFEST_EXTENSIONS, NotAFolderError, readManifestFile } from './manifest-files.js';
import { declarationId, describeDocumentError, mergeDeclarations, type LoadedFile } from './manifest-loader.js';
import { ManifestParser } from './manifest-parser.js';

export interface FileSourceOptions {
  dir: string;
  logger: Logger;
  /** Quiet time after the last file event before re-reading: editors and kubelet write in bursts. */
  debounceMs?: number;
  /** A full re-read at this period catches any event the watcher missed (0 disables). */
  resyncMs?: number;
  /** Told when a file's errors change, with none once it is valid again or gone (the dashboard's changes). */
  onErrors?: (file: string, errors: readonly string[]) => void;
}

const objectId = (o: KubeObject) => declarationId(o.kind, o.metadata.namespace, o.metadata.name);

export class FileSource implements Source {
  readonly name = 'files';
  private watcher?: FolderWatcher;
  private resyncTimer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private again = false;
  private store?: SourceStore;
  private readonly parser = new ManifestParser();
  /** Per file: the objects it last declared (their last good versions). */
  private readonly lastGood = new Map<string, KubeObject[]>();
  /** Per file: the errors last logged, so an unchanged broken file is not reported on every re-read. */
  private readonly lastErrors = new Map<string, string>();
  /** Per file: the text last parsed and its result. Re-reading is cheap, parsing is not: with 100,000
   * endpoints in 1,000 files, parsing them all took seconds where re-parsing the one that changed takes
   * milliseconds. Same text, same objects, so the store sees nothing changed in the others. */
  private readonly parsed = new Map<string, { text: string; loaded: LoadedFile }>();
  /** Which file declared each object of the current view, by identity. */
  private origins = new Map<string, string>();
  /** The folder-level warning last logged (missing, empty), so it is said once per state. */
  private folderState = '';

  constructor(private readonly opts: FileSourceOptions) {}

  /** A missing or empty folder is a warning, a file where the folder should be an error: Ballast keeps watching. */
  async start(store: SourceStore): Promise<void> {
    this.store = store;
    const { dir, logger } = this.opts;
    this.watcher = new FolderWatcher({ dir, debounceMs: this.opts.debounceMs ?? 100, onChange: () => void this.reload(), logger });
    await this.watcher.start();
    await this.reload();
    const files = this.lastGood.size;
    const pools = store.keys('BalancerPool').length;
    logger.info({ dir: this.display(dir), files, pools }, `watching ${this.display(dir)}: ${files} manifest file${files === 1 ? '' : 's'}, ${pools} pool${pools === 1 ? '' : 's'}`);
    const resyncMs = this.opts.resyncMs ?? 30_000;
    if (resyncMs > 0) this.resyncTimer = setInterval(() => this.watcher?.schedule(), resyncMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    await this.watcher?.close();
    await this.reading;
    await this.parser.close();
  }

  /** Re-reads everything; a re-read asked for while one runs happens right after it. */
  reload(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        try {
          await this.readAll();
        } catch (err) {
          const message = err instanceof NotAFolderError ? err.message : errnoText(err as NodeJS.ErrnoException);
          this.opts.logger.error({ dir: this.display(this.opts.dir) }, `reading manifests failed (${message}); keeping the last good state`);
        }
      } while (this.again);
      this.reading = undefined;
    })();
    return this.reading;
  }

  private display(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel.startsWith('..') || rel === '' ? file : rel;
  }

  private async listFiles(): Promise<string[]> {
    const { dir, logger } = this.opts;
    const files = await listManifestFiles(dir);
    const state =
      files === undefined
        ? `the manifests folder ${this.display(dir)} does not exist; watching for it to appear`
        : files.length === 0
          ? `no manifests in ${this.display(dir)} (${MANIFEST_EXTENSIONS.map((e) => `*${e}`).join(', ')}); watching for some to appear`
          : '';
    if (state !== this.folderState && state) logger.warn({ dir: this.display(dir) }, state);
    this.folderState = state;
    return files ?? [];
  }

  private async readAll(): Promise<void> {
    const files = await this.listFiles();
    const reads = await Promise.all(files.map((f) => readManifestFile(f)));
    // Parse what changed, all at once on the worker; the rest comes from the cache.
    const loaded = await Promise.all(
      files.map(async (file, i) => {
        const read = reads[i];
        if (!('text' in read)) return undefined;
        const cached = this.parsed.get(file);
        const result = cached?.text === read.text ? cached.loaded : await this.parser.parse(file, read.text);
        this.parsed.set(file, { text: read.text, loaded: result });
        return result;
      }),
    );
    const declared: { file: string; display: string; objects: KubeObject[] }[] = [];
    const errors = new Map<string, string[]>();
    for (const [i, file] of files.entries()) {
      const read = reads[i];
      if ('gone' in read) continue; // removed between listing and reading
      const previous = this.lastGood.get(file) ?? [];
      const problems: string[] = [];
      let current: KubeObject[] = [];
      if ('error' in read) {
        problems.push(`${this.display(file)}: ${read.error}; keeping the objects it last declared`);
      } else {
        const l = loaded[i]!;
        if (l.error) problems.push(`${this.display(file)}: ${l.error}`);
        for (const doc of l.documents) {
          if (doc.ok) current.push(doc.object);
          else problems.push(describeDocumentError(this.display(file), doc));
        }
      }
      if (problems.length > 0) {
        const declaredNow = new Set(current.map(objectId));
        current = [...current, ...previous.filter((o) => !declaredNow.has(objectId(o)))];
      }
      this.lastGood.set(file, current);
      errors.set(file, problems);
      declared.push({ file, display: this.display(file), objects: current });
    }
    const seen = new Set(declared.map((d) => d.file));
    for (const file of [...this.lastGood.keys()]) {
      if (seen.has(file)) continue;
      this.lastGood.delete(file);
      this.parsed.delete(file);
      if (this.lastErrors.delete(file)) this.opts.onErrors?.(this.display(file), []); // a broken file deleted
    }
    const view = mergeDeclarations(declared);
    for (const [file, e] of view.errors) errors.get(file)!.push(...e);
    for (const [file, e] of errors) this.report(file, e);
    this.origins = view.origins;
    const byKind = new Map<ObjectKind, KubeObject[]>(KINDS.map((k) => [k, []]));
    for (const object of view.objects) byKind.get(object.kind)!.push(object);
    // Slices and Services first, so a pool that appears with its slices is planned with them.
    for (const kind of ['Service', 'EndpointSlice', 'BalancerPool'] as const) this.store!.replace(kind, byKind.get(kind)!);
  }

  /** The file (as logged) that declares an object, e.g. `manifests/dev/web.yaml`. */
  origin(kind: ObjectKind, key: ObjectKey): string | undefined {
    const { namespace, name } = splitKey(key);
    return this.origins.get(declarationId(kind, namespace, name));
  }

  private report(file: string, errors: string[]): void {
    const text = errors.join('\n');
    if ((this.lastErrors.get(file) ?? '') === text) return;
    this.opts.onErrors?.(this.display(file), errors);
    if (errors.length === 0) {
      this.lastErrors.delete(file);
      this.opts.logger.info({ file: this.display(file) }, 'manifest file is valid again');
      return;
    }
    this.lastErrors.set(file, text);
    for (const e of errors) this.opts.logger.error({ file: this.display(file) }, e);
  }
}
