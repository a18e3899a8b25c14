// What the EventRecorder writes for an Event, decided as client-go's EventCorrelator decides it
// (tools/record/events_cache.go), without I/O: the caller passes the time and reports back what it
// wrote. Per involved object:
// - a token bucket (burst 25, one more every 5 minutes) drops Events beyond it, so a pool that keeps
//   failing cannot flood the namespace; a dropped Event changes nothing else;
// - similar Events (same type, reason and source, different messages) are combined: once 10 distinct
//   messages have come within 10 minutes of each other, the 10th and every other new message until
//   the similar Events pause for 10 minutes go to one Event, "(combined from similar events): <message>",
//   created once and then counted (client-go's EventAggregator, maxEvents 10, maxIntervalInSeconds 600);
// - an Event identical to one already recorded bumps that Event's count instead of creating another.
import type { CoreEvent } from '../sources/kube/kube-client.js';

/** What the recorder was asked for: the Event without its bookkeeping. */
export type EventRequest = Omit<CoreEvent, 'namespace'>;

export interface EventCorrelatorOptions {
  /** Spam filter per object: this many at once, then one per `refillMs` (client-go: 25, 5 min). */
  burst?: number;
  refillMs?: number;
  /** Distinct messages of similar Events, within `similarWindowMs` of each other, before they are combined (client-go: 10, 10 min). */
  maxSimilar?: number;
  similarWindowMs?: number;
}

/** An Event to write: create it with `message`, or patch the recorded Event `name` to `count`. */
export type EventWrite =
  | { action: 'create'; object: string; key: string; message: string }
  | { action: 'count'; object: string; key: string; message: string; name: string; count: number };

export type Correlation = { action: 'drop' } | EventWrite;

const COMBINED_PREFIX = '(combined from similar events): ';

// Distinct Events remembered per object (client-go keeps 4096 in all); the oldest is forgotten first.
const MAX_REMEMBERED = 64;

interface ObjectState {
  bucket: { tokens: number; at: number };
  /** Per similarity key: the distinct messages that keep their own Events, and when a similar Event last came. */
  similar: Map<string, { messages: Set<string>; last: number }>;
  /** Recorded Events by identity (or similarity key, for a combined Event), with their name and count; oldest first. */
  recorded: Map<string, { name: string; count: number }>;
}

export class EventCorrelator {
  private readonly objects = new Map<string, ObjectState>();
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxSimilar: number;
  private readonly similarWindowMs: number;

  constructor(opts: EventCorrelatorOptions = {}) {
    this.burst = opts.burst ?? 25;
    this.refillMs = opts.refillMs ?? 5 * 60_000;
    this.maxSimilar = opts.maxSimilar ?? 10;
    this.similarWindowMs = opts.similarWindowMs ?? 10 * 60_000;
  }

  /** Decides what to write for `e` at `now` (ms). Call `recorded` once the write has succeeded. */
  correlate(e: EventRequest, now: number): Correlation {
    const { namespace, name, uid } = e.involvedObject;
    const object = `${namespace}/${name}/${uid ?? ''}`;
    let state = this.objects.get(object);
    if (!state) this.objects.set(object, (state = { bucket: { tokens: this.burst, at: now }, similar: new Map(), recorded: new Map() }));
    if (!this.take(state.bucket, now)) return { action: 'drop' };

    const similarKey = JSON.stringify([e.type, e.reason, e.component, e.instance]);
    let similar = state.similar.get(similarKey);
    if (!similar || now - similar.last > this.similarWindowMs) state.similar.set(similarKey, (similar = { messages: new Set(), last: now }));
    similar.last = now;
    // client-go adds the message, and past the limit drops an arbitrary one of the set; dropping the
    // new one instead keeps each message on one Event for the whole window.
    const combined = !similar.messages.has(e.message) && similar.messages.size + 1 >= this.maxSimilar;
    if (!combined) similar.messages.add(e.message);

    const key = combined ? similarKey : JSON.stringify([e.type, e.reason, e.component, e.instance, e.message]);
    const message = combined ? COMBINED_PREFIX + e.message : e.message;
    const seen = state.recorded.get(key);
    return seen ? { action: 'count', object, key, message, name: seen.name, count: seen.count + 1 } : { action: 'create', object, key, message };
  }

  /** The API holds `write`'s Event as `name` with `count`. */
  recorded(write: EventWrite, name: string, count: number): void {
    const recorded = this.objects.get(write.object)?.recorded;
    if (!recorded) return; // forgotten while the write was under way
    recorded.delete(write.key); // re-inserted as the newest
    recorded.set(write.key, { name, count });
    if (recorded.size > MAX_REMEMBERED) recorded.delete(recorded.keys().next().value!);
  }

  /** Forgets a deleted pool's Events, similar messages and spam-filter bucket. */
  forget(namespace: string, name: string): void {
    for (const key of this.objects.keys()) if (key.startsWith(`${namespace}/${name}/`)) this.objects.delete(key);
  }

  private take(bucket: ObjectState['bucket'], now: number): boolean {
    const tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) / this.refillMs);
    const ok = tokens >= 1;
    bucket.tokens = ok ? tokens - 1 : tokens;
    bucket.at = now;
    return ok;
  }
}
