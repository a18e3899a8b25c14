// A keyed work queue with client-go's workqueue semantics: a key is queued at most once however many
// times it is added (bursts collapse), a key being processed is never handed out twice (it is
// re-queued when done if it was added meanwhile), and failures back off per key.
import type { ObjectKey } from '../api/keys.js';

/** Timers are injected so tests can drive backoff without waiting and without global fakes. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** 0..1: the delay is scaled by a random factor in [1 - jitter, 1]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 60_000, jitter: 0.2 };

export function backoffDelay(failures: number, { baseMs, maxMs, jitter }: BackoffOptions, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp * (1 - jitter * random()));
}

export class WorkQueue {
  private readonly queue: ObjectKey[] = [];
  private readonly queued = new Set<ObjectKey>();
  private readonly processing = new Set<ObjectKey>();
  private readonly dirty = new Set<ObjectKey>();
  private readonly failures = new Map<ObjectKey, number>();
  private readonly delayed = new Map<ObjectKey, unknown>();
  private readonly waiters: ((key: ObjectKey | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(
    private readonly timers: Timers = realTimers,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {}

  get length(): number {
    return this.queue.length;
  }

  /** Keys queued or being processed (delayed ones aside). */
  get pending(): number {
    return this.queue.length + this.processing.size;
  }

  add(key: ObjectKey): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queued.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after a delay that grows with its consecutive failures; returns the delay. */
  addRateLimited(key: ObjectKey): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffDelay(n, this.backoff);
    this.addAfter(key, delay);
    return delay;
  }

  addAfter(key: ObjectKey, ms: number): void {
    if (this.shuttingDown) return;
    const prev = this.delayed.get(key);
    if (prev !== undefined) this.timers.clearTimeout(prev);
    this.delayed.set(
      key,
      this.timers.setTimeout(() => {
        this.delayed.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Clears the key's failure count (call after a successful reconcile). */
  forget(key: ObjectKey): void {
    this.failures.delete(key);
  }

  failuresOf(key: ObjectKey): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key, marked as processing; `undefined` once the queue is shut down. */
  get(): Promise<ObjectKey | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key as no longer processing; re-queues it if it was added meanwhile. */
  done(key: ObjectKey): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const h of this.delayed.values()) this.timers.clearTimeout(h);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
