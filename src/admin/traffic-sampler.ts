// Turns the proxy's request tallies (cumulative counts, bumped on the request path) into what the
// dashboard shows: recent rates, error ratios and latency quantiles, and a per-pool history for the
// charts. It runs on the admin side once a second, so the request path only ever increments counters.
import type { ObjectKey } from '../api/keys.js';
import type { PoolTraffic } from '../proxy/live-pool.js';
import { LATENCY_BOUNDS_MS, latencyQuantile, type RequestTally } from '../proxy/request-tally.js';

/** Recent means about the last TAU_S seconds: an exponential decay with that time constant. */
const TAU_S = 10;
/** Chart points kept per pool: one a second, five minutes. */
export const HISTORY_POINTS = 300;

export interface TrafficStats {
  /** Requests per second, recent. */
  rps: number;
  /** Share of recent requests answered 5xx (0..1); undefined without requests. */
  errorRate?: number;
  /** Recent latency quantiles, ms. */
  p50?: number;
  p99?: number;
  /** 5xx answers since the sampler first saw the tally. */
  errors: number;
  /** Failed exchanges (connect, reset, timeout) since then, retried elsewhere or not. */
  failures: number;
}

/** One chart point: the requests of one sampling interval. */
export interface HistoryPoint {
  /** Epoch ms. */
  t: number;
  rps: number;
  p50?: number;
  p99?: number;
  errorRate?: number;
}

/** The decayed view of one tally. Starts at the counts of its first sample: no burst of old history. */
class Smoothed {
  #requests: number;
  #errors: number;
  readonly #firstErrors: number;
  readonly #firstFailures: number;
  readonly #last: Float64Array;
  #recentSeconds = 0;
  #recentRequests = 0;
  #recentErrors = 0;
  readonly #recentLatency = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  /** The latest interval's latency counts (scratch, reused). */
  readonly interval = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  intervalRequests = 0;
  intervalErrors = 0;

  constructor(readonly tally: RequestTally) {
    this.#requests = tally.requests;
    this.#errors = this.#firstErrors = tally.errors;
    this.#firstFailures = tally.failures;
    this.#last = Float64Array.from(tally.latency);
  }

  step(dtSeconds: number): void {
    const t = this.tally;
    const decay = Math.exp(-dtSeconds / TAU_S);
    this.intervalRequests = t.requests - this.#requests;
    this.intervalErrors = t.errors - this.#errors;
    this.#requests = t.requests;
    this.#errors = t.errors;
    for (let i = 0; i < this.interval.length; i++) {
      this.interval[i] = t.latency[i] - this.#last[i];
      this.#last[i] = t.latency[i];
      this.#recentLatency[i] = this.#recentLatency[i] * decay + this.interval[i];
    }
    this.#recentRequests = this.#recentRequests * decay + this.intervalRequests;
    this.#recentErrors = this.#recentErrors * decay + this.intervalErrors;
    // Time decays as the counts do, so the rate is exact from the first interval on.
    this.#recentSeconds = this.#recentSeconds * decay + dtSeconds;
  }

  stats(): TrafficStats {
    // Below a hundredth of a request the decayed counts are history, not recent traffic.
    const any = this.#recentRequests >= 0.01;
    return {
      rps: this.#recentSeconds > 0 ? this.#recentRequests / this.#recentSeconds : 0,
      errorRate: any ? this.#recentErrors / this.#recentRequests : undefined,
      p50: any ? latencyQuantile(this.#recentLatency, 0.5) : undefined,
      p99: any ? latencyQuantile(this.#recentLatency, 0.99) : undefined,
      errors: this.#errors - this.#firstErrors,
      failures: this.tally.failures - this.#firstFailures,
    };
  }
}

/** A fixed ring of chart points. */
class History {
  readonly #points: HistoryPoint[] = [];

  push(p: HistoryPoint): void {
    this.#points.push(p);
    if (this.#points.length > HISTORY_POINTS) this.#points.shift();
  }

  points(): readonly HistoryPoint[] {
    return this.#points;
  }

  last(): HistoryPoint | undefined {
    return this.#points.at(-1);
  }
}

export class TrafficSampler {
  readonly #pools = new Map<ObjectKey, { smoothed: Smoothed; history: History; backends: Map<string, Smoothed> }>();
  #lastTick?: number;

  /**
   * Takes one sample at `now` (epoch ms) of `traffic`. Backends are sampled only when `backends` is
   * set (someone is looking); the pools always are, so their charts have a history to show.
   */
  tick(traffic: Map<ObjectKey, PoolTraffic>, now: number, backends: boolean): void {
    const dt = this.#lastTick === undefined ? 1 : Math.max(0.001, (now - this.#lastTick) / 1000);
    this.#lastTick = now;
    for (const key of this.#pools.keys()) if (!traffic.has(key)) this.#pools.delete(key);
    for (const [key, t] of traffic) {
      let entry = this.#pools.get(key);
      // A pool re-created by the proxy comes with a new tally: start over.
      if (!entry || entry.smoothed.tally !== t.pool) {
        entry = { smoothed: new Smoothed(t.pool), history: new History(), backends: new Map() };
        this.#pools.set(key, entry);
      } else {
        const s = entry.smoothed;
        s.step(dt);
        const any = s.intervalRequests > 0;
        entry.history.push({
          t: now,
          rps: s.intervalRequests / dt,
          p50: any ? latencyQuantile(s.interval, 0.5) : undefined,
          p99: any ? latencyQuantile(s.interval, 0.99) : undefined,
          errorRate: any ? s.intervalErrors / s.intervalRequests : undefined,
        });
      }
      if (!backends) {
        entry.backends.clear();
        continue;
      }
      for (const id of entry.backends.keys()) if (!t.backends.has(id)) entry.backends.delete(id);
      for (const [id, tally] of t.backends) {
        const b = entry.backends.get(id);
        if (b && b.tally === tally) b.step(dt);
        else entry.backends.set(id, new Smoothed(tally));
      }
    }
  }

  pool(key: ObjectKey): TrafficStats | undefined {
    return this.#pools.get(key)?.smoothed.stats();
  }

  backend(key: ObjectKey, id: string): TrafficStats | undefined {
    return this.#pools.get(key)?.backends.get(id)?.stats();
  }

  history(key: ObjectKey): readonly HistoryPoint[] {
    return this.#pools.get(key)?.history.points() ?? [];
  }

  /** The point the latest tick added, if it added one. */
  latest(key: ObjectKey): HistoryPoint | undefined {
    const last = this.#pools.get(key)?.history.last();
    return last && last.t === this.#lastTick ? last : undefined;
  }
}
