// Level-triggered reconcile of one pool key: re-read the store, plan, apply what changed. The key
// carries no event: "not in the store" means "remove everything for it".
import type { ProblemReason } from '../api/conditions.js';
import { objectKey, type ObjectKey } from '../api/keys.js';
import type { BalancerPool } from '../api/schema.js';
import type { Logger } from '../log.js';
import { computeDesiredPool, endpointId, samePlan, type DesiredPool } from '../plan/desired-pool.js';
import { diffPlans } from '../plan/plan-diff.js';
import { assignListeners, listenerClaim, type ListenerAddress, type ListenerAssignment } from '../plan/listener-claims.js';
import { ANY_NAMESPACE, type ListenerPolicy } from '../plan/listener-policy.js';
import type { Actuator, ActuatorReport } from './actuator.js';
import type { ReconcileOutcome, Reconciler } from './reconciler.js';
import type { ObjectStore } from './store.js';

export interface ReconcileResult {
  key: ObjectKey;
  /** The pool as read from the store; absent when it was deleted. */
  pool?: BalancerPool;
  plan?: DesiredPool;
  /** The plan applied before this reconcile, to tell what changed. */
  previous?: DesiredPool;
  /** One report per actuator, by actuator name (the last one when its plan did not change). */
  reports: Record<string, ActuatorReport>;
  /** Applies that threw this time (retried with backoff). */
  failures: ActuatorFailure[];
}

export interface ActuatorFailure {
  actuator: string;
  /** The actuator's `failureReason`: how the pool's status names the failure; absent: it is only logged. */
  reason?: ProblemReason;
  error: unknown;
}

/** Sees every reconcile outcome: status writers, Event recorders. Leader-only ones are skipped on followers. */
export interface ReconcileObserver {
  readonly leaderOnly?: boolean;
  observe(result: ReconcileResult): Promise<void>;
}

export interface ManagedActuator {
  actuator: Actuator;
  /** Cluster writes (ConfigMaps) need the Lease; proxies run on every replica. */
  leaderOnly?: boolean;
}

export interface PoolReconcilerOptions {
  /** The listener each pool has open now (the proxy's view); a serving pool keeps its address. */
  openListeners?: () => ReadonlyMap<ObjectKey, ListenerAddress>;
  /** Which namespaces may listen on which ports; every namespace when absent (dev mode). */
  listenerPolicy?: ListenerPolicy;
}

export class PoolReconciler implements Reconciler {
  private readonly applied = new Map<string, Map<ObjectKey, DesiredPool | undefined>>();
  private readonly reports = new Map<string, Map<ObjectKey, ActuatorReport>>();
  /** Pools refused a listener because another holds it: reconciled again when a listener closes or moves. */
  private readonly waiting = new Set<ObjectKey>();
  private leader = true;
  private readonly openListeners: () => ReadonlyMap<ObjectKey, ListenerAddress>;
  /**
   * The open listeners as last read, by pool and by port. Reading them copies every pool's, so a plan
   * reads them again only for a port whose listeners may have changed since: the proxy opens, moves
   * and closes listeners only while a plan is applied, and a port with an apply under way is read
   * afresh for every plan (a pool waiting for it is reconciled as soon as it is let go).
   */
  private open?: { version: number; byKey: ReadonlyMap<ObjectKey, ListenerAddress>; byPort: Map<number, Map<ObjectKey, ListenerAddress>> };
  private readonly changedPorts = new Set<number>();
  /** Applies under way, by the listener ports they may change. */
  private readonly applying = new Map<number, number>();
  /** Each port's assignment, for the store revision and open listeners it was decided from. */
  private readonly assignments = new Map<number, { revision: number; openVersion: number; assignment: ListenerAssignment }>();
  private readonly listenerPolicy: ListenerPolicy;

  constructor(
    private readonly store: ObjectStore,
    private readonly actuators: readonly ManagedActuator[],
    private readonly observers: readonly ReconcileObserver[],
    private readonly logger: Logger,
    options: PoolReconcilerOptions = {},
  ) {
    this.openListeners = options.openListeners ?? (() => new Map());
    this.listenerPolicy = options.listenerPolicy ?? ANY_NAMESPACE;
    for (const { actuator } of actuators) {
      this.applied.set(actuator.name, new Map());
      this.reports.set(actuator.name, new Map());
    }
  }

  /** Leader-only actuators and observers run only while `leader`; losing it forgets what they applied. */
  setLeader(leader: boolean): void {
    this.leader = leader;
    if (!leader) {
      for (const { actuator, leaderOnly } of this.actuators) {
        if (leaderOnly) {
          this.applied.get(actuator.name)!.clear();
          this.reports.get(actuator.name)!.clear();
        }
      }
    }
  }

  /** Pools waiting for a listener another pool holds: to reconcile again whenever a listener closes. */
  waitingForListener(): ObjectKey[] {
    return [...this.waiting];
  }

  /** The plan the proxy (or the first actuator) last applied for the key, for /debug/pools. */
  appliedPlans(): DesiredPool[] {
    const first = this.actuators[0];
    return first ? ([...this.applied.get(first.actuator.name)!.values()].filter(Boolean) as DesiredPool[]) : [];
  }

  plan(key: ObjectKey): { pool?: BalancerPool; plan?: DesiredPool } {
    const pool = this.store.get('BalancerPool', key);
    if (!pool) return {};
    const svc = pool.spec.service;
    const serviceKey = svc && objectKey(pool.metadata.namespace, svc.name);
    const plan = computeDesiredPool(pool, serviceKey ? this.store.get('Service', serviceKey) : undefined, serviceKey ? this.store.slicesOf(serviceKey) : []);
    if (!plan.listener) return { pool, plan };
    const problem = this.assignment(plan.listener.port).refused.get(key);
    return { pool, plan: problem ? { ...plan, listener: undefined, problems: [...plan.problems, problem] } : plan };
  }

  /**
   * Who gets which listener on `port`, decided by the pure plan from that port's claims and open
   * listeners alone (other ports cannot contest it), and decided again only when a pool changed or
   * a listener on the port may have: a resync of n pools costs O(n), not n assignments of n claims.
   */
  private assignment(port: number): ListenerAssignment {
    if (!this.open || this.changedPorts.has(port) || this.applying.has(port)) {
      const byKey = this.openListeners();
      const byPort = new Map<number, Map<ObjectKey, ListenerAddress>>();
      for (const [key, l] of byKey) byPort.set(l.port, (byPort.get(l.port) ?? new Map()).set(key, l));
      this.open = { version: (this.open?.version ?? 0) + 1, byKey, byPort };
      this.changedPorts.clear();
    }
    const revision = this.store.revision('BalancerPool');
    const memo = this.assignments.get(port);
    if (memo?.revision === revision && memo.openVersion === this.open.version) return memo.assignment;
    const claims = this.store.poolsListeningOn(port).map((key) => listenerClaim(this.store.get('BalancerPool', key)!)!);
    const assignment = assignListeners(claims, this.open.byPort.get(port) ?? new Map(), this.listenerPolicy);
    this.assignments.set(port, { revision, openVersion: this.open.version, assignment });
    return assignment;
  }

  /** Marks the start (1) or end (-1) of an apply for `key`: the ports of the listener it had and the one it asks for. */
  private applyingOn(ports: ReadonlySet<number>, delta: 1 | -1): void {
    for (const port of ports) {
      const n = (this.applying.get(port) ?? 0) + delta;
      if (n > 0) this.applying.set(port, n);
      else this.applying.delete(port);
      this.changedPorts.add(port);
    }
  }

  private listenerPorts(key: ObjectKey, last: DesiredPool | undefined, plan: DesiredPool | undefined): Set<number> {
    const ports = new Set<number>();
    for (const l of [this.open?.byKey.get(key), last?.listener, plan?.listener]) if (l) ports.add(l.port);
    return ports;
  }

  async reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileOutcome> {
    const { pool, plan } = this.plan(key);
    if (plan?.problems.some((p) => p.reason === 'ListenerConflict')) this.waiting.add(key);
    else this.waiting.delete(key);
    const reports: Record<string, ActuatorReport> = {};
    let previous: DesiredPool | undefined;
    let retry = false;
    const errors: unknown[] = [];
    const failures: ActuatorFailure[] = [];
    for (const { actuator, leaderOnly } of this.actuators) {
      signal.throwIfAborted();
      if (leaderOnly && !this.leader) continue;
      const applied = this.applied.get(actuator.name)!;
      const lastReports = this.reports.get(actuator.name)!;
      const last = applied.get(key);
      previous ??= last;
      const hadApplied = applied.has(key);
      if (hadApplied && samePlan(last, plan) && !lastReports.get(key)?.problem) {
        reports[actuator.name] = lastReports.get(key) ?? {};
        continue;
      }
      if (!hadApplied && !plan) continue;
      const ports = this.listenerPorts(key, last, plan);
      this.applyingOn(ports, 1);
      try {
        const report = await actuator.apply(key, plan);
        reports[actuator.name] = report;
        if (plan) {
          applied.set(key, plan);
          lastReports.set(key, report);
        } else {
          applied.delete(key);
          lastReports.delete(key);
        }
        if (report.problem) retry = true;
      } catch (err) {
        errors.push(err);
        failures.push({ actuator: actuator.name, reason: actuator.failureReason, error: err });
        this.logger.error({ pool: key, actuator: actuator.name, err }, 'actuator failed; will retry');
      } finally {
        this.applyingOn(ports, -1);
      }
    }
    this.logChange(key, previous, plan);
    const result: ReconcileResult = { key, pool, plan, previous, reports, failures };
    for (const observer of this.observers) {
      signal.throwIfAborted();
      if (observer.leaderOnly && !this.leader) continue;
      await observer.observe(result);
    }
    if (errors.length > 0) throw new AggregateError(errors, `reconcile of ${key} failed`);
    return { requeue: retry };
  }

  private logChange(key: ObjectKey, previous: DesiredPool | undefined, plan: DesiredPool | undefined) {
    if (samePlan(previous, plan)) return;
    const diff = diffPlans(previous, plan);
    const verb = !plan ? 'pool deleted' : !previous ? 'new pool' : 'pool updated';
    this.logger.info(
      {
        pool: key,
        event: !plan ? 'PoolRemoved' : !previous ? 'PoolAdded' : 'PoolUpdated',
        backends: plan?.backends.length ?? 0,
        added: diff.added,
        removed: diff.removed,
        weights: diff.weights.length ? diff.weights : undefined,
        listener: plan?.listener ? endpointId(plan.listener.address, plan.listener.port) : undefined,
        problems: plan?.problems.length ? plan.problems.map((p) => `${p.reason}: ${p.message}`) : undefined,
      },
      diff.changes.length ? `${verb}: ${diff.changes.join('; ')}` : verb,
    );
  }
}
