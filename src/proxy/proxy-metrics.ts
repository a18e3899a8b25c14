// Data-plane metrics, Prometheus naming. Label children are looked up once per backend and status
// code and then cached, so the request path does no label hashing. A backend's series outlive it by
// SERIES_RETENTION_MS, so the errors that preceded its removal are still scraped, and then go, so
// churned Pod IPs do not pile up.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FailureKind } from './failure.js';
import { RequestTally } from './request-tally.js';

/** Backend states counted by ballast_pool_backends. */
export type BackendState = 'active' | 'draining' | 'ejected' | 'unhealthy';

const SERIES_RETENTION_MS = 10 * 60_000;
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One metric per registry: a second ProxyPools on the same registry shares the series. */
function registered<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export class ProxyMetrics {
  readonly requests: Counter<'pool' | 'backend' | 'code'>;
  readonly duration: Histogram<'pool'>;
  readonly retries: Counter<'pool'>;
  readonly ejections: Counter<'pool' | 'backend'>;
  readonly backends: Gauge<'pool' | 'state'>;
  readonly healthChecks: Counter<'pool' | 'backend' | 'result'>;
  readonly upstreamErrors: Counter<'pool' | 'backend' | 'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = registered(registry, 'ballast_proxy_requests_total', () =>
      new Counter({ name: 'ballast_proxy_requests_total', help: 'Requests answered by the proxy, by pool, backend ("none" when none was available) and status code (499: the client went away first).', labelNames: ['pool', 'backend', 'code'], registers }),
    );
    this.duration = registered(registry, 'ballast_proxy_request_duration_seconds', () =>
      new Histogram({ name: 'ballast_proxy_request_duration_seconds', help: 'From the request reaching the proxy to the end of its response.', labelNames: ['pool'], buckets: DURATION_BUCKETS, registers }),
    );
    this.retries = registered(registry, 'ballast_proxy_retries_total', () =>
      new Counter({ name: 'ballast_proxy_retries_total', help: 'Requests sent again to another backend after a safe-to-retry failure.', labelNames: ['pool'], registers }),
    );
    this.ejections = registered(registry, 'ballast_proxy_ejections_total', () =>
      new Counter({ name: 'ballast_proxy_ejections_total', help: 'Backends taken out of rotation by passive health (outlierDetection).', labelNames: ['pool', 'backend'], registers }),
    );
    this.backends = registered(registry, 'ballast_pool_backends', () =>
      new Gauge({ name: 'ballast_pool_backends', help: 'Backends of each pool by state.', labelNames: ['pool', 'state'], registers }),
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
      }),
    );
  }

  readonly #byBackend = new Map<string, BackendMetrics>();

  /** The series of `backend` in `pool`; the same object while they are kept. */
  backend(pool: string, backend: string): BackendMetrics {
    const key = `${pool}\0${backend}`;
    let m = this.#byBackend.get(key);
    if (!m) this.#byBackend.set(key, (m = new BackendMetrics(this, pool, backend, () => this.#byBackend.delete(key))));
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
  readonly #byCode = new Map<number, Counter.Internal>();
  readonly #duration: Histogram.Internal<'pool'>;
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
    let counter = this.#byCode.get(code);
    if (!counter) this.#byCode.set(code, (counter = this.#metrics.requests.labels(this.#pool, this.#backend, String(code))));
    counter.inc();
    this.#duration.observe(seconds);
    this.tally.record(code, seconds);
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
