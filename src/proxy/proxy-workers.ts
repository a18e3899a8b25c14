// `--workers N`: the proxy actuator of a primary process whose N node:cluster workers serve. The
// primary keeps the one control loop (sources, store, reconciler, admin listener); this actuator
// sends each plan to every worker, where a ProxyPools applies it, and answers for all of them.
//
// What holds across workers: each worker swaps its own immutable snapshot, so no worker ever serves a
// mix of two plans, but two workers may switch a few milliseconds apart. Drain, retries, limits and
// active health run in each worker as they do in one process (active health probes N times as often);
// passive health (outlierDetection) counts each worker's own failures. A worker that dies is forked
// again with backoff and gets every current plan before it counts as ready; the others keep serving.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ObjectKey } from '../api/keys.js';
import type { ActuatorReport } from '../controller/actuator.js';
import type { ReadinessCheck } from '../admin/readiness.js';
import type { Logger } from '../log.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import type { ListenerAddress } from '../plan/listener-claims.js';
import type { PoolTraffic } from './live-pool.js';
import type { ListenerState, ProxyEngine, ProxyPoolState, ProxyView, ShutdownOptions } from './proxy-engine.js';
import { RequestTally, type TallyCounts } from './request-tally.js';

/** What the primary sends a worker; every message is answered with a `ballast:reply` of its id. */
export type ToWorker =
  | { type: 'ballast:apply'; id: number; key: ObjectKey; plan: DesiredPool | null }
  | { type: 'ballast:snapshot'; id: number }
  | { type: 'ballast:metrics'; id: number }
  | { type: 'ballast:traffic'; id: number }
  | { type: 'ballast:shutdown'; id: number; options: ShutdownOptions };

/** What a worker sends the primary. */
export type ToPrimary =
  | { type: 'ballast:started' }
  | { type: 'ballast:reply'; id: number; result?: unknown; error?: string }
  /** A listener closed: the pools the worker now holds listeners for. */
  | { type: 'ballast:listeners'; listeners: [ObjectKey, ListenerAddress][] };

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
/** A message without its id, which #ask adds. */
type Question = ToWorker extends infer M ? (M extends ToWorker ? Omit<M, 'id'> : never) : never;

interface Applied {
  report: ActuatorReport;
  listeners: [ObjectKey, ListenerAddress][];
}

/** A worker's PoolTraffic as plain data: [pool, {pool, backends: [backend, counts][]}][]. */
export type WorkerTraffic = [ObjectKey, { pool: TallyCounts; backends: [string, TallyCounts][] }][];

/** ProxyPools.traffic() as WorkerTraffic, for the IPC reply. */
export function plainTraffic(traffic: Map<ObjectKey, PoolTraffic>): WorkerTraffic {
  return [...traffic].map(([key, t]) => [key, { pool: t.pool.toJSON(), backends: [...t.backends].map(([id, b]) => [id, b.toJSON()]) }]);
}

export interface ProxyWorkersOptions {
  count: number;
  logger: Logger;
  /** The primary's registry; /metrics adds the workers' to it. */
  registry: Registry;
  /** As ProxyPools' option: a worker closed a listener. */
  onListenerClosed?: () => void;
  /** Delay before forking a dead worker again; doubles with each quick death, up to 10 s. */
  restartDelayMs?: number;
}

/** The worker went away before it answered. */
class WorkerExited extends Error {}

interface Slot {
  /** 1..N, the same across restarts: `worker` in logs and /debug/pools. */
  index: number;
  worker?: Worker;
  exited?: Promise<void>;
  started: boolean;
  /** Has applied every plan that was current when it started: it counts for readiness. */
  current: boolean;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
  reports: Map<ObjectKey, ActuatorReport>;
  listeners: Map<ObjectKey, ListenerAddress>;
  /** Deaths in a row within RESTART_RESET_MS of starting. */
  restarts: number;
  forkedAt: number;
}

/** A worker that lived this long starts its next restart from the base delay again. */
const RESTART_RESET_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that does not answer a question in this time is left out of the answer (it is busy or stuck). */
const QUESTION_TIMEOUT_MS = 5000;

export class ProxyWorkers implements ProxyEngine {
  readonly name = 'proxy';
  readonly #logger: Logger;
  readonly #registry: Registry;
  readonly #onListenerClosed: () => void;
  readonly #restartDelayMs: number;
  /** The plan of every pool, in the order given: what a (re)started worker is sent first. */
  readonly #plans = new Map<ObjectKey, DesiredPool>();
  /** The workers' traffic, summed (see traffic()). */
  readonly #traffic = new Map<ObjectKey, PoolTraffic>();
  readonly #slots: Slot[];
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #nextId = 0;
  #stopping = false;
  #startedAll = false;
  #shutdown?: Promise<void>;
  #startedOnce!: { resolve: () => void; reject: (e: Error) => void };

  constructor(options: ProxyWorkersOptions) {
    this.#logger = options.logger.child({ component: 'proxy' });
    this.#registry = options.registry;
    this.#onListenerClosed = options.onListenerClosed ?? (() => {});
    this.#restartDelayMs = options.restartDelayMs ?? 100;
    // See docs/adr/0001-proxy-engine.md, "Workers": the kernel spreads connections with no per-connection
    // work in the primary. NODE_CLUSTER_SCHED_POLICY=rr (Node's own variable) chooses round robin.
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
    this.#slots = Array.from({ length: options.count }, (_, i) => ({
      index: i + 1,
      started: false,
      current: false,
      pending: new Map(),
      reports: new Map(),
      listeners: new Map(),
      restarts: 0,
      forkedAt: 0,
    }));
  }

  /** Forks the workers; resolves when every one has started, rejects when one dies before that. */
  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.#startedOnce = { resolve, reject }));
    for (const slot of this.#slots) this.#fork(slot);
    return started;
  }

  #fork(slot: Slot): void {
    // The worker is this same program (process.argv[1]), which runs runProxyWorker when cluster.isWorker.
    const worker = cluster.fork({ BALLAST_WORKER: String(slot.index) });
    Object.assign(slot, { worker, started: false, current: false, forkedAt: Date.now() });
    slot.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    // A send to a worker that just died fails asynchronously: its exit is handled below.
    worker.on('error', (err) => this.#logger.debug({ worker: slot.index, err }, 'proxy worker channel error'));
    worker.on('message', (message: ToPrimary) => this.#onMessage(slot, message));
    worker.once('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
  }

  #onMessage(slot: Slot, message: ToPrimary): void {
    switch (message.type) {
      case 'ballast:started': {
        slot.started = true;
        this.#logger.info({ worker: slot.index, pid: slot.worker?.process.pid }, 'proxy worker started');
        const replay = [...this.#plans].map(([key, plan]) => this.#applyIn(slot, key, plan).catch(() => {}));
        void Promise.all(replay).then(() => {
          if (slot.started) slot.current = true;
        });
        if (!this.#startedAll && this.#slots.every((s) => s.started)) {
          this.#startedAll = true;
          this.#startedOnce.resolve();
        }
        return;
      }
      case 'ballast:reply': {
        const waiting = slot.pending.get(message.id);
        slot.pending.delete(message.id);
        if (message.error !== undefined) waiting?.reject(new Error(`proxy worker ${slot.index}: ${message.error}`));
        else waiting?.resolve(message.result);
        return;
      }
      case 'ballast:listeners':
        slot.listeners = new Map(message.listeners);
        this.#onListenerClosed();
        return;
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    for (const { reject } of slot.pending.values()) reject(new WorkerExited(`proxy worker ${slot.index} exited`));
    Object.assign(slot, { worker: undefined, started: false, current: false, pending: new Map(), reports: new Map(), listeners: new Map() });
    if (this.#stopping) return;
    if (!this.#startedAll) {
      // A worker that cannot start is a bug or a broken install, not a crash to ride out.
      this.#startedOnce.reject(new Error(`proxy worker ${slot.index} exited (${signal ?? `code ${code}`}) before it started`));
      return;
    }
    if (Date.now() - slot.forkedAt > RESTART_RESET_MS) slot.restarts = 0;
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, this.#restartDelayMs * 2 ** slot.restarts);
    slot.restarts++;
    this.#logger.error({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'proxy worker exited; the others keep serving');
    this.#onListenerClosed();
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (!this.#stopping) this.#fork(slot);
    }, delayMs);
    this.#restartTimers.add(timer);
  }

  #ask<T>(slot: Slot, message: Question, timeoutMs?: number): Promise<T> {
    const { worker } = slot;
    if (!worker?.isConnected()) return Promise.reject(new WorkerExited(`proxy worker ${slot.index} is not running`));
    const id = ++this.#nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        slot.pending.delete(id);
        reject(new Error(`proxy worker ${slot.index} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = <A extends unknown[]>(f: (...a: A) => void) => (...a: A) => {
        clearTimeout(timer);
        f(...a);
      };
      slot.pending.set(id, { resolve: done(resolve as (v: unknown) => void), reject: done(reject) });
      worker.send({ ...message, id } as ToWorker);
    });
  }

  async #applyIn(slot: Slot, key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    const { report, listeners } = await this.#ask<Applied>(slot, { type: 'ballast:apply', key, plan: plan ?? null });
    if (plan) slot.reports.set(key, report);
    else slot.reports.delete(key);
    slot.listeners = new Map(listeners);
    return report;
  }

  #running(): Slot[] {
    return this.#slots.filter((s) => s.started);
  }

  /**
   * Applies `plan` in every running worker; a worker that dies meanwhile is left out (its successor
   * replays the plan). The report is the first problem any worker met, else the first facts.
   */
  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    if (this.#stopping) return {};
    if (plan) this.#plans.set(key, plan);
    else this.#plans.delete(key);
    const reports = await Promise.all(
      this.#running().map((slot) =>
        this.#applyIn(slot, key, plan).catch((err: unknown) => {
          if (err instanceof WorkerExited) return undefined;
          throw err;
        }),
      ),
    );
    const got = reports.filter((r) => r !== undefined);
    return got.find((r) => r.problem) ?? got.find((r) => r.facts) ?? {};
  }

  /** The listener each pool has open in any worker, by the address its plan asked for. */
  listeners(): Map<ObjectKey, ListenerAddress> {
    const out = new Map<ObjectKey, ListenerAddress>();
    for (const slot of this.#running()) for (const [key, address] of slot.listeners) if (!out.has(key)) out.set(key, address);
    return out;
  }

  /** A pool's listener is open when it is open in every running worker. */
  listenerStates(): ListenerState[] {
    const running = this.#running();
    return [...this.#plans.values()]
      .filter((plan) => plan.listener)
      .map((plan) => {
        const reports = running.map((s) => s.reports.get(plan.key));
        return { pool: plan.key, open: running.length > 0 && reports.every((r) => r?.facts?.listener !== undefined), problem: reports.find((r) => r?.problem)?.problem?.message };
      });
  }

  /** /readyz: every worker runs and has applied the plans that were current when it started. */
  readyChecks(): ReadinessCheck[] {
    const running = this.#running().length;
    const behind = this.#slots.filter((s) => s.started && !s.current).map((s) => s.index);
    const failure =
      running < this.#slots.length
        ? `${running} of ${this.#slots.length} proxy workers running`
        : behind.length > 0
          ? `proxy worker ${behind.join(', ')} has not applied the current plans yet`
          : undefined;
    return [{ name: 'workers', failure }];
  }

  /** Each running worker's pools, for /debug/pools; a worker that does not answer in time is left out. */
  async views(): Promise<ProxyView[]> {
    const answers = await Promise.all(
      this.#running().map((slot) =>
        this.#ask<Record<ObjectKey, ProxyPoolState>>(slot, { type: 'ballast:snapshot' }, QUESTION_TIMEOUT_MS).then(
          (pools) => ({ worker: slot.index, pid: slot.worker?.process.pid, pools }),
          () => undefined,
        ),
      ),
    );
    return answers.filter((a) => a !== undefined);
  }

  /**
   * Every running worker's traffic counts, summed into tallies kept from call to call (the dashboard's
   * sampler tells a pool re-created by the proxy by a new tally). A restarted worker counts from zero
   * again, so a sum can go down once.
   */
  async traffic(): Promise<Map<ObjectKey, PoolTraffic>> {
    const answers = await Promise.all(
      this.#running().map((slot) => this.#ask<WorkerTraffic>(slot, { type: 'ballast:traffic' }, QUESTION_TIMEOUT_MS).catch(() => [] as WorkerTraffic)),
    );
    const parts = new Map<ObjectKey, { pool: TallyCounts[]; backends: Map<string, TallyCounts[]> }>();
    for (const [key, { pool, backends }] of answers.flat()) {
      let p = parts.get(key);
      if (!p) parts.set(key, (p = { pool: [], backends: new Map() }));
      p.pool.push(pool);
      for (const [id, counts] of backends) p.backends.set(id, [...(p.backends.get(id) ?? []), counts]);
    }
    for (const key of this.#traffic.keys()) if (!parts.has(key)) this.#traffic.delete(key);
    for (const [key, p] of parts) {
      let kept = this.#traffic.get(key);
      if (!kept) this.#traffic.set(key, (kept = { pool: new RequestTally(), backends: new Map() }));
      kept.pool.setSum(p.pool);
      for (const id of kept.backends.keys()) if (!p.backends.has(id)) kept.backends.delete(id);
      for (const [id, counts] of p.backends) {
        let backend = kept.backends.get(id);
        if (!backend) kept.backends.set(id, (backend = new RequestTally()));
        backend.setSum(counts);
      }
    }
    return this.#traffic;
  }

  /** The primary's metrics and every worker's, summed as prom-client's cluster aggregation does. */
  async metrics(): Promise<string> {
    const workers = await Promise.all(
      this.#running().map((slot) =>
        this.#ask<MetricsJson>(slot, { type: 'ballast:metrics' }, QUESTION_TIMEOUT_MS).catch((err: unknown) => {
          this.#logger.warn({ worker: slot.index, err: (err as Error).message }, 'proxy worker left out of /metrics');
          return undefined;
        }),
      ),
    );
    const all = [await this.#registry.getMetricsAsJSON(), ...workers.filter((w) => w !== undefined)];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** Graceful stop of every worker (see ProxyPools.shutdown); resolves when all have exited. Idempotent. */
  shutdown(options: ShutdownOptions): Promise<void> {
    this.#shutdown ??= this.#stopAll(options, options.acceptDelayMs + options.graceMs + 5000);
    return this.#shutdown;
  }

  /** Stops every worker now. */
  close(): Promise<void> {
    return this.#shutdown ?? (this.#shutdown = this.#stopAll({ acceptDelayMs: 0, graceMs: 0 }, 2000));
  }

  /** Asks every worker to shut down; one still alive `killAfterMs` later is killed. */
  async #stopAll(options: ShutdownOptions, killAfterMs: number): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    const live = this.#slots.filter((s) => s.worker);
    for (const slot of live) {
      if (slot.worker?.isConnected()) slot.worker.send({ type: 'ballast:shutdown', id: ++this.#nextId, options } satisfies ToWorker);
      else slot.worker?.process.kill('SIGKILL');
    }
    const kill = setTimeout(() => {
      for (const slot of live.filter((s) => s.worker)) {
        this.#logger.warn({ worker: slot.index }, 'proxy worker did not stop in time; killed');
        slot.worker?.process.kill('SIGKILL');
      }
    }, killAfterMs);
    await Promise.all(live.map((s) => s.exited));
    clearTimeout(kill);
  }
}
