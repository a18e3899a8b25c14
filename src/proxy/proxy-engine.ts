// What a Ballast process needs of its proxy, wherever the proxy runs: in this process (ProxyPools)
// or in worker processes (ProxyWorkers, `--workers N`). The app depends on this, not on either.
import type { ObjectKey } from '../api/keys.js';
import type { ReadinessCheck } from '../admin/readiness.js';
import type { Actuator } from '../controller/actuator.js';
import type { ListenerAddress } from '../plan/listener-claims.js';
import type { PoolTraffic } from './live-pool.js';
import type { ListenerState, ProxyPoolState, ShutdownOptions } from './proxy-pools.js';

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
