// Data-plane metrics, Prometheus naming. The request path only adds to plain numbers (prom-client's
// bound `inc`/`observe` still validate and hash the labels on every call: ADR 0001, "A leaner request
// path"); request counts reach their prom-client series when scraped, and request durations are a
// histogram of our own that prom-client renders. A backend's series outlive it by
// SERIES_RETENTION_MS, so the errors that preceded its removal are still scraped, and then go, so
// churned Pod IPs do not pile up.
import { Counter, Gauge, type Metric, type MetricValueWithName, type Registry } from 'prom-client';
import type { FailureKind } from './failure.js';
import { RequestTally } from './request-tally.js';

/** Backend states counted by ballast_pool_backends. */
export type BackendState = 'active' | 'draining' | 'ejected' | 'unhealthy';

const SERIES_RETENTION_MS = 10 * 60_000;
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One pool's request durations: per-bucket counts (not cumulative), the sum and the count. */
class DurationSeries {
  readonly counts = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** ballast_proxy_request_duration_seconds by pool, in the shape prom-client's Histogram gives a registry. */
class DurationHistogram {
  readonly name = 'ballast_proxy_request_duration_seconds';
  readonly help = 'From the request reaching the proxy to the end of its response.';
  readonly type = 'histogram';
  readonly aggregator = 'sum' as const;
  readonly #series = new Map<string, DurationSeries>();

  labels(pool: string): DurationSeries {
    let s = this.#series.get(pool);
    if (!s) this.#series.set(pool, (s = new DurationSeries()));
    return s;
  }

  remove(pool: string): void {
    this.#series.delete(pool);
  }

  reset(): void {
    this.#series.clear();
  }

  /** What prom-client's Histogram.get() gives: cumulative `_bucket`s, `_sum`, `_count`. */
  get() {
    const values: MetricValueWithName<string>[] = [];
    for (const [pool, s] of this.#series) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += s.counts[i];
        values.push({ labels: { pool, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { pool, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { pool }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { pool }, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

/** The BackendMetrics whose request counts await the next scrape, by the counter they go to. */
const unflushed = new WeakMap<Counter, Set<BackendMetrics>>();

/** Each pool's backend states, read when scraped (so they agree with /debug/pools), by the gauge they go to. */
const stateSources = new WeakMap<Gauge, Map<string, () => Iterable<BackendState>>>();

/** One metric per registry: a second ProxyPools on the same registry shares the series. */
function registered<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export class ProxyMetrics {
  readonly requests: Counter<'pool' | 'backend' | 'code'>;
  readonly duration: DurationHistogram;
  readonly retries: Counter<'pool'>;
  readonly ejections: Counter<'pool' | 'backend'>;
  /** Filled at scrape time from the sources given to countStates. */
  readonly backends: Gauge<'pool' | 'state'>;
  readonly healthChecks: Counter<'pool' | 'backend' | 'result'>;
  readonly upstreamErrors: Counter<'pool' | 'backend' | 'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = registered(registry, 'ballast_proxy_requests_total', () =>
      new Counter({
        name: 'ballast_proxy_requests_total',
        help: 'Requests answered by the proxy, by pool, backend ("none" when none was available) and status code (499: the client went away first).',
        labelNames: ['pool', 'backend', 'code'],
        registers,
        collect(this: Counter) {
          for (const m of unflushed.get(this) ?? []) m.flush();
        },
      }),
    );
    if (!unflushed.has(this.requests)) unflushed.set(this.requests, new Set());
    this.duration = registered(registry, 'ballast_proxy_request_duration_seconds', () => {
      const h = new DurationHistogram();
      registry.registerMetric(h as unknown as Metric);
      return h;
    });
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
          for (const [pool, states] of stateSources.get(this) ?? []) {
            const counts: Record<BackendState, number> = { active: 0, draining: 0, ejected: 0, unhealthy: 0 };
            for (const state of states()) counts[state]++;
            for (const [state, n] of Object.entries(counts)) this.labels(pool, state).set(n);
          }
        },
      }),
    );
    if (!stateSources.has(this.backends)) stateSources.set(this.backends, new Map());
    this.healthChecks = registered(registry, 'ballast_health_checks_total', () =>
      new Counter({ name: 'ballast_health_checks_total', help: 'Active health checks by result (healthy, unhealthy).', labelNames: ['pool', 'backend', 'result'], registers }),
    );
    this.upstreamErrors = registered(registry, 'ballast_proxy_upstream_errors_total', () =>
      new Counter({
        name: 'ballast_proxy_upstream_errors_total',
        help: 'Failed exchanges with a backend, retried or not: what clients would have seen without retries.',
        labelNames: ['pool', 'backend', 'kind'],
        registers,
      }),
    );
  }

  readonly #byBackend = new Map<string, BackendMetrics>();

  /** Counts `pool`'s backends by the states `states` gives, at each scrape; the returned function stops it. */
  countStates(pool: string, states: () => Iterable<BackendState>): () => void {
    const sources = stateSources.get(this.backends)!;
    sources.set(pool, states);
    return () => {
      if (sources.get(pool) === states) sources.delete(pool);
    };
  }

  /** The series of `backend` in `pool`; the same object while they are kept. */
  backend(pool: string, backend: string): BackendMetrics {
    const key = `${pool}\0${backend}`;
    let m = this.#byBackend.get(key);
    if (!m) {
      const pending = unflushed.get(this.requests)!;
      const created = new BackendMetrics(this, pool, backend, () => {
        this.#byBackend.delete(key);
        pending.delete(created);
      });
      pending.add(created);
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
  /** Responses by status code not yet added to ballast_proxy_requests_total. */
  readonly #byCode = new Map<number, { pending: number }>();
  readonly #duration: DurationSeries;
  readonly #forget: () => void;
  #removal?: NodeJS.Timeout;
  /** The same responses, for the dashboard. */
  readonly tally = new RequestTally();

  constructor(metrics: ProxyMetrics, pool: string, backend: string, forget: () => void) {
    this.#metrics = metrics;
    this.#pool = pool;
    this.#backend = backend;
    this.#forget = forget;
    this.#duration = metrics.duration.labels(pool);
  }

  /** Cancels a pending removal: the backend is back. */
  keep(): void {
    clearTimeout(this.#removal);
  }

  /** The backend is gone: its series are removed after the retention time, unless it returns. */
  retire(): void {
    clearTimeout(this.#removal);
    this.#removal = setTimeout(() => this.remove(), SERIES_RETENTION_MS).unref();
  }

  /** A response finished (or failed) after `seconds`, with `code`. */
  response(code: number, seconds: number): void {
    let counted = this.#byCode.get(code);
    if (!counted) {
      this.#byCode.set(code, (counted = { pending: 0 }));
      // The series exists from the first response on, as with an immediate inc().
      this.#metrics.requests.inc({ pool: this.#pool, backend: this.#backend, code: String(code) }, 0);
    }
    counted.pending++;
    this.#duration.observe(seconds);
    this.tally.record(code, seconds);
  }

  /** Adds the responses counted since the last scrape to their prom-client series. */
  flush(): void {
    for (const [code, counted] of this.#byCode) {
      if (counted.pending === 0) continue;
      this.#metrics.requests.inc({ pool: this.#pool, backend: this.#backend, code: String(code) }, counted.pending);
      counted.pending = 0;
    }
  }

  upstreamError(kind: FailureKind): void {
    this.#metrics.upstreamErrors.labels(this.#pool, this.#backend, kind).inc();
    this.tally.failures++;
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
    for (const code of this.#byCode.keys()) m.requests.remove(this.#pool, this.#backend, String(code));
    m.ejections.remove(this.#pool, this.#backend);
    for (const result of ['healthy', 'unhealthy']) m.healthChecks.remove(this.#pool, this.#backend, result);
    for (const kind of ['connect', 'connect_timeout', 'reset', 'response_timeout', 'protocol']) m.upstreamErrors.remove(this.#pool, this.#backend, kind);
  }
}
