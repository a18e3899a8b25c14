// The in-process proxy as an actuator: one listener and one live pool per BalancerPool plan.
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { Problem } from '../api/conditions.js';
import type { ObjectKey } from '../api/keys.js';
import type { ReadinessCheck } from '../admin/readiness.js';
import type { ActuatorReport } from '../controller/actuator.js';
import type { Logger } from '../log.js';
import { endpointId, type DesiredPool } from '../plan/desired-pool.js';
import type { ListenerAddress } from '../plan/listener-claims.js';
import { LivePool, type PoolTraffic } from './live-pool.js';
import { DEFAULT_LIMITS, PoolListener, type ServerLimits } from './pool-listener.js';
import type { ListenerState, ProxyEngine, ProxyPoolState, ProxyView, ShutdownOptions } from './proxy-engine.js';
import { ProxyMetrics } from './proxy-metrics.js';

export interface ProxyPoolsOptions {
  logger: Logger;
  /** Where the data-plane metrics go; a private registry when absent. */
  registry?: Registry;
  /** Client-side limits for every listener; see ServerLimits for the defaults. */
  limits?: Partial<ServerLimits>;
  /** A listener stopped accepting (pool removed, listener moved): pools waiting for its address may take it now. */
  onListenerClosed?: () => void;
  /** How long a removed backend's series are still scraped (default 10 minutes), so the errors before its removal are seen. */
  seriesRetentionMs?: number;
}

interface Entry {
  pool: LivePool;
  listener?: PoolListener;
  /** The address the open listener was asked for (port may be 0), to tell a move from a no-op. */
  wanted?: ListenerAddress;
  /** The last attempt to open the plan's listener failed. */
  problem?: Problem;
}

interface Retiring {
  listener?: PoolListener;
  pool?: LivePool;
  done: Promise<void>;
}

export class ProxyPools implements ProxyEngine {
  readonly name = 'proxy';
  readonly #logger: Logger;
  readonly #registry: Registry;
  readonly #metrics: ProxyMetrics;
  readonly #limits: ServerLimits;
  readonly #onListenerClosed: () => void;
  readonly #pools = new Map<ObjectKey, Entry>();
  /** Listeners and pools that were replaced or removed and are still draining. */
  readonly #retiring = new Set<Retiring>();
  #shutdown?: Promise<void>;
  /** Shut down or closed: plans are no longer applied. */
  #stopped = false;

  constructor(options: ProxyPoolsOptions) {
    this.#logger = options.logger.child({ component: 'proxy' });
    this.#registry = options.registry ?? new Registry();
    this.#metrics = new ProxyMetrics(this.#registry, options.seriesRetentionMs);
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#onListenerClosed = options.onListenerClosed ?? (() => {});
  }

  /** In this process: nothing to start. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  /** The listener each pool has open, by the address its plan asked for. */
  listeners(): Map<ObjectKey, ListenerAddress> {
    const out = new Map<ObjectKey, ListenerAddress>();
    for (const [key, { wanted }] of this.#pools) if (wanted) out.set(key, wanted);
    return out;
  }

  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    let entry = this.#pools.get(key);
    // A pool without a listener is NGINX-only: nothing for the proxy to serve.
    if (!plan?.listener || this.#stopped) {
      if (entry) this.#remove(key, entry);
      return {};
    }
    if (entry) entry.pool.update(plan);
    else this.#pools.set(key, (entry = { pool: new LivePool(plan, { logger: this.#logger, metrics: this.#metrics }) }));
    return this.#applyListener(entry, plan, plan.listener);
  }

  /** Opens or moves the pool's listener. A listener that cannot open is reported, and tried again next apply. */
  async #applyListener(entry: Entry, plan: DesiredPool, wanted: ListenerAddress): Promise<ActuatorReport> {
    const { address, port } = wanted;
    const idleTimeoutMs = plan.timeouts.idleSeconds * 1000;
    const requestTimeoutMs = plan.timeouts.requestSeconds * 1000;
    const drainMs = plan.drainTimeoutSeconds * 1000;
    const old = entry.listener;
    if (old && entry.wanted?.address === address && entry.wanted.port === port) {
      old.idleTimeoutMs = idleTimeoutMs;
      old.requestTimeoutMs = requestTimeoutMs;
      return { facts: { listener: old.address } };
    }
    const open = () => PoolListener.open({ address, port, router: entry.pool, limits: this.#limits, idleTimeoutMs, requestTimeoutMs, logger: this.#logger });
    let listener: PoolListener;
    try {
      listener = await open().catch((err: NodeJS.ErrnoException) => {
        // Same port, other address (127.0.0.1 → 0.0.0.0): the old socket holds the port, so it must stop
        // accepting first. Its in-flight requests still finish.
        // `wanted` stays: the pool still holds the port for other pools' claims while it re-opens.
        if (err.code !== 'EADDRINUSE' || !old || !old.address.endsWith(`:${port}`)) throw err;
        this.#retire({ listener: old }, drainMs);
        entry.listener = undefined;
        return open();
      });
    } catch (err) {
      if (old && !entry.listener) {
        // The old listener was closed for a re-open that failed: the pool holds nothing now.
        entry.wanted = undefined;
        this.#onListenerClosed();
      }
      const e = err as NodeJS.ErrnoException;
      entry.problem = { reason: 'ListenerFailed', message: `cannot listen on ${endpointId(address, port)}: ${e.code ?? e.message}` };
      this.#logger.warn({ pool: plan.key, listener: endpointId(address, port), err: e.message }, 'listener failed');
      return { problem: entry.problem, ...(entry.listener && { facts: { listener: entry.listener.address } }) };
    }
    if (this.#pools.get(plan.key) !== entry) {
      // Closed or shut down while the listener was opening.
      await listener.close(0);
      return {};
    }
    const replaced = entry.listener;
    entry.listener = listener;
    entry.wanted = wanted;
    entry.problem = undefined;
    if (replaced) {
      this.#retire({ listener: replaced }, drainMs);
      this.#onListenerClosed();
    }
    this.#logger.info({ pool: plan.key, listener: listener.address }, 'listening');
    return { facts: { listener: listener.address } };
  }

  #remove(key: ObjectKey, entry: Entry): void {
    this.#pools.delete(key);
    this.#logger.info({ pool: key }, 'pool removed from the proxy; draining');
    this.#retire({ listener: entry.listener, pool: entry.pool }, entry.pool.plan.drainTimeoutSeconds * 1000);
    if (entry.listener) this.#onListenerClosed();
  }

  /**
   * Drains a replaced listener and/or a removed pool in the background, within the pool's drain
   * time. A removed pool takes no new request at once; its listener only stops accepting.
   */
  #retire(what: { listener?: PoolListener; pool?: LivePool }, graceMs: number): void {
    this.#track(what, Promise.all([what.listener?.close(graceMs), what.pool?.retire(graceMs)]));
  }

  #track(what: { listener?: PoolListener; pool?: LivePool }, work: Promise<unknown>): void {
    const item: Retiring = { ...what, done: work.then(() => void this.#retiring.delete(item)) };
    this.#retiring.add(item);
  }

  /**
   * Brings the deadline of a retiring listener and pool to `ms` from now at the latest. The clients
   * are cut first and the pool's backends after: with both on one deadline, the order of two timers
   * would decide whether a request left at the deadline is reset or answered 502 by a backend cut
   * under it.
   */
  #hurry(item: Retiring, ms: number): Promise<void> {
    const { listener, pool } = item;
    const deadline = Date.now() + ms;
    // Upgraded connections are the pool's: they keep the rest of the time if the listener is done early.
    if (listener) void listener.close(ms).then(() => pool?.retire(Math.max(0, deadline - Date.now())));
    else void pool?.retire(ms);
    return item.done;
  }

  /** Whether each pool's listener is open, and why not, for /readyz. */
  listenerStates(): ListenerState[] {
    return [...this.#pools].map(([pool, { listener, problem }]) => ({ pool, open: listener !== undefined, problem: problem?.message }));
  }

  readyChecks(): ReadinessCheck[] {
    return [];
  }

  views(): Promise<ProxyView[]> {
    return Promise.resolve([{ pools: this.snapshot() }]);
  }

  metrics(): Promise<string> {
    return this.#registry.metrics();
  }

  /** Per-pool state for /debug/pools: listener, backends with state and in-flight counts. */
  snapshot(): Record<ObjectKey, ProxyPoolState> {
    const out: Record<ObjectKey, ProxyPoolState> = {};
    for (const [key, { pool, listener, problem }] of this.#pools) {
      out[key] = { listener: listener?.address, clientConnections: listener?.connections ?? 0, requests: listener?.requests ?? 0, listenerProblem: problem, ...pool.snapshot() };
    }
    return out;
  }

  /** Per-pool request tallies, for the dashboard's sampler. */
  traffic(): Map<ObjectKey, PoolTraffic> {
    const out = new Map<ObjectKey, PoolTraffic>();
    for (const [key, { pool }] of this.#pools) out.set(key, pool.traffic());
    return out;
  }

  /**
   * Graceful stop, readiness first (the caller has already failed /readyz): keep serving for
   * `acceptDelayMs`, then stop listening, answer with `Connection: close`, and let in-flight requests
   * finish, then upgraded connections. Resolves when all are done, or at the grace deadline with the
   * rest cut. Idempotent.
   */
  shutdown({ acceptDelayMs, graceMs }: ShutdownOptions): Promise<void> {
    this.#shutdown ??= (async () => {
      await sleep(acceptDelayMs);
      this.#stopped = true;
      const deadline = Date.now() + graceMs;
      const left = () => Math.max(0, deadline - Date.now());
      for (const entry of this.#pools.values()) {
        const { listener, pool } = entry;
        // Requests already on their way keep being routed until the listener has drained.
        this.#track(entry, listener ? listener.close(graceMs).then(() => pool.retire(left())) : pool.retire(graceMs));
      }
      this.#pools.clear();
      await Promise.all([...this.#retiring].map((item) => this.#hurry(item, left())));
    })();
    return this.#shutdown;
  }

  /** Closes everything now: listeners, client and backend connections, timers. */
  async close(): Promise<void> {
    this.#stopped = true;
    for (const { listener, pool } of this.#pools.values()) this.#track({ listener, pool }, Promise.all([listener?.close(0), pool.retire(0)]));
    this.#pools.clear();
    await Promise.all([...this.#retiring].map((item) => this.#hurry(item, 0)));
    this.#metrics.clear();
  }
}
