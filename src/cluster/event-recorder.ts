// Events on BalancerPools, as client-go's EventCorrelator records them: an Event identical to one
// already recorded (same object, type, reason, message) bumps that Event's count and lastTimestamp
// instead of creating another, and a token bucket per object (burst 25, one more every 5 minutes)
// stops a pool that keeps failing from flooding the namespace. Best effort: a failed write is logged
// and never fails a reconcile.
import type { Logger } from '../log.js';
import { KubeApiError, type CoreEvent, type KubeClient } from '../sources/kube/kube-client.js';

export type EventClient = Pick<KubeClient, 'createEvent' | 'patchEventCount'>;

export interface EventRecorderOptions {
  client: EventClient;
  logger: Logger;
  now?: () => Date;
  /** Spam filter per object: this many at once, then one per `refillMs` (client-go: 25, 5 min). */
  burst?: number;
  refillMs?: number;
}

/** What the recorder was asked for: the Event without its bookkeeping. */
export type EventRequest = Omit<CoreEvent, 'namespace'>;

// Distinct Events remembered per pool (client-go keeps 4096 in all); the oldest is forgotten first.
const MAX_REMEMBERED = 64;

export class EventRecorder {
  /** Per pool: recorded Events by type, reason, message and source, with their name and count (oldest first). */
  private readonly recorded = new Map<string, Map<string, { name: string; count: number }>>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => Date;
  private readonly burst: number;
  private readonly refillMs: number;

  constructor(private readonly opts: EventRecorderOptions) {
    this.now = opts.now ?? (() => new Date());
    this.burst = opts.burst ?? 25;
    this.refillMs = opts.refillMs ?? 5 * 60_000;
  }

  async record(e: EventRequest): Promise<void> {
    const { namespace, name, uid } = e.involvedObject;
    const object = `${namespace}/${name}/${uid ?? ''}`;
    const now = this.now();
    if (!this.take(object, now.getTime())) {
      this.opts.logger.debug({ pool: `${namespace}/${name}`, reason: e.reason }, 'event dropped by the spam filter');
      return;
    }
    let events = this.recorded.get(object);
    if (!events) this.recorded.set(object, (events = new Map()));
    const identity = JSON.stringify([e.type, e.reason, e.message, e.component, e.instance]);
    try {
      const seen = events.get(identity);
      if (seen) {
        events.delete(identity); // re-inserted below as the newest
        try {
          await this.opts.client.patchEventCount(namespace, seen.name, seen.count + 1, now, { notFoundIsOk: true });
          events.set(identity, { name: seen.name, count: seen.count + 1 });
          return;
        } catch (err) {
          // The Event expired (the API keeps Events an hour): record it afresh.
          if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        }
      }
      events.set(identity, { name: await this.opts.client.createEvent({ ...e, namespace }, now), count: 1 });
      if (events.size > MAX_REMEMBERED) events.delete(events.keys().next().value!);
    } catch (err) {
      this.opts.logger.warn({ pool: `${namespace}/${name}`, reason: e.reason, err: (err as Error).message }, 'event not recorded');
    }
  }

  /** Forgets a deleted pool's Events and spam-filter bucket. */
  forget(namespace: string, name: string): void {
    for (const map of [this.recorded, this.buckets]) for (const key of map.keys()) if (key.startsWith(`${namespace}/${name}/`)) map.delete(key);
  }

  private take(object: string, now: number): boolean {
    const b = this.buckets.get(object);
    const tokens = Math.min(this.burst, b ? b.tokens + (now - b.at) / this.refillMs : this.burst);
    const ok = tokens >= 1;
    this.buckets.set(object, { tokens: ok ? tokens - 1 : tokens, at: now });
    return ok;
  }
}
