// What a Ballast process needs of its proxy, wherever the proxy runs: in this process (ProxyPools)
// or in worker processes (ProxyWorkers, `--workers N`). The app depends on this, not on either.
import type { ObjectKey } from '../api/keys.js';
import type { ReadinessCheck } from '../admin/readiness.js';
import type { Actuator } from '../controller/actuator.js';
import type { ListenerAddress } from '../plan/listener-claims.js';
import type { Problem } from '../api/conditions.js';
import type { PoolSnapshot, PoolTraffic } from './live-pool.js';

/** One pool in /debug/pools. */
export interface ProxyPoolState extends PoolSnapshot {
  /** The bound `address:port`, when the listener is open. */
  listener?: string;
  /** Open client connections on the listener, upgraded ones included. */
  clientConnections: number;
  /** HTTP requests the open listener has taken. */
  requests: number;
  /** Why the listener the plan asks for is not open (`listener` then shows the previous one, if any). */
  listenerProblem?: Problem;
}

/** A pool's listener as /readyz sees it. */
export interface ListenerState {
  pool: ObjectKey;
  open: boolean;
  problem?: string;
}

export interface ShutdownOptions {
  /** Keep accepting this long first, while endpoint removal propagates to whoever sends traffic here. */
  acceptDelayMs: number;
  /** Then at most this long for in-flight requests and upgraded connections to finish. */
  graceMs: number;
}

/** The pools as one serving process holds them; `worker` and `pid` name a worker process. */
export interface ProxyView {
  worker?: number;
  pid?: number;
  pools: Record<ObjectKey, ProxyPoolState>;
}

export interface ProxyEngine extends Actuator {
  /** Before the first plan: resolves once every serving process runs. */
  start(): Promise<void>;
  /** The listener each pool has open, by the address its plan asked for. */
  listeners(): Map<ObjectKey, ListenerAddress>;
  /** Whether each pool's listener is open, and why not, for /readyz. */
  listenerStates(): ListenerState[];
  /** /readyz checks of the engine itself, besides the listeners. */
  readyChecks(): ReadinessCheck[];
  /** Each serving process's pools, for /debug/pools and the dashboard. */
  views(): Promise<ProxyView[]>;
  /** Per-pool request tallies, for the dashboard's sampler. */
  traffic(): Map<ObjectKey, PoolTraffic> | Promise<Map<ObjectKey, PoolTraffic>>;
  /** The text /metrics serves: the process's registry, with the workers' summed in. */
  metrics(): Promise<string>;
  /** Graceful stop, readiness first; idempotent. */
  shutdown(options: ShutdownOptions): Promise<void>;
}
