// The contract between the Manager and what it drives, after controller-runtime's
// reconcile.Reconciler: the Manager owns keys, ordering, deadlines and backoff; a Reconciler only
// makes one key right.
import type { ObjectKey } from '../api/keys.js';

export interface ReconcileOutcome {
  /** Call again for this key, with backoff: a problem it may get past by itself (e.g. a busy port). */
  requeue: boolean;
}

export interface Reconciler {
  /**
   * Makes the world match the store for `key`; a key missing from the store means "remove what was
   * made for it". Level-triggered: the key carries no event, everything is re-read. The Manager never
   * runs two reconciles of one key at once. `signal` aborts at the Manager's deadline: stop at the next
   * step and reject with `signal.reason`. Rejecting means failure, retried with per-key backoff.
   */
  reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileOutcome>;
}
