import { hostname } from 'node:os';
import { ChangeLog } from '../admin/change-log.js';
import { startBallast, type Ballast } from '../app.js';
import { formatFieldErrors } from '../api/validate.js';
import { ConfigMapWriter } from '../controller/configmap-writer.js';
import { LeaderElector } from '../controller/leader-elector.js';
import { StatusWriter } from '../controller/status-writer.js';
import type { BackoffOptions } from '../controller/work-queue.js';
import type { Logger } from '../log.js';
import type { ListenerPolicy } from '../plan/listener-policy.js';
import { KubeClient, loadKubeConfig } from '../sources/kube/kube-client.js';
import { KubeSource } from '../sources/kube/kube-source.js';
import { describeFileError, UsageError } from './errors.js';
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
  adminAllowedHosts?: string[];
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  resyncSeconds: number;
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

/** Cluster mode: informers feed the store; every replica proxies; the Lease holder writes status, Events and ConfigMaps. */
export async function startController(o: ControllerOptions): Promise<Controller> {
  const { logger } = o;
  const client = new KubeClient(kubeConfig(o.kubeconfig));
  const identity = o.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const status = new StatusWriter({ client, logger, instance: identity });
  // The source reports rejected objects before the app (and its queue) exists; bind the queue later.
  let requeue: (key: string) => void = () => {};
  const changes = new ChangeLog();
  const source = new KubeSource({
    client,
    logger,
    namespace: o.namespace,
    pool: o.pool,
    resyncMs: o.resyncSeconds * 1000,
    backoff: o.watchBackoff,
    onInvalid: (raw, errors) => {
      status.rejected(raw, errors, (key) => requeue(key));
      const meta = raw.metadata as { namespace?: string; name?: string } | undefined;
      changes.record({ type: 'Warning', reason: 'InvalidSpec', object: `${String(raw.kind)} ${meta?.namespace ?? 'default'}/${meta?.name ?? '?'}`, message: `spec rejected: ${formatFieldErrors(errors)}; keeping its last good state` });
    },
  });
  const app = await startBallast({
    logger,
    admin: o.admin,
    adminAllowedHosts: o.adminAllowedHosts,
    changes,
    sources: [source],
    actuators: [{ actuator: new ConfigMapWriter({ client, logger }), leaderOnly: true }],
    observers: [status],
    listenerPolicy: o.listenerNamespaces,
    leader: !o.leaderElect,
    shutdown: { acceptDelayMs: o.shutdownDelaySeconds * 1000, graceMs: 25_000 },
    workers: o.workers,
  });
  requeue = (key) => app.manager.queue.add(key);
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
          app.manager.resyncAll();
        },
        onStoppedLeading: () => app.reconciler.setLeader(false),
      })
    : undefined;
  elector?.start();
  return {
    app,
    elector,
    stop: async () => {
      await elector?.stop();
      await app.stop();
    },
  };
}

export async function runController(o: ControllerOptions): Promise<number> {
  const controller = await startController(o);
  return runUntilSignal(controller.stop, o.logger);
}
