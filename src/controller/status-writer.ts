// Writes BalancerPool status through the status subresource and records Events, on the leader only.
// A status write is skipped when nothing would change, and is conditional on the resourceVersion it
// was computed from: on 409 Conflict it re-reads the pool and tries again.
import { splitKey } from '../api/keys.js';
import type { BalancerPool, BalancerPoolStatus } from '../api/schema.js';
import { API_VERSION, KIND } from '../api/schema.js';
import { formatFieldErrors, type FieldError } from '../api/validate.js';
import type { Logger } from '../log.js';
import { KubeApiError, type Json, type KubeClient } from '../sources/kube/kube-client.js';
import type { ReconcileObserver, ReconcileResult } from './pool-reconciler.js';
import { computeStatus, eventsFor, problemsOf, type PoolEvent } from './pool-status.js';

const MAX_CONFLICT_RETRIES = 3;

export interface StatusWriterOptions {
  client: KubeClient;
  logger: Logger;
  /** Reported as the Event's reportingInstance (the Pod name). */
  instance: string;
  now?: () => Date;
  /** Called after each status write, with the written status (tests, metrics). */
  onWrite?: (key: string, status: BalancerPoolStatus) => void;
}

const strip = (s: BalancerPoolStatus | undefined) => JSON.stringify(s ?? {});

export class StatusWriter implements ReconcileObserver {
  readonly leaderOnly = true;
  /** Pools whose newest spec was rejected, by key: the status says so until a valid spec arrives. */
  private readonly invalid = new Map<string, { generation?: number; message: string }>();
  private readonly now: () => Date;

  constructor(private readonly opts: StatusWriterOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** The KubeSource's onInvalid hook: the API holds a spec Ballast cannot accept. */
  rejected(raw: Json, errors: FieldError[], requeue: (key: string) => void): void {
    const meta = raw.metadata as { namespace?: string; name?: string; generation?: number } | undefined;
    if (raw.kind !== KIND || !meta?.name) return;
    const key = `${meta.namespace ?? 'default'}/${meta.name}`;
    this.invalid.set(key, { generation: meta.generation, message: `spec rejected: ${formatFieldErrors(errors)}` });
    requeue(key);
  }

  async observe(result: ReconcileResult): Promise<void> {
    const { key, pool, plan, previous, reports } = result;
    if (!pool) {
      this.invalid.delete(key);
      return;
    }
    const invalid = this.invalid.get(key);
    if (invalid && (pool.metadata.generation ?? 0) >= (invalid.generation ?? 0)) this.invalid.delete(key);
    const before = pool.status;
    const { namespace, name } = splitKey(key);
    let current: BalancerPool | Json = pool;
    let status: BalancerPoolStatus;
    for (let attempt = 0; ; attempt++) {
      const seen = (current as BalancerPool).status;
      status = computeStatus({ plan, reports, invalid: this.invalid.get(key), generation: pool.metadata.generation, previous: seen, now: this.now() });
      if (strip(status) === strip(seen)) break;
      try {
        await this.opts.client.patchPoolStatus(namespace, name, status, (current as BalancerPool).metadata.resourceVersion);
        this.opts.onWrite?.(key, status);
        break;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        this.opts.logger.debug({ pool: key, attempt }, 'status write conflict; re-reading the pool');
        current = await this.opts.client.getPool(namespace, name);
      }
    }
    // Events follow the plan, not the status: swapping one backend for another leaves the counts alone.
    await this.record(pool, eventsFor({ plan: previous, status: before }, { plan, status, problems: problemsOf(plan, reports, this.invalid.get(key)) }));
  }

  private async record(pool: BalancerPool, events: PoolEvent[]): Promise<void> {
    for (const e of events) {
      try {
        await this.opts.client.createEvent({
          namespace: pool.metadata.namespace ?? 'default',
          involvedObject: {
            apiVersion: API_VERSION,
            kind: KIND,
            name: pool.metadata.name,
            namespace: pool.metadata.namespace ?? 'default',
            uid: pool.metadata.uid,
            resourceVersion: pool.metadata.resourceVersion,
          },
          ...e,
          component: 'ballast',
          instance: this.opts.instance,
        });
      } catch (err) {
        // Events are best effort, as in client-go's recorder: never fail a reconcile over one.
        this.opts.logger.warn({ pool: pool.metadata.name, reason: e.reason, err: (err as Error).message }, 'event not recorded');
      }
    }
  }
}
