// Active health checks (spec.healthCheck, opt-in): a periodic GET per backend. Health only filters
// the backends discovery lists: a failing check takes a backend out of rotation, it never adds one.
import type { DesiredPool } from '../plan/desired-pool.js';
import type { Upstream } from './upstream.js';

type HealthCheck = NonNullable<DesiredPool['healthCheck']>;

/** ±10 %: checks of many backends (and many replicas) spread out instead of arriving together. */
const jitter = (ms: number) => ms * (0.9 + Math.random() * 0.2);

/** A 2xx or 3xx answer is healthy, as NGINX Plus `health_check` by default. */
const healthyStatus = (status: number) => status >= 200 && status < 400;

export class ActiveHealth {
  readonly #onChange: (upstream: Upstream) => void;
  #config?: HealthCheck;
  readonly #timers = new Map<Upstream, NodeJS.Timeout>();

  /** `onChange` is called when a backend turns healthy or unhealthy. */
  constructor(onChange: (upstream: Upstream) => void) {
    this.#onChange = onChange;
  }

  /** Checks exactly `upstreams` with `config` from now on; undefined stops every check. */
  update(config: HealthCheck | undefined, upstreams: Iterable<Upstream>): void {
    if (JSON.stringify(config) !== JSON.stringify(this.#config)) {
      this.stop();
      this.#config = config;
    }
    // The running checks keep the config object they were started with; an equal one changes nothing.
    const current = this.#config;
    if (!current) {
      for (const u of upstreams) u.health.resetProbes();
      return;
    }
    const wanted = new Set(upstreams);
    for (const [u, timer] of this.#timers) {
      if (!wanted.has(u)) {
        clearTimeout(timer);
        this.#timers.delete(u);
      }
    }
    // The first check of a backend comes at a random point of the first interval.
    for (const u of wanted) if (!this.#timers.has(u)) this.#schedule(u, current, Math.random() * current.intervalSeconds * 1000);
  }

  stop(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#config = undefined;
  }

  #schedule(u: Upstream, config: HealthCheck, delayMs: number): void {
    this.#timers.set(u, setTimeout(() => void this.#check(u, config), delayMs).unref());
  }

  async #check(u: Upstream, config: HealthCheck): Promise<void> {
    let ok: boolean;
    try {
      ok = healthyStatus(await u.probe(config.path, config.timeoutSeconds * 1000));
    } catch {
      ok = false;
    }
    // Stopped, reconfigured or removed while the probe ran: its result no longer applies.
    if (this.#config !== config || !this.#timers.has(u)) return;
    u.metrics.healthCheck(ok ? 'healthy' : 'unhealthy');
    if (u.health.probed(ok, config)) this.#onChange(u);
    this.#schedule(u, config, jitter(config.intervalSeconds * 1000));
  }
}
