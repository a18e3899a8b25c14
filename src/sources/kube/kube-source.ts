// Cluster mode's source: informers on BalancerPools, Services and EndpointSlices feed the store.
// client-node's informer relists on 410 Gone (emitting deletes for what vanished) but stops for good
// on any other error, has no periodic resync and cannot tell a quiet watch from a dead one; this
// class adds restart with backoff and jitter, and a watchdog. Its watches ask for bookmarks and end
// server-side before client-node's idle timeout, so a quiet watch resumes from a fresh
// resourceVersion instead of relisting. A resync re-reads the informers' caches, as client-go's
// does: a separate LIST could answer with a copy older than what a watch has already delivered
// (a delete undone), and its answer is never newer than the cache anyway.
import { keyOf, objectKey } from '../../api/keys.js';
import type { KubeObject } from '../../api/schema.js';
import { SERVICE_NAME_LABEL } from '../../api/schema.js';
import { formatFieldErrors, parseObject, type FieldError } from '../../api/validate.js';
import type { Source } from '../../controller/source.js';
import type { SourceStore } from '../../controller/store.js';
import { backoffDelay, realTimers, type BackoffOptions, type Timers } from '../../controller/work-queue.js';
import type { Logger } from '../../log.js';
import { KubeApiError, toKubeApiError, WATCHED_KINDS, type ApiObserver, type Json, type KubeClient, type ListOptions, type WatchedKind } from './kube-client.js';

export interface KubeSourceOptions {
  client: KubeClient;
  logger: Logger;
  /** Only this namespace (default: all). */
  namespace?: string;
  /** Only this BalancerPool (the sidecar case); needs `namespace`. */
  pool?: string;
  /** Restart an informer that has shown no sign of life (event, connect, a re-watch) for this long. */
  watchdogMs?: number;
  backoff?: BackoffOptions;
  timers?: Timers;
  /**
   * Told when a watch fails and when it works again (lists are reported by the client). Every failure
   * of a list or watch is one, a 404 too: the CRD is not installed, or the namespace does not exist.
   */
  failures?: ApiObserver;
  /** Told about an object the API holds but Ballast cannot accept (its last good version stays). */
  onInvalid?: (object: Json, errors: FieldError[]) => void;
}

type Informer = ReturnType<KubeClient['informer']>;

interface Watched {
  kind: WatchedKind;
  opts: ListOptions;
  informer: Informer;
  synced: boolean;
  failures: number;
  lastActivity: number;
  restartTimer?: unknown;
}

export class KubeSource implements Source {
  readonly name = 'kubernetes';
  private store?: SourceStore;
  private readonly watched: Watched[] = [];
  private watchdogTimer?: NodeJS.Timeout;
  private stopped = false;
  private readonly timers: Timers;

  constructor(private readonly opts: KubeSourceOptions) {
    if (opts.pool && !opts.namespace) throw new Error('--pool needs --namespace');
    this.timers = opts.timers ?? realTimers;
  }

  private listOptions(kind: WatchedKind): ListOptions {
    const { namespace, pool } = this.opts;
    if (kind.kind === 'BalancerPool') return { namespace, fieldSelector: pool ? `metadata.name=${pool}` : undefined };
    if (kind.kind === 'EndpointSlice') return { namespace, labelSelector: SERVICE_NAME_LABEL };
    return { namespace };
  }

  async start(store: SourceStore): Promise<void> {
    this.store = store;
    for (const kind of WATCHED_KINDS) {
      const opts = this.listOptions(kind);
      const w: Watched = { kind, opts, informer: this.opts.client.informer(kind, opts), synced: false, failures: 0, lastActivity: Date.now() };
      this.watched.push(w);
      // An event proves the watch works (the backoff resets); a connect only that it is trying.
      const alive = () => {
        w.lastActivity = Date.now();
        if (w.failures > 0) this.opts.failures?.succeeded(this.watchCall(w));
        w.failures = 0;
      };
      w.informer.on('add', (o) => (alive(), this.upsert(w, o as unknown as Json)));
      w.informer.on('update', (o) => (alive(), this.upsert(w, o as unknown as Json)));
      w.informer.on('delete', (o) => (alive(), this.remove(w, o as unknown as Json)));
      w.informer.on('connect', () => (w.lastActivity = Date.now()));
      w.informer.on('error', (err) => this.restartLater(w, err));
    }
    await Promise.all(this.watched.map((w) => this.startInformer(w)));
    const watchdogMs = this.opts.watchdogMs ?? 10 * 60_000;
    if (watchdogMs > 0) this.watchdogTimer = setInterval(() => this.checkWatchdog(watchdogMs), Math.min(watchdogMs, 30_000)).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdogTimer);
    for (const w of this.watched) {
      if (w.restartTimer !== undefined) this.timers.clearTimeout(w.restartTimer);
      await w.informer.stop();
    }
  }

  /** Resolves once the informer has listed successfully (its first full view is in the store). */
  private startInformer(w: Watched): Promise<void> {
    return new Promise((resolve) => {
      const attempt = async () => {
        if (this.stopped) return resolve();
        // start() never throws: a failed list is an 'error' event (handled by restartLater) and no resourceVersion.
        await w.informer.start();
        if (w.informer.latestResourceVersion()) {
          w.synced = true;
          w.failures = 0;
          w.lastActivity = Date.now();
          this.opts.logger.info({ kind: w.kind.kind, objects: w.informer.list().length }, 'informer synced');
          return resolve();
        }
        w.restartTimer = this.timers.setTimeout(attempt, backoffDelay(++w.failures, this.backoff()));
      };
      void attempt();
    });
  }

  private backoff(): BackoffOptions {
    return this.opts.backoff ?? { baseMs: 500, maxMs: 30_000, jitter: 0.5 };
  }

  /** client-node stops an informer on any error but 410; start it again after a jittered backoff. */
  private restartLater(w: Watched, err: unknown): void {
    if (this.stopped || !w.synced) return; // before sync, startInformer retries by itself
    const delay = backoffDelay(++w.failures, this.backoff());
    this.opts.logger.warn({ kind: w.kind.kind, err: (err as Error)?.message ?? String(err), retryInMs: delay }, 'watch failed; restarting');
    // A relist's failure was reported by the client already.
    if (!(err instanceof KubeApiError && err.call)) this.opts.failures?.failed(toKubeApiError(err, this.watchCall(w)));
    if (w.restartTimer !== undefined) this.timers.clearTimeout(w.restartTimer);
    w.restartTimer = this.timers.setTimeout(() => {
      w.restartTimer = undefined;
      if (this.stopped) return;
      const failures = w.failures;
      // start() resolves once the watch is open; no error meanwhile means it works again.
      void w.informer.start().then(() => failures === w.failures && this.opts.failures?.succeeded(this.watchCall(w)));
    }, delay);
  }

  private watchCall(w: Watched) {
    return { verb: 'watch', resource: w.kind.resource, namespace: w.opts.namespace };
  }

  private checkWatchdog(watchdogMs: number): void {
    for (const w of this.watched) {
      if (!w.synced || w.restartTimer !== undefined || Date.now() - w.lastActivity < watchdogMs) continue;
      // Bookmarks and server-side timeouts renew a healthy watch well within this: it is half dead.
      const silentForMs = Date.now() - w.lastActivity;
      w.lastActivity = Date.now();
      // Stopping aborts the watch, which client-node reports as an error (another restartLater, which
      // replaces this one's timer): either way the informer is started exactly once, and resumes from
      // its resourceVersion (a 410 there relists, exactly).
      void w.informer.stop();
      this.restartLater(w, new Error(`no watch event for ${Math.round(silentForMs / 1000)} s`));
    }
  }

  /**
   * Makes the store hold exactly what the informers hold (their caches follow every watch event),
   * e.g. to let an object rejected earlier in. Never older than the watches' view.
   */
  resync(): void {
    for (const w of this.watched) {
      if (!w.synced) continue;
      const objects: KubeObject[] = [];
      for (const raw of w.informer.list() as unknown as Json[]) {
        const meta = raw.metadata as Json;
        const kept = this.store!.get(w.kind.kind, objectKey(meta.namespace as string | undefined, meta.name as string));
        // Unchanged since the store took it (or rejected it, which was reported then): keep what the store has.
        const o = kept?.metadata.resourceVersion === meta.resourceVersion ? kept : this.accept({ ...raw, apiVersion: w.kind.apiVersion, kind: w.kind.kind });
        const use = o ?? kept;
        if (use) objects.push(use);
      }
      this.store!.replace(w.kind.kind, objects);
    }
  }

  private accept(raw: Json): KubeObject | undefined {
    const result = parseObject(raw);
    if (result.ok) return result.object;
    const meta = raw.metadata as Json | undefined;
    this.opts.logger.error(
      { kind: raw.kind, object: `${meta?.namespace}/${meta?.name}` },
      `${String(raw.kind)} ${String(meta?.namespace)}/${String(meta?.name)} rejected: ${formatFieldErrors(result.errors)}; keeping its last good state`,
    );
    this.opts.onInvalid?.(raw, result.errors);
    return undefined;
  }

  private upsert(w: Watched, raw: Json): void {
    const object = this.accept({ ...raw, apiVersion: w.kind.apiVersion, kind: w.kind.kind });
    if (object) this.store!.upsert(object);
  }

  private remove(w: Watched, raw: Json): void {
    const meta = raw.metadata as { namespace?: string; name: string };
    this.store!.delete(w.kind.kind, keyOf({ metadata: meta }));
  }
}
