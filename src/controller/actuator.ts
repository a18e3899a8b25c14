// The contract between the reconciler and whatever makes a plan real (proxy listeners, NGINX files,
// ConfigMaps). Modelled on controller-runtime's Reconciler: small, and explicit about retries.
import type { Problem, ProblemReason } from '../api/conditions.js';
import type { ObjectKey } from '../api/keys.js';
import type { DesiredPool } from '../plan/desired-pool.js';

/** What an actuator reports about one pool, for status conditions and Events. */
export interface ActuatorReport {
  /** What keeps the plan from being fully real, e.g. `ListenerFailed`, `ConfigMapTooLarge`; absent when all is well. */
  problem?: Problem;
  /** Facts worth putting in status, e.g. `{ listener: '0.0.0.0:8080' }` or `{ configMap: 'web-nginx' }`. */
  facts?: Record<string, string>;
}

export interface Actuator {
  readonly name: string;
  /**
   * The reason a failed apply (a throw) is reported under in the pool's status and Events, e.g.
   * `ConfigMapWriteFailed` for a write the API refused; absent: a failure is only logged and retried.
   */
  readonly failureReason?: ProblemReason;
  /**
   * Makes `plan` real for `key`; `undefined` means the pool is gone and everything for it is removed.
   * Called only when the plan differs from the last one applied successfully, one call per key at a
   * time. Must be idempotent. Throwing means "retry with backoff"; a problem the user must fix is
   * returned in the report instead (retrying would not help).
   */
  apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport>;
  /** Releases everything (listeners, sockets, timers). */
  close(): Promise<void>;
}
