import { hostname } from 'node:os';
import { ChangeLog } from '../admin/change-log.js';
import { startBallast, type Ballast } from '../app.js';
import { objectKey } from '../api/keys.js';
import { formatFieldErrors } from '../api/validate.js';
import { ConfigMapWriter } from '../cluster/configmap-writer.js';
import { ApiFailures, explainFailure } from '../cluster/api-failures.js';
import { EventRecorder } from '../cluster/event-recorder.js';
import { createRegistry } from '../admin/metrics.js';
import { LeaderElector } from '../cluster/leader-elector.js';
import { StatusWriter } from '../cluster/status-writer.js';
import type { BackoffOptions } from '../controller/work-queue.js';
import { describeFileError } from '../describe-file-error.js';
import type { Logger } from '../log.js';
import type { ListenerPolicy } from '../plan/listener-policy.js';
import { KubeApiError, KubeClient, loadKubeConfig } from '../sources/kube/kube-client.js';
import { KubeSource } from '../sources/kube/kube-source.js';
import { UsageError } from './errors.js';
import { runUntilSignal } from './run-until-signal.js';

export interface ControllerOptions {
  /** Leader-election identity and Event reportingInstance; default $POD_NAME, else host-pid. */
  identity?: string;
  kubeconfig?: string;
  namespace?: string;
  pool?: string;
  /** Which namespaces' pools may open listeners, on which ports (`--listener-namespaces`). */
  listenerNamespaces: ListenerPolicy;
  admin: string;
  /** Probes-only listener (`--health-address`), reachable by the kubelet and Prometheus. */
  health?: string;
  adminAllowedHosts?: string[];
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  /** Every pool reconciled again, from the informers' caches, at this period (0: never). */
  resyncSeconds: number;
  /** Server-side end of each watch (below client-node's 30 s idle timeout); the default suits a real cluster. */
  watchTimeoutSeconds?: number;
  shutdownDelaySeconds: number;
  /** Proxy worker processes (`--workers`); 1 serves in this process. */
  workers?: number;
  logger: Logger;
  /** Lease timings; client-go's defaults (15 s, 10 s, 2 s) when absent. */
  leaseTimings?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** Informer restart backoff; defaults suit a real API server. */
  watchBackoff?: BackoffOptions;
}

export interface Controller {
  app: Ballast;
  elector?: LeaderElector;
  stop(): Promise<void>;
}

const KUBECONFIG_HINT = 'pass a kubeconfig file, or leave --kubeconfig out for $KUBECONFIG, ~/.kube/config or the in-cluster service account';

/** `--kubeconfig FILE` that is missing, unreadable or not a kubeconfig is the user's to fix, in one line. */
function kubeConfig(file?: string): ReturnType<typeof loadKubeConfig> {
  if (!file) return loadKubeConfig();
  let kc;
  try {
    kc = loadKubeConfig(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ? describeFileError(err) : `not a kubeconfig (${(err as Error).message.split('\n')[0]})`;
    throw new UsageError(`--kubeconfig ${file}: ${reason}; ${KUBECONFIG_HINT}`);
  }
  if (!kc.getCurrentCluster()) throw new UsageError(`--kubeconfig ${file}: its current-context names no cluster; ${KUBECONFIG_HINT}`);
  return kc;
}

/**
 * Says once, at start, which cluster, context, identity and scope this process works with; the
 * identity is the authenticated name (a SelfSubjectReview), which failure messages then use. An API
 * that cannot be reached is reported here (loudly, by the failure reporter) and retried by the sources.
 */
async function logTarget(client: KubeClient, failures: ApiFailures, o: ControllerOptions, instance: string): Promise<void> {
  try {
    failures.caller.identity = await client.whoAmI(AbortSignal.timeout(5000));
  } catch {
    // Reported by the client's failure observer; the sources keep retrying.
  }
  const { server, context, user } = failures.caller;
  o.logger.info(
    {
      server,
      context,
      user,
      identity: failures.caller.identity,
      namespace: o.namespace ?? '(all)',
      pool: o.pool,
      lease: o.leaderElect ? `${o.leaderElectionNamespace}/${o.leaderElectionId}` : '(leader election off)',
      instance,
    },
    `cluster mode: ${server} (context ${context}) as ${failures.caller.identity ?? user}, ${o.namespace ? `namespace ${o.namespace}` : 'all namespaces'}${o.pool ? `, pool ${o.pool}` : ''}`,
  );
}

/** Cluster mode: informers feed the store; every replica proxies; the Lease holder writes status, Events and ConfigMaps. */
export async function startController(o: ControllerOptions): Promise<Controller> {
  const { logger } = o;
  const config = kubeConfig(o.kubeconfig);
  const registry = createRegistry();
  const failures = new ApiFailures(logger, registry, { server: config.getCurrentCluster()?.server ?? '(none)', context: config.getCurrentContext() || '(none)', user: config.getCurrentUser()?.name ?? '(none)' });
  const client = new KubeClient(config, o.watchTimeoutSeconds ? { timeoutSeconds: o.watchTimeoutSeconds } : undefined, failures);
  const identity = o.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  await logTarget(client, failures, o, identity);
  const status = new StatusWriter({
    client,
    logger,
    instance: identity,
    events: new EventRecorder({ client, logger }),
    explain: (err) => (err instanceof KubeApiError ? explainFailure(err, failures.caller) : (err as Error).message),
  });
  // The source reports rejected objects before the app (and its queue) exists; bind the queue later.
  let requeue: (key: string) => void = () => {};
  const changes = new ChangeLog();
  const source = new KubeSource({
    client,
    logger,
    namespace: o.namespace,
    pool: o.pool,
    backoff: o.watchBackoff,
    failures,
    onInvalid: (raw, errors) => {
      status.rejected(raw, errors, (key) => requeue(key));
      const meta = raw.metadata as { namespace?: string; name?: string } | undefined;
      changes.record({ type: 'Warning', reason: 'InvalidSpec', object: `${String(raw.kind)} ${objectKey(meta?.namespace, meta?.name ?? '?')}`, message: `spec rejected: ${formatFieldErrors(errors)}; keeping its last good state` });
    },
  });
  const configMaps = new ConfigMapWriter({ client, logger, namespace: o.namespace });
  const app = await startBallast({
    logger,
    registry,
    readyChecks: [() => failures.readinessCheck()],
    resyncMs: o.resyncSeconds * 1000,
    admin: o.admin,
    health: o.health,
    adminAllowedHosts: o.adminAllowedHosts,
    changes,
    invalidSpec: (key) => status.invalidSpec(key),
    sources: [source],
    actuators: [{ actuator: configMaps, leaderOnly: true }],
    observers: [status],
    listenerPolicy: o.listenerNamespaces,
    leader: !o.leaderElect,
    shutdown: { acceptDelayMs: o.shutdownDelaySeconds * 1000, graceMs: 25_000 },
    workers: o.workers,
  });
  requeue = (key) => app.manager.queue.add(key);
  /**
   * A new writer of cluster state: first the ConfigMaps left behind, then every pool. Not a sidecar
   * (--pool): its Role grants no ConfigMaps (docs/cluster.md, Sidecar).
   */
  const becameWriter = async () => {
    try {
      if (!o.pool) await configMaps.adoptOrphans((key) => app.store.get('BalancerPool', key));
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'finding the NGINX ConfigMaps Ballast labelled failed; stale ones stay until the next leadership');
    }
    app.manager.resyncAll();
  };
  if (!o.leaderElect) void becameWriter();
  const elector = o.leaderElect
    ? new LeaderElector({
        client,
        logger,
        namespace: o.leaderElectionNamespace,
        name: o.leaderElectionId,
        identity,
        ...o.leaseTimings,
        onStartedLeading: () => {
          app.reconciler.setLeader(true);
          void becameWriter();
        },
        onStoppedLeading: () => app.reconciler.setLeader(false),
      })
    : undefined;
  elector?.start();
  let stopped: Promise<void> | undefined;
  return {
    app,
    elector,
    // Once: a second SIGTERM, or a test that stops a leader itself, waits for the same shutdown.
    stop: () =>
      (stopped ??= (async () => {
        await elector?.stop();
        await app.stop();
      })()),
  };
}

export async function runController(o: ControllerOptions): Promise<number> {
  const controller = await startController(o);
  return runUntilSignal(controller.stop, o.logger);
}
