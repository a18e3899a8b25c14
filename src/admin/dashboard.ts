// GET / on the admin address: a read-only live dashboard. The page is three static files shipped in
// the package (./dashboard/), served with a strict Content-Security-Policy; its data comes from one
// JSON view, built at most once a second and shared by every viewer (Server-Sent Events at
// /dashboard/events, or one GET of /dashboard/state). It reads what the reconciler and the proxy
// already hold; the request path only bumps the tallies the TrafficSampler reads.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROBLEMS } from '../api/conditions.js';
import type { ObjectKey } from '../api/keys.js';
import type { BalancerPool, BalancerPoolStatus } from '../api/schema.js';
import type { ActuatorReport } from '../controller/actuator.js';
import type { ReconcileObserver, ReconcileResult } from '../controller/pool-reconciler.js';
import { computeStatus, eventsFor, problemsOf, type StatusInput } from '../controller/pool-status.js';
import type { Source } from '../controller/source.js';
import { samePlan, type DesiredPool } from '../plan/desired-pool.js';
import type { PoolTraffic } from '../proxy/live-pool.js';
import type { ChangeLog } from './change-log.js';
import { debugPools } from './debug-pools.js';
import type { ProxyView } from '../proxy/proxy-engine.js';
import { TrafficSampler, type HistoryPoint, type TrafficStats } from './traffic-sampler.js';

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/** Nothing but our own files, no inline script or style, no frames: manifest text can never run. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** A viewer whose stream backs up past this is too slow to follow; it is cut (EventSource reconnects). */
const MAX_BUFFERED_BYTES = 4 << 20;
/** After a GET of /dashboard/state, backends are sampled this long (a polling viewer). */
const POLL_VIEWER_MS = 5_000;

/** What the dashboard samples once a second: the proxy's state and its traffic counts (summed over workers). */
export interface DashboardProxy {
  views(): Promise<readonly ProxyView[]>;
  traffic(): Promise<Map<ObjectKey, PoolTraffic>>;
}

export interface DashboardOptions {
  /** Absent where Ballast runs no proxy (the NGINX agent): pools show their plan only. */
  proxy?: DashboardProxy;
  sources: readonly Source[];
  changes: ChangeLog;
  /** A spec the API holds but Ballast rejected (cluster mode): the pool shows it as its status does. */
  invalidSpec?: (key: ObjectKey) => StatusInput['invalid'];
  now?: () => number;
  /** Sampling period (default 1 s). */
  intervalMs?: number;
}

interface PoolRecord {
  pool: BalancerPool;
  plan?: DesiredPool;
  reports: Record<string, ActuatorReport>;
  status: BalancerPoolStatus;
  lastChange: string;
}

/** kubectl's copy of the whole object: long, and nothing a reader needs twice. */
const HIDDEN_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

const round = (n: number | undefined, digits = 2) => (n === undefined ? null : Number(n.toFixed(digits)));
const traffic = (s: TrafficStats | undefined) =>
  s && { rps: round(s.rps, 1), errorRate: round(s.errorRate, 4), p50: round(s.p50), p99: round(s.p99), errors: s.errors, failures: s.failures };
const point = (p: HistoryPoint) => ({ t: p.t, rps: round(p.rps, 1), p50: round(p.p50), p99: round(p.p99), errorRate: round(p.errorRate, 4) });

export class Dashboard implements ReconcileObserver {
  readonly #opts: DashboardOptions;
  readonly #now: () => number;
  readonly #sampler = new TrafficSampler();
  readonly #pools = new Map<ObjectKey, PoolRecord>();
  readonly #viewers = new Set<ServerResponse>();
  readonly #assets = new Map<string, Promise<Buffer>>();
  #polledAt = Number.NEGATIVE_INFINITY;
  #timer?: NodeJS.Timeout;
  #sampling = false;
  /** The proxy's state at the latest tick. */
  #proxyViews: readonly ProxyView[] = [];
  /** The view of the latest tick: with each pool's whole history, and with only its newest point. */
  #full?: string;
  #update?: string;

  constructor(opts: DashboardOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  start(): void {
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#opts.intervalMs ?? 1000).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const res of this.#viewers) res.end();
    this.#viewers.clear();
  }

  /** Follows every reconcile: the pool's status as Ballast sees it, and what changed. */
  async observe({ key, pool, plan, previous, reports }: ReconcileResult): Promise<void> {
    const before = this.#pools.get(key);
    const time = new Date(this.#now());
    const object = `BalancerPool ${key}`;
    if (!pool) {
      if (before) this.#opts.changes.record({ type: 'Normal', reason: 'PoolRemoved', object, message: 'the pool was deleted; its backends drain' });
      this.#pools.delete(key);
      return;
    }
    const invalid = this.#opts.invalidSpec?.(key);
    const status = computeStatus({ plan, reports, invalid, generation: pool.metadata.generation, previous: before?.status, now: time });
    if (!before) this.#opts.changes.record({ type: 'Normal', reason: 'PoolAdded', object, message: `${plan?.backends.length ?? 0} backends, algorithm ${pool.spec.algorithm}` });
    for (const e of eventsFor({ plan: before ? previous : undefined, status: before?.status }, { plan, status, problems: problemsOf(plan, reports, invalid) })) {
      this.#opts.changes.record({ ...e, object });
    }
    const changed = !before || !samePlan(previous, plan) || JSON.stringify(before.status) !== JSON.stringify(status);
    this.#pools.set(key, { pool, plan, reports, status, lastChange: changed ? time.toISOString() : before.lastChange });
  }

  /** Samples the proxy and rebuilds the view; sends it to every open stream. A slow sample skips ticks. */
  async tick(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    let traffic: Map<ObjectKey, PoolTraffic>;
    try {
      [this.#proxyViews, traffic] = this.#opts.proxy ? await Promise.all([this.#opts.proxy.views(), this.#opts.proxy.traffic()]) : [[], new Map()];
    } finally {
      this.#sampling = false;
    }
    const now = this.#now();
    const watched = this.#viewers.size > 0 || now - this.#polledAt < POLL_VIEWER_MS;
    this.#sampler.tick(traffic, now, watched);
    this.#full = this.#update = undefined;
    if (this.#viewers.size === 0) return;
    const message = `event: update\ndata: ${this.#view(false)}\n\n`;
    for (const res of this.#viewers) {
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      else res.write(message);
    }
  }

  /** Serves the dashboard's paths; false for any other path. */
  serve(path: string, req: IncomingMessage, res: ServerResponse): boolean {
    const asset = ASSETS[path];
    if (asset) {
      void this.#asset(asset.file).then(
        (body) => {
          res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
          res.end(`dashboard file ${asset.file} is missing from this build: ${err.message}\n`);
        },
      );
      return true;
    }
    if (path === '/dashboard/state') {
      // Backends are sampled from the next tick on, and for a while after the last poll.
      this.#polledAt = this.#now();
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
      res.end(this.#view(true));
      return true;
    }
    if (path === '/dashboard/events') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream' });
      if (req.method === 'HEAD') {
        res.end();
        return true;
      }
      this.#viewers.add(res);
      res.once('close', () => this.#viewers.delete(res));
      res.write(`retry: 2000\nevent: snapshot\ndata: ${this.#view(true)}\n\n`);
      return true;
    }
    return false;
  }

  #asset(file: string): Promise<Buffer> {
    let p = this.#assets.get(file);
    if (!p) {
      p = readFile(new URL(`./dashboard/${file}`, import.meta.url));
      this.#assets.set(file, p);
      p.catch(() => this.#assets.delete(file));
    }
    return p;
  }

  #view(full: boolean): string {
    if (full) return (this.#full ??= JSON.stringify(this.#build(true)));
    return (this.#update ??= JSON.stringify(this.#build(false)));
  }

  #build(full: boolean) {
    const sampler = this.#sampler;
    const { sources, changes } = this.#opts;
    const plans = [...this.#pools.values()].flatMap((r) => (r.plan ? [r.plan] : []));
    const debug = new Map(debugPools(plans, this.#proxyViews).map((d) => [d.pool, d]));
    const pools = [...this.#pools.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, r]) => {
        const d = debug.get(key);
        const condition = (type: string) => {
          const c = r.status.conditions?.find((x) => x.type === type);
          return c && { status: c.status, reason: c.reason, message: c.message, since: c.lastTransitionTime };
        };
        const origin = sources.map((s) => s.origin?.('BalancerPool', key)).find(Boolean);
        const history = full ? sampler.history(key).map(point) : [sampler.latest(key)].filter((p) => p !== undefined).map(point);
        return {
          key,
          namespace: r.pool.metadata.namespace ?? 'default',
          name: r.pool.metadata.name,
          annotations: Object.fromEntries(Object.entries(r.pool.metadata.annotations ?? {}).filter(([k]) => !HIDDEN_ANNOTATIONS.has(k))),
          source: sources.map((s) => s.name).join(', '),
          origin,
          generation: r.pool.metadata.generation,
          algorithm: r.pool.spec.algorithm,
          listener: r.status.listener ?? (r.plan?.listener && `${r.plan.listener.address}:${r.plan.listener.port}`),
          listening: Boolean(d?.listener),
          listenerProblem: problemsOf(r.plan, r.reports).find((p) => PROBLEMS[p.reason].kind === 'listener'),
          ready: condition('Ready'),
          degraded: condition('Degraded'),
          backendsReady: r.status.backends?.ready ?? 0,
          backendsTotal: r.status.backends?.total ?? 0,
          /** Taking new requests now: ready or fallback endpoints, minus ejected, unhealthy and draining ones. */
          serving: d?.backends.filter((b) => b.state === 'active').length ?? 0,
          panic: d?.panic ?? false,
          traffic: traffic(sampler.pool(key)),
          lastChange: r.lastChange,
          backends: (d?.backends ?? []).map((b) => ({ ...b, traffic: traffic(sampler.backend(key, b.backend)) })),
          excluded: d?.excluded ?? [],
          history,
        };
      });
    return { generatedAt: new Date(this.#now()).toISOString(), full, pools, changes: changes.recent().slice(0, 20) };
  }
}
