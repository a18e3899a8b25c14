// Writes BalancerPool status through the status subresource and records Events, on the leader only.
// The status written is exactly the computed one (a PUT of /status, so a field that went away goes
// away), conditional on the newest resourceVersion seen (the store's copy, the API's copy of a spec
// that was rejected, or the answer to our own last write, whichever is newest), and skipped when it
// equals what the API holds. A 409 fails the reconcile, which is retried once the watch has brought
// the newer pool.
import { objectKey, splitKey, type ObjectKey } from '../api/keys.js';
import type { BalancerPool, BalancerPoolStatus } from '../api/schema.js';
import { API_VERSION, KIND } from '../api/schema.js';
import { isNewerVersion } from '../api/resource-version.js';
import { formatFieldErrors, type FieldError } from '../api/validate.js';
import type { ReconcileObserver, ReconcileResult } from '../controller/pool-reconciler.js';
import { computeStatus, eventsFor, problemsOf } from '../controller/pool-status.js';
import type { Logger } from '../log.js';
import { KubeApiError, type Json, type KubeClient } from '../sources/kube/kube-client.js';
import type { EventRecorder } from './event-recorder.js';

export type StatusClient = Pick<KubeClient, 'replacePoolStatus'>;

export interface StatusWriterOptions {
  client: StatusClient;
  events: EventRecorder;
  logger: Logger;
  /** Reported as the Event's reportingInstance (the Pod name). */
  instance: string;
  /** A failed API call as the status says it (what failed, the fix); the error's message by default. */
  explain?: (err: unknown) => string;
  now?: () => Date;
}

/** A pool's status as the API last showed it, at that resourceVersion. */
interface Seen {
  resourceVersion?: string;
  status?: BalancerPoolStatus;
}

/** JSON with sorted keys: the API returns status fields in its own order. */
function canonical(value: unknown): string {
  return JSON.stringify(value ?? {}, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

export class StatusWriter implements ReconcileObserver {
  readonly leaderOnly = true;
  /** Pools whose newest spec was rejected, by key: the status says so until a valid spec arrives. */
  private readonly invalid = new Map<string, { generation?: number; message: string }>();
  /** The newest copy of each pool's status we know of, beyond the store's (which may lag our writes). */
  private readonly seen = new Map<string, Seen>();
  private readonly now: () => Date;

  constructor(private readonly opts: StatusWriterOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** The rejection the pool's status shows now, if any. */
  invalidSpec(key: ObjectKey): { generation?: number; message: string } | undefined {
    return this.invalid.get(key);
  }

  /** The KubeSource's onInvalid hook: the API holds a spec Ballast cannot accept. */
  rejected(raw: Json, errors: FieldError[], requeue: (key: string) => void): void {
    const meta = raw.metadata as { namespace?: string; name?: string; generation?: number; resourceVersion?: string } | undefined;
    if (raw.kind !== KIND || !meta?.name) return;
    const key = objectKey(meta.namespace, meta.name);
    this.invalid.set(key, { generation: meta.generation, message: `spec rejected: ${formatFieldErrors(errors)}` });
    // The store keeps the last good object and its old resourceVersion; writing with that would only earn a 409.
    this.remember(key, { resourceVersion: meta.resourceVersion, status: raw.status as BalancerPoolStatus | undefined });
    requeue(key);
  }

  async observe(result: ReconcileResult): Promise<void> {
    const { key, pool, plan, previous } = result;
    // A failed apply whose actuator names a reason for it is the pool's problem too: it says so where it can be read.
    const explain = this.opts.explain ?? ((err: unknown) => (err as Error).message);
    const reports = { ...result.reports };
    for (const { actuator, reason, error } of result.failures) if (reason) reports[actuator] = { problem: { reason, message: explain(error) } };
    if (!pool) {
      this.invalid.delete(key);
      this.seen.delete(key);
      const { namespace, name } = splitKey(key);
      this.opts.events.forget(namespace, name);
      return;
    }
    const invalid = this.invalid.get(key);
    if (invalid && (pool.metadata.generation ?? 0) >= (invalid.generation ?? 0)) this.invalid.delete(key);
    this.remember(key, { resourceVersion: pool.metadata.resourceVersion, status: pool.status });
    const before = this.seen.get(key)!;
    const { namespace, name } = splitKey(key);
    let failure: unknown;
    const status = computeStatus({ plan, reports, invalid: this.invalid.get(key), generation: pool.metadata.generation, previous: before.status, now: this.now() });
    if (canonical(status) !== canonical(before.status)) {
      try {
        // A 404 is expected: the pool was deleted since the watch showed it (the watch brings that too).
        const written = (await this.opts.client.replacePoolStatus(namespace, name, before.resourceVersion ?? '', status, { notFoundIsOk: true })) as BalancerPool;
        this.remember(key, { resourceVersion: written.metadata.resourceVersion, status: written.status });
      } catch (err) {
        // A 409: the pool changed since that version; the watch brings the new one, and the retry
        // (the reconcile fails, with backoff) starts from it. No re-read: nothing but the watch reads pools.
        if (err instanceof KubeApiError && err.status === 409) this.opts.logger.debug({ pool: key }, 'status write conflict; retrying from the newer version');
        failure = err;
      }
    }
    // Events follow the plan, not the status: swapping one backend for another leaves the counts alone.
    // "Before" is what the API showed, so an unchanged spec problem is not warned about again. They
    // are recorded even when the status write failed: the next reconcile sees no plan change.
    const events = eventsFor({ plan: previous, status: before.status }, { plan, status, problems: problemsOf(plan, reports, this.invalid.get(key)) });
    const involvedObject = { apiVersion: API_VERSION, kind: KIND, name, namespace, uid: pool.metadata.uid, resourceVersion: this.seen.get(key)?.resourceVersion };
    for (const e of events) await this.opts.events.record({ involvedObject, ...e, component: 'ballast', instance: this.opts.instance });
    if (failure) throw failure;
  }

  /** Keeps `copy` if it is newer than the one we hold. */
  private remember(key: string, copy: Seen): void {
    const held = this.seen.get(key);
    if (!held || isNewerVersion(copy.resourceVersion, held.resourceVersion)) this.seen.set(key, copy);
  }
}
