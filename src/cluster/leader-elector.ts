// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics
// (tools/leaderelection): a follower takes the lease only when its record has not changed for
// leaseDuration as measured on the follower's own clock (no clock-skew trust); the leader renews
// every retryPeriod and gives up leadership, at once, when it has not renewed within renewDeadline.
// Every Lease call is bounded (an AbortSignal): a renew on a frozen connection is abandoned at the
// renew deadline, and a timer steps the leader down then even if a call never returns, so a leader
// never writes after a follower could have taken the Lease (leaseDuration > renewDeadline).
import type { Logger } from '../log.js';
import { absentIfNotFound, KubeApiError, type KubeClient, type LeaseRecord } from '../sources/kube/kube-client.js';

export type LeaseClient = Pick<KubeClient, 'getLease' | 'writeLease'>;

export interface LeaderElectorOptions {
  client: LeaseClient;
  logger: Logger;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  now?: () => number;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  /** Fires at the renew deadline of a leader; every successful renew pushes it back. */
  private deadline?: NodeJS.Timeout;
  private observed?: { record: LeaseRecord; at: number };
  private lastRenew = 0;
  private readonly now: () => number;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.now = opts.now ?? Date.now;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops trying; a leader releases the lease so a follower can take it without waiting it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    if (!this.leading) return;
    this.setLeading(false);
    const rec = this.observed?.record;
    if (rec?.holderIdentity !== this.opts.identity) return;
    try {
      // A 404: the Lease is gone already, nothing to release.
      await this.opts.client
        .writeLease(this.opts.namespace, this.opts.name, {
          ...rec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: new Date(this.now()).toISOString(),
        }, { signal: AbortSignal.timeout(this.renewDeadlineMs), notFoundIsOk: true })
        .catch(absentIfNotFound);
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'releasing the lease failed; it will expire');
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    // A leader has until its renew deadline; a follower's attempt is bounded the same way.
    const started = this.now();
    const budget = this.leading ? this.lastRenew + this.renewDeadlineMs - started : this.renewDeadlineMs;
    const ok = await this.tryAcquireOrRenew(AbortSignal.timeout(Math.max(1, budget))).catch((err: unknown) => {
      // Said loudly, once per reason, by the client's failure reporter (api-failures.ts); a lost race
      // is no error (tryAcquireOrRenew returns false).
      this.opts.logger.debug({ err: (err as Error).message }, 'lease update failed');
      return false;
    });
    if (this.stopped) return;
    if (ok) {
      // Counted from the attempt's start: the follower's clock started no earlier.
      this.lastRenew = started;
      if (!this.leading) this.setLeading(true);
      clearTimeout(this.deadline);
      this.deadline = setTimeout(() => this.missedDeadline(), Math.max(0, started + this.renewDeadlineMs - this.now())).unref();
    } else if (this.leading && this.now() - this.lastRenew >= this.renewDeadlineMs) {
      this.missedDeadline();
    }
    this.timer = setTimeout(() => void this.tick(), this.retryPeriodMs * (this.leading ? 1 : 1 + Math.random() * 0.2)).unref();
  }

  private missedDeadline() {
    if (!this.leading || this.stopped) return;
    clearTimeout(this.deadline);
    this.opts.logger.warn({ lease: `${this.opts.namespace}/${this.opts.name}`, renewDeadlineMs: this.renewDeadlineMs }, 'failed to renew the lease within the renew deadline; stepping down');
    this.setLeading(false);
  }

  private setLeading(leading: boolean) {
    this.leading = leading;
    this.opts.logger.info({ identity: this.opts.identity, lease: `${this.opts.namespace}/${this.opts.name}` }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { client, namespace, name, identity } = this.opts;
    const now = this.now();
    const nowIso = new Date(now).toISOString();
    // No Lease yet (a 404) is the usual first answer: create it.
    const current = await client.getLease(namespace, name, { signal, notFoundIsOk: true }).catch(absentIfNotFound);
    const fresh: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: nowIso,
      renewTime: nowIso,
      leaseTransitions: 0,
    };
    if (!current) {
      // A 404 here is the Lease's namespace missing: a failure to report.
      this.observed = { record: await client.writeLease(namespace, name, fresh, { signal }), at: now };
      return true;
    }
    // Remember when the record last changed, on our clock.
    if (!this.observed || JSON.stringify(this.observed.record) !== JSON.stringify(current)) this.observed = { record: current, at: now };
    const holder = current.holderIdentity;
    const expired = this.observed.at + (current.leaseDurationSeconds ?? 0) * 1000 <= now;
    if (holder && holder !== identity && !expired) return false;
    const mine = holder === identity;
    const record: LeaseRecord = {
      ...fresh,
      acquireTime: mine ? current.acquireTime : nowIso,
      leaseTransitions: (current.leaseTransitions ?? 0) + (mine ? 0 : 1),
      resourceVersion: current.resourceVersion,
    };
    try {
      this.observed = { record: await client.writeLease(namespace, name, record, { signal, notFoundIsOk: true }), at: now };
      return true;
    } catch (err) {
      // Another replica wrote first (409), or deleted the Lease since we read it (404: the next try creates it).
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return false;
      throw err;
    }
  }
}
