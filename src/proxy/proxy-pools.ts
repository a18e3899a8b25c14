// The in-process proxy as an actuator: one listener and one live pool per BalancerPool plan.
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { ObjectKey } from '../api/keys.js';
import type { Actuator, ActuatorReport } from '../controller/actuator.js';
import type { Logger } from '../log.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import { LivePool, type PoolSnapshot } from './live-pool.js';
import { DEFAULT_LIMITS, PoolListener, type ServerLimits } from './pool-listener.js';
import { ProxyMetrics } from './proxy-metrics.js';

export interface ProxyPoolsOptions {
  logger: Logger;
  /** Where the data-plane metrics go; a private registry when absent. */
  registry?: Registry;
  /** Client-side limits for every listener; see ServerLimits for the defaults. */
  limits?: Partial<ServerLimits>;
}

/** One pool in /debug/pools. */
export interface ProxyPoolState extends PoolSnapshot {
  /** The bound `address:port`, when the listener is open. */
  listener?: string;
  /** Open client connections on the listener, upgraded ones included. */
  clientConnections: number;
}

export interface ShutdownOptions {
  /** Keep accepting this long first, while endpoint removal propagates to whoever sends traffic here. */
  acceptDelayMs: number;
  /** Then at most this long for in-flight requests and upgraded connections to finish. */
  graceMs: number;
}

interface Entry {
  pool: LivePool;
  listener?: PoolListener;
  /** The `address:port` the plan asked for (port may be 0), to tell a move from a no-op. */
  wanted?: string;
}

const wantedListener = (plan: DesiredPool) => (plan.listener ? `${plan.listener.address}:${plan.listener.port}` : undefined);

export class ProxyPools implements Actuator {
  readonly name = 'proxy';
  readonly #logger: Logger;
  readonly #metrics: ProxyMetrics;
  readonly #limits: ServerLimits;
  readonly #pools = new Map<ObjectKey, Entry>();
  /** Listeners and pools that were replaced or removed and are still draining. */
  readonly #retiring = new Set<{ listener?: PoolListener; pool?: LivePool; done: Promise<void> }>();
  #shutdown?: Promise<void>;

  constructor(options: ProxyPoolsOptions) {
    this.#logger = options.logger.child({ component: 'proxy' });
    this.#metrics = new ProxyMetrics(options.registry ?? new Registry());
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
  }

  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    let entry = this.#pools.get(key);
    if (!plan || this.#shutdown) {
      if (entry) this.#remove(key, entry);
      return {};
    }
    if (entry) entry.pool.update(plan);
    else this.#pools.set(key, (entry = { pool: new LivePool(plan, { logger: this.#logger, metrics: this.#metrics }) }));
    return this.#applyListener(entry, plan);
  }

  /** Opens, moves or closes the pool's listener. A listener that cannot open is reported, and tried again next apply. */
  async #applyListener(entry: Entry, plan: DesiredPool): Promise<ActuatorReport> {
    const wanted = wantedListener(plan);
    const idleTimeoutMs = plan.timeouts.idleSeconds * 1000;
    const old = entry.listener;
    if (old && entry.wanted === wanted) {
      old.idleTimeoutMs = idleTimeoutMs;
      return { facts: { listener: old.address } };
    }
    if (!plan.listener) {
      if (old) this.#retire({ listener: old }, plan);
      entry.listener = entry.wanted = undefined;
      return {};
    }
    const { address, port } = plan.listener;
    const open = () => PoolListener.open({ address, port, router: entry.pool, limits: this.#limits, idleTimeoutMs, logger: this.#logger });
    let listener: PoolListener;
    try {
      listener = await open().catch((err: NodeJS.ErrnoException) => {
        // Same port, other address (127.0.0.1 → 0.0.0.0): the old socket holds the port, so it must stop
        // accepting first. Its in-flight requests still finish.
        if (err.code !== 'EADDRINUSE' || !old || !old.address.endsWith(`:${port}`)) throw err;
        this.#retire({ listener: old }, plan);
        entry.listener = entry.wanted = undefined;
        return open();
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.#logger.warn({ pool: plan.key, listener: wanted, err: e.message }, 'listener failed');
      return {
        problem: { reason: 'ListenerFailed', message: `cannot listen on ${address}:${port}: ${e.code ?? e.message}` },
        ...(entry.listener && { facts: { listener: entry.listener.address } }),
      };
    }
    if (entry.listener) this.#retire({ listener: entry.listener }, plan);
    entry.listener = listener;
    entry.wanted = wanted;
    this.#logger.info({ pool: plan.key, listener: listener.address }, 'listening');
    return { facts: { listener: listener.address } };
  }

  #remove(key: ObjectKey, entry: Entry): void {
    this.#pools.delete(key);
    this.#logger.info({ pool: key }, 'pool removed; draining');
    this.#retire({ listener: entry.listener, pool: entry.pool }, undefined);
  }

  /** Drains a replaced listener and/or removed pool in the background, within the pool's drain time. */
  #retire(what: { listener?: PoolListener; pool?: LivePool }, plan: DesiredPool | undefined): void {
    const graceMs = (plan ?? what.pool?.plan)?.drainTimeoutSeconds ?? 0;
    const item = {
      ...what,
      done: Promise.all([what.listener?.close(graceMs * 1000), what.pool?.retire()]).then(() => {
        this.#retiring.delete(item);
      }),
    };
    this.#retiring.add(item);
  }

  /** Per-pool state for /debug/pools: listener, backends with state and in-flight counts. */
  snapshot(): Record<ObjectKey, ProxyPoolState> {
    const out: Record<ObjectKey, ProxyPoolState> = {};
    for (const [key, { pool, listener }] of this.#pools) out[key] = { listener: listener?.address, clientConnections: listener?.connections ?? 0, ...pool.snapshot() };
    return out;
  }

  /**
   * Graceful stop, readiness first (the caller has already failed /readyz): keep accepting for
   * `acceptDelayMs`, then stop listening, answer with `Connection: close`, and let in-flight requests
   * and upgraded connections finish. Resolves when all are done, or at the grace deadline with the
   * rest cut. Idempotent.
   */
  shutdown({ acceptDelayMs, graceMs }: ShutdownOptions): Promise<void> {
    this.#shutdown ??= (async () => {
      await sleep(acceptDelayMs);
      const deadline = Date.now() + graceMs;
      const entries = [...this.#pools.values()];
      this.#pools.clear();
      await Promise.all(entries.map((e) => e.listener?.close(graceMs)));
      const leftMs = Math.max(0, deadline - Date.now());
      await Promise.all([...entries.map((e) => e.pool.retire(leftMs)), ...[...this.#retiring].map((r) => this.#hurry(r, leftMs))]);
    })();
    return this.#shutdown;
  }

  /** Closes everything now: listeners, client and backend connections, timers. */
  async close(): Promise<void> {
    this.#shutdown ??= Promise.resolve();
    const entries = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all([
      ...entries.map((e) => Promise.all([e.listener?.close(0), e.pool.retire(0)])),
      ...[...this.#retiring].map((r) => this.#hurry(r, 0)),
      this.#shutdown,
    ]);
    this.#metrics.clear();
  }

  #hurry(item: { listener?: PoolListener; pool?: LivePool; done: Promise<void> }, ms: number): Promise<void> {
    void item.listener?.close(ms);
    void item.pool?.retire(ms);
    return item.done;
  }
}
