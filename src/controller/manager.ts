// Wires sources, store, queue and reconciler together, as controller-runtime's manager does: store
// changes become pool keys on the queue (by the watches' functions); workers reconcile keys, each within a deadline; nothing
// reconciles before every source has synced, or a live pool would be emptied at start by a
// half-filled store.
import type { ObjectKey } from '../api/keys.js';
import type { Logger } from '../log.js';
import type { ControllerMetrics } from '../admin/metrics.js';
import type { Reconciler } from './reconciler.js';
import type { Source } from './source.js';
import type { Watches } from './pool-watches.js';
import type { ObjectStore, StoreChange } from './store.js';
import { WorkQueue } from './work-queue.js';

export interface ManagerOptions {
  store: ObjectStore;
  sources: readonly Source[];
  reconciler: Reconciler;
  /** The keys to reconcile when an object of each kind changes. */
  watches: Watches;
  logger: Logger;
  metrics?: ControllerMetrics;
  queue?: WorkQueue;
  workers?: number;
  /** A reconcile still running after this long is aborted (and retried with backoff); default 30 s. */
  reconcileTimeoutMs?: number;
}

export class Manager {
  readonly queue: WorkQueue;
  private synced = false;
  /** Pools present at sync whose first successful reconcile is still to come. */
  private readonly unreconciled = new Set<ObjectKey>();
  private readonly workers: Promise<void>[] = [];
  /** When each queued key first became stale, for the event-to-live latency metric. */
  private readonly staleSince = new Map<ObjectKey, number>();
  private readonly onChange = (c: StoreChange) => this.enqueueAll(this.opts.watches[c.kind](c, this.opts.store));

  constructor(private readonly opts: ManagerOptions) {
    this.queue = opts.queue ?? new WorkQueue();
  }

  /**
   * What readiness waits for: every source synced and the first pass over the pools done, then one
   * successful reconcile of every pool that was in the store at sync (a reconcile that throws does
   * not count; pools added later never hold readiness back).
   */
  progress(): { synced: boolean; unreconciled: ObjectKey[] } {
    return { synced: this.synced, unreconciled: [...this.unreconciled].sort() };
  }

  async start(): Promise<void> {
    const { store, sources, logger } = this.opts;
    store.on('change', this.onChange);
    await Promise.all(sources.map((s) => s.start(store.forSource(s.name))));
    logger.info({ sources: sources.map((s) => s.name), pools: store.keys('BalancerPool').length }, 'sources synced');
    for (const key of store.keys('BalancerPool')) this.unreconciled.add(key);
    for (let i = 0; i < (this.opts.workers ?? 2); i++) this.workers.push(this.work());
    this.resyncAll();
    await this.idle();
    // Only now: a process is not ready before start() has returned (and its caller installed signal handlers).
    this.synced = true;
  }

  /** Queues keys whose outcome another change may have decided (e.g. pools waiting for a listener). */
  enqueueAll(keys: Iterable<ObjectKey>): void {
    for (const key of keys) this.enqueue(key);
  }

  /** Re-queues every pool (periodic resync, leadership change). */
  resyncAll(): void {
    this.enqueueAll(this.opts.store.keys('BalancerPool'));
  }

  /** Resolves when no key is queued or in flight (backoff timers aside). */
  async idle(): Promise<void> {
    while (this.queue.pending > 0) await new Promise((r) => setTimeout(r, 5));
  }

  async stop(): Promise<void> {
    this.opts.store.off('change', this.onChange);
    this.queue.shutDown();
    await Promise.all(this.workers);
    await Promise.all(this.opts.sources.map((s) => s.stop()));
  }

  private enqueue(key: ObjectKey): void {
    if (!this.staleSince.has(key)) this.staleSince.set(key, performance.now());
    this.queue.add(key);
  }

  private async work(): Promise<void> {
    const { reconciler, logger, metrics } = this.opts;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const since = this.staleSince.get(key);
      this.staleSince.delete(key);
      const start = performance.now();
      try {
        const { requeue } = await reconciler.reconcile(key, AbortSignal.timeout(this.opts.reconcileTimeoutMs ?? 30_000));
        this.unreconciled.delete(key);
        metrics?.reconciles.inc({ result: requeue ? 'requeue' : 'success' });
        if (requeue) this.queue.addRateLimited(key);
        else this.queue.forget(key);
        if (since !== undefined) metrics?.syncLatency.observe((performance.now() - since) / 1000);
      } catch (err) {
        metrics?.reconciles.inc({ result: 'error' });
        const delay = this.queue.addRateLimited(key);
        logger.warn({ pool: key, err, retryInMs: delay, failures: this.queue.failuresOf(key) }, 'reconcile failed');
      } finally {
        metrics?.reconcileDuration.observe((performance.now() - start) / 1000);
        this.queue.done(key);
      }
    }
  }
}
