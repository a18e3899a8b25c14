// Assembles one Ballast process: sources → store → manager/reconciler → actuators, plus the admin
// listener. Dev mode and cluster mode differ only in the sources, actuators and observers they pass.
import type { ObjectKey } from './api/keys.js';
import type { StatusInput } from './controller/pool-status.js';
import type { Registry } from 'prom-client';
import { AdminServer } from './admin/admin-server.js';
import { ChangeLog } from './admin/change-log.js';
import { Dashboard } from './admin/dashboard.js';
import { debugPools } from './admin/debug-pools.js';
import { readiness, type ReadinessCheck } from './admin/readiness.js';
import { controllerMetrics, createRegistry } from './admin/metrics.js';
import type { Actuator } from './controller/actuator.js';
import { Manager } from './controller/manager.js';
import { PoolReconciler, type ManagedActuator, type ReconcileObserver } from './controller/pool-reconciler.js';
import { POOL_WATCHES } from './controller/pool-watches.js';
import type { Source } from './controller/source.js';
import { ObjectStore } from './controller/store.js';
import type { Logger } from './log.js';
import type { ListenerPolicy } from './plan/listener-policy.js';
import type { ProxyEngine } from './proxy/proxy-engine.js';
import { ProxyPools } from './proxy/proxy-pools.js';
import { ProxyWorkers } from './proxy/proxy-workers.js';

export interface BallastOptions {
  logger: Logger;
  sources: Source[];
  /** Actuators besides the proxy. */
  actuators?: ManagedActuator[];
  /** The in-process proxy (default true); the NGINX agent balances in NGINX instead. */
  proxy?: boolean;
  /**
   * Proxy worker processes (default 1: the proxy runs in this process). Above 1, node:cluster workers
   * serve and this process keeps the control loop; the program must run runProxyWorker in a worker.
   */
  workers?: number;
  /** More /readyz checks, besides the sources' sync and the first reconciles (e.g. NGINX's first load). */
  readyChecks?: Array<() => ReadinessCheck>;
  observers?: ReconcileObserver[];
  /** Admin listener `host:port`; omit for none. */
  admin?: string;
  /** Probes-only listener `host:port` (/healthz /livez /readyz /metrics), for the kubelet and Prometheus; omit for none. */
  health?: string;
  /** Host names the admin listener answers besides loopback, IP literals and its own host. */
  adminAllowedHosts?: readonly string[];
  registry?: Registry;
  /** False when a leader election decides later (leader-only actuators and observers wait for it). */
  leader?: boolean;
  /** Which namespaces may open listeners on which ports; every namespace when absent (dev mode). */
  listenerPolicy?: ListenerPolicy;
  /** The dashboard's latest changes; pass one when a source reports rejected objects into it. */
  changes?: ChangeLog;
  /** Cluster mode: the rejected spec of a pool, for the dashboard (StatusWriter keeps it). */
  invalidSpec?: (key: ObjectKey) => StatusInput['invalid'];
  /**
   * Every pool reconciled again at this period, after each source's resync (0 or absent: never):
   * level-triggered all the way, whatever a reconcile missed (a status someone overwrote, a ConfigMap
   * edited by hand) is put right within a period.
   */
  resyncMs?: number;
  /** SIGTERM: how long listeners keep accepting (endpoint propagation), then how long in-flight work may take. */
  shutdown?: { acceptDelayMs: number; graceMs: number };
}

export interface Ballast {
  store: ObjectStore;
  manager: Manager;
  reconciler: PoolReconciler;
  proxy?: ProxyEngine;
  registry: Registry;
  /** The admin listener's bound `host:port`, when one was asked for. */
  adminAddress?: string;
  /** The probes-only listener's bound `host:port`, when one was asked for. */
  healthAddress?: string;
  /** Readiness-first shutdown: /readyz fails, listeners drain, sources stop. */
  stop(): Promise<void>;
}

export async function startBallast(opts: BallastOptions): Promise<Ballast> {
  const { logger } = opts;
  const registry = opts.registry ?? createRegistry();
  const store = new ObjectStore(({ kind, key, owner, claimant }) =>
    logger.warn({ kind, object: key, owner, claimant }, `${kind} ${key} from ${claimant} ignored: ${owner} already declares it`),
  );
  // A closed listener may be what a waiting pool needs: it is reconciled again (the manager exists by then).
  const onListenerClosed = () => manager.enqueueAll(reconciler.waitingForListener());
  const workers = opts.workers ?? 1;
  const proxy: ProxyEngine | undefined =
    opts.proxy === false ? undefined : workers > 1 ? new ProxyWorkers({ count: workers, logger, registry, onListenerClosed }) : new ProxyPools({ logger, registry, onListenerClosed });
  const actuators: ManagedActuator[] = [...(proxy ? [{ actuator: proxy }] : []), ...(opts.actuators ?? [])];
  // The dashboard lives on the admin listener: no admin, no dashboard.
  const dashboardProxy = proxy && {
    views: () => proxy.views(),
    traffic: async () => proxy.traffic(),
  };
  const dashboard = opts.admin ? new Dashboard({ proxy: dashboardProxy, sources: opts.sources, changes: opts.changes ?? new ChangeLog(), invalidSpec: opts.invalidSpec }) : undefined;
  const reconciler = new PoolReconciler(store, actuators, [...(opts.observers ?? []), ...(dashboard ? [dashboard] : [])], logger, {
    openListeners: () => proxy?.listeners() ?? new Map(),
    listenerPolicy: opts.listenerPolicy,
  });
  reconciler.setLeader(opts.leader ?? true);
  const manager = new Manager({ store, sources: opts.sources, reconciler, watches: POOL_WATCHES, logger, metrics: controllerMetrics(registry) });
  let stopping = false;
  const adminServer = (address: string, probesOnly: boolean) =>
    new AdminServer({
      address,
      probesOnly,
      allowedHosts: opts.adminAllowedHosts,
      metrics: proxy ? { contentType: registry.contentType, metrics: () => proxy.metrics() } : registry,
      readiness: () =>
        readiness({
          stopping,
          ...manager.progress(),
          listeners: proxy?.listenerStates() ?? [],
          checks: [...(proxy?.readyChecks() ?? []), ...(opts.readyChecks?.map((c) => c()) ?? [])],
        }),
      pools: async () => debugPools(reconciler.appliedPlans(), (await dashboardProxy?.views()) ?? []),
      dashboard: probesOnly ? undefined : dashboard,
    });
  const admin = opts.admin ? adminServer(opts.admin, false) : undefined;
  const health = opts.health ? adminServer(opts.health, true) : undefined;
  // Admin first: liveness answers while the sources sync, readiness says "not yet".
  const adminAddress = await admin?.listen();
  if (adminAddress) logger.info({ admin: adminAddress }, 'admin listening');
  const healthAddress = await health?.listen();
  if (healthAddress) logger.info({ health: healthAddress }, 'health and metrics listening');
  // Every worker runs before the first reconcile, so the first plans reach all of them.
  await proxy?.start().catch(async (err: unknown) => {
    await proxy.close();
    await Promise.all([admin?.close(), health?.close()]);
    throw err;
  });
  dashboard?.start();
  await manager.start();
  logger.info({ pools: store.keys('BalancerPool').length }, 'ballast started');
  const resync = opts.resyncMs
    ? setInterval(() => {
        for (const s of opts.sources) s.resync?.();
        manager.resyncAll();
      }, opts.resyncMs).unref()
    : undefined;

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(resync);
    const { acceptDelayMs, graceMs } = opts.shutdown ?? { acceptDelayMs: 0, graceMs: 10_000 };
    await proxy?.shutdown({ acceptDelayMs, graceMs });
    await manager.stop();
    await Promise.all(actuators.map(({ actuator }: { actuator: Actuator }) => actuator.close()));
    dashboard?.stop();
    await Promise.all([admin?.close(), health?.close()]);
  };
  return { store, manager, reconciler, proxy, registry, adminAddress, healthAddress, stop };
}
