// One pool's data plane: its upstreams, the immutable routing snapshot requests pick from, health,
// and the drain of backends that left. Listeners hand it requests; the plan only ever replaces the
// snapshot, so in-flight requests and tunnels keep the upstream they picked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Counter } from 'prom-client';
import type { Logger } from '../log.js';
import { endpointId, type Backend, type DesiredPool } from '../plan/desired-pool.js';
import { ActiveHealth } from './active-health.js';
import type { OutlierSettings } from './backend-health.js';
import type { Balancer } from './balancers/balancer.js';
import { createBalancer } from './balancers/create-balancer.js';
import type { FailureKind } from './failure.js';
import { ForwardRequest } from './forward-request.js';
import { ForwardUpgrade } from './forward-upgrade.js';
import type { RoutedRequest } from './pool-listener.js';
import { NO_BACKEND, PoolTally, type BackendMetrics, type BackendState, type ProxyMetrics } from './proxy-metrics.js';
import { RequestTally } from './request-tally.js';
import type { ClientSide, RouteScope, RouteSettings } from './route-scope.js';
import { Upstream } from './upstream.js';

/** A backend as /debug/pools shows it. */
export interface BackendSnapshot {
  backend: string;
  weight: number;
  state: BackendState;
  inFlight: number;
  connections: number;
  /** Ejected (passive health) until this time, ISO 8601. */
  ejectedUntil?: string;
  /** Draining: what is still in flight is cut at this time, ISO 8601. */
  drainDeadline?: string;
}

/** What the dashboard samples: the pool's responses, and each backend's. */
export interface PoolTraffic {
  pool: RequestTally;
  backends: Map<string, RequestTally>;
}

export interface PoolSnapshot {
  algorithm: DesiredPool['algorithm'];
  /** More than half of the backends are ejected or unhealthy, so all of them are routed to. */
  panic: boolean;
  backends: BackendSnapshot[];
}

/**
 * Envoy's panic threshold: when fewer than this share of the backends is available, health is
 * ignored and every backend gets traffic, so a bad health signal cannot empty the pool. Exactly half
 * is not panic: a two-backend pool with one dead backend routes to the live one only.
 */
const PANIC_AVAILABLE_SHARE = 0.5;

const settingsOf = (plan: DesiredPool): RouteSettings => ({
  retries: plan.retries,
  responseTimeoutMs: plan.timeouts.responseSeconds * 1000,
  idleTimeoutMs: plan.timeouts.idleSeconds * 1000,
});

/** The backends that take new requests: the ready ones; the terminating ones only when none is ready. */
function routableBackends(backends: Backend[]): Backend[] {
  const ready = backends.filter((b) => b.state === 'ready');
  return ready.length > 0 ? ready : backends;
}

export interface LivePoolDeps {
  logger: Logger;
  metrics: ProxyMetrics;
}

export class LivePool implements RouteScope {
  readonly key: string;
  /** Every response of the pool, with or without a backend: the dashboard's and ballast_proxy_request_duration_seconds'. */
  readonly tally = new PoolTally();
  settings: RouteSettings;
  #plan: DesiredPool;
  readonly #logger: Logger;
  readonly #metrics: ProxyMetrics;
  /** Upstreams of backends that take new requests (health permitting), by backend id. */
  #upstreams = new Map<string, Upstream>();
  /** Upstreams finishing their in-flight work. */
  readonly #draining = new Set<Upstream>();
  #balancer: Balancer<Upstream>;
  #panic = false;
  #retired = false;
  #ejectionTimer?: NodeJS.Timeout;
  readonly #health: ActiveHealth;
  /** Reused for every pick: picking is synchronous, so one context per pool is enough. */
  readonly #pickContext: { clientAddress: string; tried?: ReadonlySet<Upstream> } = { clientAddress: '' };
  readonly #noBackend: BackendMetrics;
  readonly #retries: Counter.Internal;
  readonly #unwatch: () => void;

  constructor(plan: DesiredPool, deps: LivePoolDeps) {
    this.key = plan.key;
    this.#plan = plan;
    this.settings = settingsOf(plan);
    this.#logger = deps.logger.child({ pool: plan.key });
    this.#metrics = deps.metrics;
    this.#noBackend = deps.metrics.backend(plan.key, NO_BACKEND);
    this.#retries = deps.metrics.retries.labels(plan.key);
    this.#health = new ActiveHealth((u) => {
      this.#logger.warn({ backend: u.id, healthy: u.health.healthy }, u.health.healthy ? 'backend passes its health checks again' : 'backend failed its health checks');
      this.#rebuild();
    });
    this.#balancer = createBalancer(plan.algorithm, []);
    this.#unwatch = deps.metrics.watchPool(plan.key, { tally: this.tally, states: () => this.#backendSnapshots().map((b) => b.state) });
    this.update(plan);
  }

  /** Swaps in a new plan: new backends start, removed or terminating ones drain, the snapshot is rebuilt. */
  update(plan: DesiredPool): void {
    this.#plan = plan;
    this.settings = settingsOf(plan);
    const connectTimeoutMs = plan.timeouts.connectSeconds * 1000;
    const next = new Map<string, Upstream>();
    for (const b of routableBackends(plan.backends)) {
      const id = endpointId(b.address, b.port);
      let u = this.#upstreams.get(id);
      // The engine fixes the connect timeout per connection pool: a new one replaces (and drains) the old.
      if (u && u.connectTimeoutMs !== connectTimeoutMs) u = undefined;
      u ??= this.#takeBack(id, connectTimeoutMs);
      u ??= new Upstream({ address: b.address, port: b.port, weight: b.weight, connectTimeoutMs, metrics: this.#metrics.backend(this.key, id) });
      u.weight = b.weight;
      next.set(id, u);
    }
    const previous = this.#upstreams;
    this.#upstreams = next;
    this.#health.update(plan.healthCheck, next.values());
    this.#rebuild();
    for (const u of previous.values()) if (next.get(u.id) !== u) this.#drain(u);
  }

  /** A draining upstream whose backend is wanted again, before it finished draining. */
  #takeBack(id: string, connectTimeoutMs: number): Upstream | undefined {
    for (const u of this.#draining) {
      if (u.id === id && u.connectTimeoutMs === connectTimeoutMs && u.reactivate()) {
        this.#draining.delete(u);
        return u;
      }
    }
    return undefined;
  }

  #drain(u: Upstream): void {
    this.#draining.add(u);
    if (u.inFlight > 0) this.#logger.info({ backend: u.id, inFlight: u.inFlight }, 'draining backend');
    void u.drain(this.#plan.drainTimeoutSeconds * 1000).then(() => {
      this.#draining.delete(u);
      if (!this.#upstreams.has(u.id)) u.metrics.retire();
    });
  }

  /** Builds the snapshot new requests pick from: available backends, or all of them in panic. */
  #rebuild(): void {
    const now = Date.now();
    const all = [...this.#upstreams.values()];
    const available = all.filter((u) => u.health.healthy && !u.health.ejected(now));
    const panic = available.length < all.length * PANIC_AVAILABLE_SHARE;
    if (panic !== this.#panic) this.#logger.warn({ available: available.length, total: all.length }, panic ? 'panic: too few backends available, routing to all of them' : 'panic over');
    this.#panic = panic;
    this.#balancer = createBalancer(this.#plan.algorithm, this.#panic ? all : available);
    // Ejections end by time, not by an event: rebuild when the first one ends.
    clearTimeout(this.#ejectionTimer);
    const ends = all.map((u) => u.health.ejectedUntil).filter((t) => t > now);
    if (ends.length > 0) this.#ejectionTimer = setTimeout(() => this.#rebuild(), Math.min(...ends) - now).unref();
  }

  // RouteScope: called on the request path.

  pick(clientAddress: string, tried?: ReadonlySet<Upstream>): Upstream | undefined {
    const ctx = this.#pickContext;
    ctx.clientAddress = clientAddress;
    ctx.tried = tried;
    return this.#balancer.pick(ctx);
  }

  succeeded(upstream: Upstream): void {
    upstream.health.succeeded();
  }

  failed(upstream: Upstream, kind: FailureKind): void {
    // Rare, so counted twice: the pool's own tally shows its failures without summing backends that may be gone.
    upstream.metrics.tally.recordFailure(kind);
    this.tally.recordFailure(kind);
    const od = this.#plan.outlierDetection;
    const outlier: OutlierSettings = { maxFails: od.maxFails, failTimeoutMs: od.failTimeoutSeconds * 1000 };
    if (upstream.health.failed(Date.now(), outlier)) {
      upstream.metrics.ejected();
      this.#logger.warn({ backend: upstream.id, kind, forSeconds: od.failTimeoutSeconds }, 'backend ejected after failures');
      if (this.#upstreams.get(upstream.id) === upstream) this.#rebuild();
    }
  }

  internalError(upstream: Upstream | undefined, err: unknown): void {
    this.#logger.error({ backend: upstream?.id, err }, 'request failed inside the proxy; answered 502');
  }

  retry(failed: Upstream, tried: Set<Upstream>, clientAddress: string): Upstream | undefined {
    tried.add(failed);
    if (tried.size > this.settings.retries) return undefined;
    const next = this.pick(clientAddress, tried);
    if (next) this.#retries.inc();
    return next;
  }

  responded(upstream: Upstream | undefined, code: number, seconds: number): void {
    (upstream?.metrics ?? this.#noBackend).tally.record(code, seconds);
    this.tally.record(code, seconds);
  }

  // Entry points for listeners.

  handleRequest(req: IncomingMessage, res: ServerResponse, client: ClientSide): RoutedRequest {
    const forward = new ForwardRequest(this, client, req, res);
    forward.start();
    return forward;
  }

  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, client: ClientSide): void {
    new ForwardUpgrade(this, client, req, socket, head).start();
  }

  #backendSnapshots(): BackendSnapshot[] {
    const now = Date.now();
    const row = (u: Upstream, state: BackendState): BackendSnapshot => ({ backend: u.id, weight: u.weight, state, inFlight: u.inFlight, connections: u.connections });
    const rows: BackendSnapshot[] = [];
    for (const u of this.#upstreams.values()) {
      const ejected = u.health.ejected(now);
      rows.push({ ...row(u, !u.health.healthy ? 'unhealthy' : ejected ? 'ejected' : 'active'), ...(ejected && { ejectedUntil: new Date(u.health.ejectedUntil).toISOString() }) });
    }
    for (const u of this.#draining) {
      const deadline = u.drainDeadline;
      rows.push({ ...row(u, 'draining'), ...(Number.isFinite(deadline) && { drainDeadline: new Date(deadline).toISOString() }) });
    }
    return rows;
  }

  traffic(): PoolTraffic {
    const backends = new Map<string, RequestTally>();
    for (const u of this.#upstreams.values()) backends.set(u.id, u.metrics.tally);
    for (const u of this.#draining) if (!backends.has(u.id)) backends.set(u.id, u.metrics.tally);
    return { pool: this.tally, backends };
  }

  snapshot(): PoolSnapshot {
    return { algorithm: this.#plan.algorithm, panic: this.#panic, backends: this.#backendSnapshots() };
  }

  get plan(): DesiredPool {
    return this.#plan;
  }

  /**
   * Retires the pool: no new requests; every upstream drains for up to `timeoutMs` (the plan's
   * drainTimeoutSeconds by default). Resolves when all are closed. Calling it again can only bring
   * the deadline closer.
   */
  async retire(timeoutMs = this.#plan.drainTimeoutSeconds * 1000): Promise<void> {
    if (!this.#retired) {
      this.#retired = true;
      this.#health.stop();
      clearTimeout(this.#ejectionTimer);
      const previous = this.#upstreams;
      this.#upstreams = new Map();
      this.#balancer = createBalancer(this.#plan.algorithm, []);
      for (const u of previous.values()) this.#drain(u);
    }
    await Promise.all([...this.#draining].map((u) => u.drain(timeoutMs)));
    this.#unwatch();
  }
}
