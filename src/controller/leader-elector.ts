// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics
// (tools/leaderelection): a follower takes the lease only when its record has not changed for
// leaseDuration as measured on the follower's own clock (no clock-skew trust); the leader renews
// every retryPeriod and gives up leadership, at once, when it has not renewed within renewDeadline.
import type { Logger } from '../log.js';
import { KubeApiError, type KubeClient, type LeaseRecord } from '../sources/kube/kube-client.js';

export interface LeaderElectorOptions {
  client: KubeClient;
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
  private observed?: { record: LeaseRecord; at: number };
  private lastRenew = 0;
  /** The last failure reported, so a lasting one (a missing namespace, no permission) is logged once. */
  private lastError?: string;
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
    if (!this.leading) return;
    this.setLeading(false);
    const rec = this.observed?.record;
    if (rec?.holderIdentity !== this.opts.identity) return;
    try {
      await this.opts.client.writeLease(this.opts.namespace, this.opts.name, {
        ...rec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: new Date(this.now()).toISOString(),
      });
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'releasing the lease failed; it will expire');
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
      // A lost race is not an error (tryAcquireOrRenew returns false); this is: until it is fixed,
      // this replica never leads, so nothing writes status. Say so once per distinct reason.
      const message = (err as Error).message;
      this.opts.logger.debug({ err: message }, 'lease update failed');
      if (message !== this.lastError) this.opts.logger.warn({ lease: `${this.opts.namespace}/${this.opts.name}`, err: message }, 'cannot acquire or renew the lease');
      this.lastError = message;
      return false;
    });
    if (this.stopped) return;
    if (ok) {
      this.lastError = undefined;
      this.lastRenew = this.now();
      if (!this.leading) this.setLeading(true);
    } else if (this.leading && this.now() - this.lastRenew >= this.renewDeadlineMs) {
      this.opts.logger.warn({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'failed to renew the lease within the renew deadline; stepping down');
      this.setLeading(false);
    }
    this.timer = setTimeout(() => void this.tick(), this.retryPeriodMs * (this.leading ? 1 : 1 + Math.random() * 0.2)).unref();
  }

  private setLeading(leading: boolean) {
    this.leading = leading;
    this.opts.logger.info({ identity: this.opts.identity, lease: `${this.opts.namespace}/${this.opts.name}` }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.opts;
    const now = this.now();
    const nowIso = new Date(now).toISOString();
    const current = await client.getLease(namespace, name);
    const fresh: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: nowIso,
      renewTime: nowIso,
      leaseTransitions: 0,
    };
    if (!current) {
      this.observed = { record: await client.writeLease(namespace, name, fresh), at: now };
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
      this.observed = { record: await client.writeLease(namespace, name, record), at: now };
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false; // another replica wrote first
      throw err;
    }
  }
}
