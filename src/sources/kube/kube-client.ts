// The one place that talks to the Kubernetes API (with @kubernetes/client-node). Everything else
// sees plain JSON objects and the small KubeClient interface, so cluster logic is testable and the
// client library can change under it.
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../api/schema.js';

export type Json = Record<string, unknown>;

/** What a call was doing, for error messages that say which permission or object is missing. */
export interface ApiCall {
  verb: string;
  /** Resource as RBAC names it: `endpointslices.discovery.k8s.io`, `balancerpools/status.ballast.dev`, `leases.coordination.k8s.io`. */
  resource: string;
  /** Absent for a cluster-wide call. */
  namespace?: string;
}

/**
 * A failed API call: the HTTP status (0 when no answer came: refused, reset, timed out), the
 * server's Status reason and message, and the call, so callers can tell conflict from not-found
 * from outage and say what to fix.
 */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly call?: ApiCall,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function toKubeApiError(err: unknown, call?: ApiCall): KubeApiError {
  if (err instanceof KubeApiError) return err;
  if (err instanceof k8s.ApiException) {
    let message = `HTTP ${err.code}`;
    let reason: string | undefined;
    try {
      ({ message = message, reason } = JSON.parse(String(err.body)) as { message?: string; reason?: string });
    } catch {
      // not a Status body
    }
    return new KubeApiError(err.code, message, call, reason);
  }
  // No HTTP answer: fetch reports the socket error as its cause; a status code as statusCode (watch).
  const e = err as Error & { cause?: { code?: string; message?: string }; statusCode?: number };
  if (typeof e?.statusCode === 'number') return new KubeApiError(e.statusCode, e.message, call);
  const detail = e?.cause?.code ?? e?.cause?.message ?? (e?.name === 'TimeoutError' || e?.name === 'AbortError' ? 'no answer in time' : undefined);
  return new KubeApiError(0, detail ? `${e.message}: ${detail}` : String(e?.message ?? err), call);
}

/** Told about every call's outcome (failure reporting); KubeClient's constructor takes one. */
export interface ApiObserver {
  failed(err: KubeApiError): void;
  succeeded(call: ApiCall): void;
}

/** What the caller of one API call says about it. */
export interface CallOptions {
  /** Bounds the request (leader election's renew deadline). */
  signal?: AbortSignal;
  /**
   * A 404 is an outcome this caller expects and handles (no Lease yet, an Event the API dropped, an
   * object deleted meanwhile): still thrown, but told to the observer as an answer, not a failure.
   */
  notFoundIsOk?: boolean;
}

/** For a caller that passed `notFoundIsOk`: `undefined` for the API's 404 (nothing there), the error otherwise. */
export function absentIfNotFound(err: unknown): undefined {
  if (err instanceof KubeApiError && err.status === 404) return undefined;
  throw err;
}

/** client-node's per-call configuration for a signal. */
function withSignal(signal?: AbortSignal): k8s.ConfigurationOptions<k8s.ObservableMiddleware> | undefined {
  if (!signal) return undefined;
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(signal);
          return new k8s.Observable(Promise.resolve(ctx));
        },
        post: (res) => new k8s.Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
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
  /** As RBAC names it, for error messages: `endpointslices.discovery.k8s.io`. */
  resource: string;
  /** API path of the collection, cluster-wide or in one namespace. */
  path(namespace?: string): string;
}

export const WATCHED_KINDS: readonly WatchedKind[] = [
  { kind: 'BalancerPool', apiVersion: API_VERSION, resource: `${PLURAL}.${GROUP}`, path: (ns) => `/apis/${GROUP}/${VERSION}${ns ? `/namespaces/${ns}` : ''}/${PLURAL}` },
  { kind: 'Service', apiVersion: 'v1', resource: 'services', path: (ns) => `/api/v1${ns ? `/namespaces/${ns}` : ''}/services` },
  {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    resource: 'endpointslices.discovery.k8s.io',
    path: (ns) => `/apis/discovery.k8s.io/v1${ns ? `/namespaces/${ns}` : ''}/endpointslices`,
  },
];

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** How informers' watches talk to the server (client-go's reflector defaults, scaled for client-node). */
export interface WatchOptions {
  /**
   * Server-side end of each watch. Below client-node's 30 s idle timeout: the server closes the watch
   * (after a bookmark), the informer re-watches from that bookmark's resourceVersion, no relist.
   */
  timeoutSeconds: number;
}

export const DEFAULT_WATCH_OPTIONS: WatchOptions = { timeoutSeconds: 25 };

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

/** Which cluster, as which user, from which kubeconfig context: logged once at start. */
export interface ClusterTarget {
  server: string;
  context: string;
  /** The kubeconfig's user entry name (the authenticated name comes from `whoAmI`). */
  user: string;
}

// client-node's Watch with what its ListWatch never asks for: bookmarks, so a quiet watch's
// resourceVersion stays fresh, and a server-side timeout that ends it before the client's idle timer.
class BookmarkWatch extends k8s.Watch {
  constructor(
    config: k8s.KubeConfig,
    private readonly options: WatchOptions,
    private readonly onRequest?: (path: string, query: Record<string, unknown>) => void,
  ) {
    super(config);
  }

  override watch(path: string, queryParams: Record<string, unknown>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void) {
    const query = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.options.timeoutSeconds };
    this.onRequest?.(path, query);
    return super.watch(path, query, callback, done);
  }
}

/** Everything cluster mode needs from the API, as plain JSON. Errors are KubeApiError. */
export class KubeClient {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly discovery: k8s.DiscoveryV1Api;
  private readonly coordination: k8s.CoordinationV1Api;
  private readonly authentication: k8s.AuthenticationV1Api;

  constructor(
    readonly config: k8s.KubeConfig,
    private readonly watchOptions: WatchOptions = DEFAULT_WATCH_OPTIONS,
    private readonly observer?: ApiObserver,
  ) {
    this.custom = config.makeApiClient(k8s.CustomObjectsApi);
    this.core = config.makeApiClient(k8s.CoreV1Api);
    this.discovery = config.makeApiClient(k8s.DiscoveryV1Api);
    this.coordination = config.makeApiClient(k8s.CoordinationV1Api);
    this.authentication = config.makeApiClient(k8s.AuthenticationV1Api);
  }

  private async call<T>(what: ApiCall, fn: () => Promise<T>, opts: CallOptions = {}): Promise<T> {
    try {
      const result = await fn();
      this.observer?.succeeded(what);
      return result;
    } catch (err) {
      const e = toKubeApiError(err, what);
      if (e.status === 404 && opts.notFoundIsOk) this.observer?.succeeded(what);
      else this.observer?.failed(e);
      throw e;
    }
  }

  /**
   * The authenticated user name, from a SelfSubjectReview (which every authenticated user may create).
   * An API server without SelfSubjectReviews (v1 since 1.28) answers 404: the name stays unknown,
   * which fails nothing (its one caller logs the start and goes on).
   */
  async whoAmI(signal?: AbortSignal): Promise<string> {
    const review = await this.call(
      { verb: 'create', resource: 'selfsubjectreviews.authentication.k8s.io' },
      () => this.authentication.createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }, withSignal(signal)),
      { notFoundIsOk: true },
    );
    return review.status?.userInfo?.username ?? '(unknown)';
  }

  /** A list with its resourceVersion; items carry apiVersion and kind (the API leaves them off list items). */
  async list(kind: WatchedKind, opts: ListOptions): Promise<{ items: Json[]; resourceVersion: string }> {
    const { namespace, labelSelector, fieldSelector } = opts;
    const sel = { labelSelector, fieldSelector };
    const list = await this.call<{ items?: unknown[]; metadata?: { resourceVersion?: string } }>({ verb: 'list', resource: kind.resource, namespace }, () => {
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

  /**
   * An informer (list + watch with relist on 410) on the kind; events carry plain JSON. Its watches
   * ask for bookmarks and end server-side (WatchOptions); `onWatch` sees each watch request.
   */
  informer(kind: WatchedKind, opts: ListOptions, onWatch?: (path: string, query: Record<string, unknown>) => void): k8s.ListWatch<k8s.KubernetesObject> {
    const listFn = async () => {
      const { items, resourceVersion } = await this.list(kind, opts);
      return { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata: { resourceVersion }, items } as k8s.KubernetesListObject<k8s.KubernetesObject>;
    };
    const watch = new BookmarkWatch(this.config, this.watchOptions, onWatch);
    return new k8s.ListWatch(kind.path(opts.namespace), watch, listFn, false, opts.labelSelector, opts.fieldSelector);
  }

  /**
   * Replaces `/status` (PUT) with exactly `status`, conditional on `resourceVersion` (409 when stale):
   * a field Ballast no longer computes disappears, which a merge patch would leave behind.
   */
  async replacePoolStatus(namespace: string, name: string, resourceVersion: string, status: unknown, opts?: CallOptions): Promise<Json> {
    const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, resourceVersion }, status };
    return plain(
      await this.call(
        { verb: 'update', resource: `${PLURAL}/status.${GROUP}`, namespace },
        () => this.custom.replaceNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body }),
        opts,
      ),
    );
  }

  /** Creates a core/v1 Event with `count: 1`; returns its name, for `patchEvent`. */
  async createEvent(e: CoreEvent, now: Date): Promise<string> {
    const created = await this.call({ verb: 'create', resource: 'events', namespace: e.namespace }, () =>
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
    return created.metadata?.name ?? '';
  }

  /** Records another occurrence of the Event `name`: its new count and latest message, as client-go's correlator patches. */
  async patchEvent(namespace: string, name: string, update: { count: number; message: string }, now: Date, opts?: CallOptions): Promise<void> {
    await this.call(
      { verb: 'patch', resource: 'events', namespace },
      () => this.core.patchNamespacedEvent({ namespace, name, body: { ...update, lastTimestamp: now.toISOString() } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
      opts,
    );
  }

  async getConfigMap(namespace: string, name: string, opts?: CallOptions): Promise<Json> {
    return plain(await this.call({ verb: 'get', resource: 'configmaps', namespace }, () => this.core.readNamespacedConfigMap({ namespace, name }), opts));
  }

  /** ConfigMaps carrying `labelSelector`, in one namespace or all. */
  async listConfigMaps(labelSelector: string, namespace?: string): Promise<Json[]> {
    const list = await this.call({ verb: 'list', resource: 'configmaps', namespace }, () =>
      namespace ? this.core.listNamespacedConfigMap({ namespace, labelSelector }) : this.core.listConfigMapForAllNamespaces({ labelSelector }),
    );
    return (list.items ?? []).map((i) => plain<Json>(i));
  }

  async createConfigMap(namespace: string, body: Json): Promise<void> {
    await this.call({ verb: 'create', resource: 'configmaps', namespace }, () => this.core.createNamespacedConfigMap({ namespace, body: body as k8s.V1ConfigMap }));
  }

  async replaceConfigMap(namespace: string, name: string, body: Json, opts?: CallOptions): Promise<void> {
    await this.call({ verb: 'update', resource: 'configmaps', namespace }, () => this.core.replaceNamespacedConfigMap({ namespace, name, body: body as k8s.V1ConfigMap }), opts);
  }

  async deleteConfigMap(namespace: string, name: string, opts?: CallOptions): Promise<void> {
    await this.call({ verb: 'delete', resource: 'configmaps', namespace }, () => this.core.deleteNamespacedConfigMap({ namespace, name }), opts);
  }

  async getLease(namespace: string, name: string, opts: CallOptions = {}): Promise<LeaseRecord> {
    const lease = await this.call({ verb: 'get', resource: 'leases.coordination.k8s.io', namespace }, () => this.coordination.readNamespacedLease({ namespace, name }, withSignal(opts.signal)), opts);
    return { ...plain<LeaseRecord>(lease.spec ?? {}), resourceVersion: lease.metadata?.resourceVersion };
  }

  /** Creates (no resourceVersion) or replaces (optimistic: 409 when someone else wrote first) the Lease. */
  async writeLease(namespace: string, name: string, record: LeaseRecord, opts: CallOptions = {}): Promise<LeaseRecord> {
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
    const written = await this.call(
      { verb: record.resourceVersion ? 'update' : 'create', resource: 'leases.coordination.k8s.io', namespace },
      () =>
        record.resourceVersion
          ? this.coordination.replaceNamespacedLease({ namespace, name, body }, withSignal(opts.signal))
          : this.coordination.createNamespacedLease({ namespace, body }, withSignal(opts.signal)),
      opts,
    );
    return { ...plain<LeaseRecord>(written.spec ?? {}), resourceVersion: written.metadata?.resourceVersion };
  }
}
