// The one place that talks to the Kubernetes API (with @kubernetes/client-node). Everything else
// sees plain JSON objects and the small KubeClient interface, so cluster logic is testable and the
// client library can change under it.
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, PLURAL, VERSION } from '../../api/schema.js';

export type Json = Record<string, unknown>;

/** An API error with the HTTP status, so callers can tell conflict from not-found from outage. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function toKubeApiError(err: unknown): unknown {
  if (err instanceof k8s.ApiException) {
    let message = `HTTP ${err.code}`;
    try {
      message = (JSON.parse(String(err.body)) as { message?: string }).message ?? message;
    } catch {
      // not a Status body
    }
    return new KubeApiError(err.code, message);
  }
  return err;
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toKubeApiError(err);
  }
}

// client-node returns typed class instances (Dates and all); the rest of Ballast reads API JSON.
const plain = <T>(o: unknown): T => JSON.parse(JSON.stringify(o)) as T;

export function loadKubeConfig(file?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster service account
  return kc;
}

/** An object kind Ballast lists and watches. */
export interface WatchedKind {
  kind: 'BalancerPool' | 'Service' | 'EndpointSlice';
  apiVersion: string;
  /** API path of the collection, cluster-wide or in one namespace. */
  path(namespace?: string): string;
}

export const WATCHED_KINDS: readonly WatchedKind[] = [
  { kind: 'BalancerPool', apiVersion: API_VERSION, path: (ns) => `/apis/${GROUP}/${VERSION}${ns ? `/namespaces/${ns}` : ''}/${PLURAL}` },
  { kind: 'Service', apiVersion: 'v1', path: (ns) => `/api/v1${ns ? `/namespaces/${ns}` : ''}/services` },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: (ns) => `/apis/discovery.k8s.io/v1${ns ? `/namespaces/${ns}` : ''}/endpointslices` },
];

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface CoreEvent {
  namespace: string;
  involvedObject: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string; resourceVersion?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  component: string;
  instance: string;
}

export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  resourceVersion?: string;
}

/** Everything cluster mode needs from the API, as plain JSON. Errors are KubeApiError. */
export class KubeClient {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly discovery: k8s.DiscoveryV1Api;
  private readonly coordination: k8s.CoordinationV1Api;

  constructor(readonly config: k8s.KubeConfig) {
    this.custom = config.makeApiClient(k8s.CustomObjectsApi);
    this.core = config.makeApiClient(k8s.CoreV1Api);
    this.discovery = config.makeApiClient(k8s.DiscoveryV1Api);
    this.coordination = config.makeApiClient(k8s.CoordinationV1Api);
  }

  /** A list with its resourceVersion; items carry apiVersion and kind (the API leaves them off list items). */
  async list(kind: WatchedKind, opts: ListOptions): Promise<{ items: Json[]; resourceVersion: string }> {
    const { namespace, labelSelector, fieldSelector } = opts;
    const sel = { labelSelector, fieldSelector };
    const list = await call<{ items?: unknown[]; metadata?: { resourceVersion?: string } }>(() => {
      switch (kind.kind) {
        case 'BalancerPool':
          return namespace
            ? this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, ...sel })
            : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, ...sel });
        case 'Service':
          return namespace ? this.core.listNamespacedService({ namespace, ...sel }) : this.core.listServiceForAllNamespaces(sel);
        case 'EndpointSlice':
          return namespace ? this.discovery.listNamespacedEndpointSlice({ namespace, ...sel }) : this.discovery.listEndpointSliceForAllNamespaces(sel);
      }
    });
    return {
      items: (list.items ?? []).map((i) => ({ ...plain<Json>(i), apiVersion: kind.apiVersion, kind: kind.kind })),
      resourceVersion: list.metadata?.resourceVersion ?? '',
    };
  }

  /** An informer (list + watch with relist on 410) on the kind; events carry plain JSON. */
  informer(kind: WatchedKind, opts: ListOptions): k8s.ListWatch<k8s.KubernetesObject> {
    const listFn = async () => {
      const { items, resourceVersion } = await this.list(kind, opts);
      return { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata: { resourceVersion }, items } as k8s.KubernetesListObject<k8s.KubernetesObject>;
    };
    return new k8s.ListWatch(kind.path(opts.namespace), new k8s.Watch(this.config), listFn, false, opts.labelSelector, opts.fieldSelector);
  }

  async getPool(namespace: string, name: string): Promise<Json> {
    return plain(await call(() => this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })));
  }

  /** JSON merge patch of `/status`; `resourceVersion` makes it conditional (409 when stale). */
  async patchPoolStatus(namespace: string, name: string, status: unknown, resourceVersion?: string): Promise<Json> {
    const body = { metadata: resourceVersion ? { resourceVersion } : undefined, status };
    return plain(
      await call(() =>
        this.custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      ),
    );
  }

  async createEvent(e: CoreEvent): Promise<void> {
    const now = new Date();
    await call(() =>
      this.core.createNamespacedEvent({
        namespace: e.namespace,
        body: {
          metadata: { generateName: `${e.involvedObject.name}.`, namespace: e.namespace },
          involvedObject: e.involvedObject,
          type: e.type,
          reason: e.reason,
          message: e.message,
          source: { component: e.component },
          reportingComponent: e.component,
          reportingInstance: e.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      }),
    );
  }

  async getConfigMap(namespace: string, name: string): Promise<Json | undefined> {
    try {
      return plain(await call(() => this.core.readNamespacedConfigMap({ namespace, name })));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async createConfigMap(namespace: string, body: Json): Promise<void> {
    await call(() => this.core.createNamespacedConfigMap({ namespace, body: body as k8s.V1ConfigMap }));
  }

  async replaceConfigMap(namespace: string, name: string, body: Json): Promise<void> {
    await call(() => this.core.replaceNamespacedConfigMap({ namespace, name, body: body as k8s.V1ConfigMap }));
  }

  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    try {
      await call(() => this.core.deleteNamespacedConfigMap({ namespace, name }));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    try {
      const lease = await call(() => this.coordination.readNamespacedLease({ namespace, name }));
      return { ...plain<LeaseRecord>(lease.spec ?? {}), resourceVersion: lease.metadata?.resourceVersion };
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Creates (no resourceVersion) or replaces (optimistic: 409 when someone else wrote first) the Lease. */
  async writeLease(namespace: string, name: string, record: LeaseRecord): Promise<LeaseRecord> {
    // The apiserver's MicroTime wants exactly six fractional digits; a plain Date would send three.
    const micro = (t?: string) => (t ? new k8s.V1MicroTime(t) : undefined);
    const body: k8s.V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace, resourceVersion: record.resourceVersion },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        acquireTime: micro(record.acquireTime),
        renewTime: micro(record.renewTime),
        leaseTransitions: record.leaseTransitions,
      },
    };
    const written = await call(() =>
      record.resourceVersion
        ? this.coordination.replaceNamespacedLease({ namespace, name, body })
        : this.coordination.createNamespacedLease({ namespace, body }),
    );
    return { ...plain<LeaseRecord>(written.spec ?? {}), resourceVersion: written.metadata?.resourceVersion };
  }
}
