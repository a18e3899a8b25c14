// Data-plane metrics, Prometheus naming. The request path counts a response once per backend and once
// per pool, in their RequestTallies (plain numbers, which the dashboard samples too; prom-client's
// bound `inc`/`observe` would validate and hash the labels on every call: ADR 0001, "A leaner request
// path"). A scrape reads the series from them: ballast_proxy_requests_total and
// ballast_proxy_upstream_errors_total get what the backends' tallies counted since the last scrape,
// and ballast_proxy_request_duration_seconds is a histogram of our own, rendered from the pools'
// tallies. A backend's series outlive it by the retention time (10 minutes), so the errors that preceded its
// removal are still scraped, and then go, so churned Pod IPs do not pile up.
import { Counter, Gauge, type Metric, type MetricValueWithName, type Registry } from 'prom-client';
import { FAILURE_KINDS, type FailureKind } from './failure.js';
import { RequestTally } from './request-tally.js';

/** Backend states counted by ballast_pool_backends. */
export type BackendState = 'active' | 'draining' | 'ejected' | 'unhealthy';

const DEFAULT_SERIES_RETENTION_MS = 10 * 60_000;
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * A pool's tally, which also puts each duration in a bucket of ballast_proxy_request_duration_seconds
 * (per-bucket counts, not cumulative) and adds it to their sum; the histogram's count is the tally's.
 */
export class PoolTally extends RequestTally {
  readonly durations = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;

  override record(code: number, seconds: number): void {
    super.record(code, seconds);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.durations[i]++;
    this.durationSum += seconds;
  }
}

/** What a pool gives the scrape: its tally, and its backends' states (read then, so they agree with /debug/pools). */
export interface PoolSource {
  tally: PoolTally;
  states: () => Iterable<BackendState>;
}

/** ballast_proxy_request_duration_seconds by pool, in the shape prom-client's Histogram gives a registry. */
class DurationHistogram {
  readonly name = 'ballast_proxy_request_duration_seconds';
  readonly help = 'From the request reaching the proxy to the end of its response.';
  readonly type = 'histogram';
  readonly aggregator = 'sum' as const;
  readonly #pools: ReadonlyMap<string, PoolSource>;

  constructor(pools: ReadonlyMap<string, PoolSource>) {
    this.#pools = pools;
  }

  /** What prom-client's Histogram.get() gives: cumulative `_bucket`s, `_sum`, `_count`. */
  get() {
    const values: MetricValueWithName<string>[] = [];
    for (const [pool, { tally }] of this.#pools) {
      const count = tally.requests;
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += tally.durations[i];
        values.push({ labels: { pool, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { pool, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels: { pool }, value: tally.durationSum, metricName: `${this.name}_sum` });
      values.push({ labels: { pool }, value: count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

/** The backends and pools the scrape reads, by registry: one set per registry, as the metrics are. */
const backendSources = new WeakMap<Registry, Set<BackendMetrics>>();
const poolSources = new WeakMap<Registry, Map<string, PoolSource>>();

/** The `backend` label of responses no backend gave (none was available). */
export const NO_BACKEND = 'none';
const seriesKey = (pool: string, backend: string) => `${pool}\0${backend}`;

/** One metric per registry: a second ProxyPools on the same registry shares the series. */
function registered<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export class ProxyMetrics {
  readonly requests: Counter<'pool' | 'backend' | 'code'>;
  readonly retries: Counter<'pool'>;
  readonly ejections: Counter<'pool' | 'backend'>;
  /** Filled at scrape time from the sources given to watchPool. */
  readonly backends: Gauge<'pool' | 'state'>;
  readonly healthChecks: Counter<'pool' | 'backend' | 'result'>;
  readonly upstreamErrors: Counter<'pool' | 'backend' | 'kind'>;

  readonly #backends: Set<BackendMetrics>;
  readonly #pools: Map<string, PoolSource>;
  /** How long a removed backend's series are still scraped. */
  readonly seriesRetentionMs: number;

  constructor(registry: Registry, seriesRetentionMs = DEFAULT_SERIES_RETENTION_MS) {
    this.seriesRetentionMs = seriesRetentionMs;
    const registers = [registry];
    const backends = backendSources.get(registry) ?? new Set<BackendMetrics>();
    backendSources.set(registry, backends);
    this.#backends = backends;
    const pools = poolSources.get(registry) ?? new Map<string, PoolSource>();
    poolSources.set(registry, pools);
    this.#pools = pools;
    this.requests = registered(registry, 'ballast_proxy_requests_total', () =>
      new Counter({
        name: 'ballast_proxy_requests_total',
        help: 'Requests answered by the proxy, by pool, backend ("none" when none was available) and status code (499: the client went away first).',
        labelNames: ['pool', 'backend', 'code'],
        registers,
        collect() {
          for (const m of backends) m.flushResponses();
        },
      }),
    );
    if (!registry.getSingleMetric('ballast_proxy_request_duration_seconds')) registry.registerMetric(new DurationHistogram(pools) as unknown as Metric);
    this.retries = registered(registry, 'ballast_proxy_retries_total', () =>
      new Counter({ name: 'ballast_proxy_retries_total', help: 'Requests sent again to another backend after a safe-to-retry failure.', labelNames: ['pool'], registers }),
    );
    this.ejections = registered(registry, 'ballast_proxy_ejections_total', () =>
      new Counter({ name: 'ballast_proxy_ejections_total', help: 'Backends taken out of rotation by passive health (outlierDetection).', labelNames: ['pool', 'backend'], registers }),
    );
    this.backends = registered(registry, 'ballast_pool_backends', () =>
      new Gauge({
        name: 'ballast_pool_backends',
        help: 'Backends of each pool by state; with --workers, the mean over the workers (each keeps its own passive health).',
        labelNames: ['pool', 'state'],
        registers,
        aggregator: 'average',
        collect(this: Gauge) {
          this.reset();
          for (const [pool, { states }] of pools) {
            const counts: Record<BackendState, number> = { active: 0, draining: 0, ejected: 0, unhealthy: 0 };
            for (const state of states()) counts[state]++;
            for (const [state, n] of Object.entries(counts)) this.labels(pool, state).set(n);
          }
        },
      }),
    );
    this.healthChecks = registered(registry, 'ballast_health_checks_total', () =>
      new Counter({ name: 'ballast_health_checks_total', help: 'Active health checks by result (healthy, unhealthy).', labelNames: ['pool', 'backend', 'result'], registers }),
    );
    this.upstreamErrors = registered(registry, 'ballast_proxy_upstream_errors_total', () =>
      new Counter({
        name: 'ballast_proxy_upstream_errors_total',
        help: 'Failed exchanges with a backend, retried or not: what clients would have seen without retries.',
        labelNames: ['pool', 'backend', 'kind'],
        registers,
        collect() {
          for (const m of backends) m.flushFailures();
        },
      }),
    );
  }

  readonly #byBackend = new Map<string, BackendMetrics>();

  /**
   * Reads `pool`'s durations and backend states from `source` at each scrape, until the returned
   * function is called; the pool's series go then (its no-backend answers after the retention time),
   * unless a newer pool of the same key watches them by then (a pool removed and added back while
   * the old one drained).
   */
  watchPool(pool: string, source: PoolSource): () => void {
    const pools = this.#pools;
    pools.set(pool, source);
    return () => {
      if (pools.get(pool) !== source) return;
      pools.delete(pool);
      this.#byBackend.get(seriesKey(pool, NO_BACKEND))?.retire();
      this.retries.remove(pool);
    };
  }

  /** The series of `backend` in `pool`; the same object while they are kept. */
  backend(pool: string, backend: string): BackendMetrics {
    const key = seriesKey(pool, backend);
    let m = this.#byBackend.get(key);
    if (!m) {
      const scraped = this.#backends;
      const created = new BackendMetrics(this, pool, backend, () => {
        this.#byBackend.delete(key);
        scraped.delete(created);
      });
      scraped.add(created);
      this.#byBackend.set(key, (m = created));
    }
    m.keep();
    return m;
  }

  /** Drops every kept series now (the proxy is closing). */
  clear(): void {
    for (const m of this.#byBackend.values()) m.remove();
  }
}

/** The series of one backend of one pool. */
export class BackendMetrics {
  readonly #metrics: ProxyMetrics;
  readonly #pool: string;
  readonly #backend: string;
  /** The backend's responses and failures, counted by the request path. */
  readonly tally = new RequestTally();
  /** How many of the tally's responses with each status code ballast_proxy_requests_total has. */
  readonly #flushedCodes = new Map<number, number>();
  /** How many of its failures of each kind ballast_proxy_upstream_errors_total has. */
  readonly #flushedFailures = new Map<FailureKind, number>();
  readonly #forget: () => void;
  #removal?: NodeJS.Timeout;

  constructor(metrics: ProxyMetrics, pool: string, backend: string, forget: () => void) {
    this.#metrics = metrics;
    this.#pool = pool;
    this.#backend = backend;
    this.#forget = forget;
  }

  /** Cancels a pending removal: the backend is back. */
  keep(): void {
    clearTimeout(this.#removal);
  }

  /** The backend is gone: its series are removed after the retention time, unless it returns. */
  retire(): void {
    clearTimeout(this.#removal);
    this.#removal = setTimeout(() => this.remove(), this.#metrics.seriesRetentionMs).unref();
  }

  /** Adds the responses the tally counted since the last scrape to their prom-client series. */
  flushResponses(): void {
    const { codes, counts } = this.tally;
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      const added = counts[i] - (this.#flushedCodes.get(code) ?? 0);
      if (added === 0) continue;
      this.#metrics.requests.inc({ pool: this.#pool, backend: this.#backend, code: String(code) }, added);
      this.#flushedCodes.set(code, counts[i]);
    }
  }

  /** The same for the failed exchanges. */
  flushFailures(): void {
    for (const kind of FAILURE_KINDS) {
      const total = this.tally.failedByKind[kind];
      const added = total - (this.#flushedFailures.get(kind) ?? 0);
      if (added === 0) continue;
      this.#metrics.upstreamErrors.inc({ pool: this.#pool, backend: this.#backend, kind }, added);
      this.#flushedFailures.set(kind, total);
    }
  }

  ejected(): void {
    this.#metrics.ejections.labels(this.#pool, this.#backend).inc();
  }

  healthCheck(result: 'healthy' | 'unhealthy'): void {
    this.#metrics.healthChecks.labels(this.#pool, this.#backend, result).inc();
  }

  remove(): void {
    clearTimeout(this.#removal);
    this.#forget();
    const m = this.#metrics;
    for (const code of this.tally.codes) m.requests.remove(this.#pool, this.#backend, String(code));
    m.ejections.remove(this.#pool, this.#backend);
    for (const result of ['healthy', 'unhealthy']) m.healthChecks.remove(this.#pool, this.#backend, result);
    for (const kind of FAILURE_KINDS) m.upstreamErrors.remove(this.#pool, this.#backend, kind);
  }
}
