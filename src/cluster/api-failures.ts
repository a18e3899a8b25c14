// Failed API calls, said loudly and once: each distinct failure (verb, resource, namespace, status)
// is logged as an error naming the identity and the likely fix (the RBAC rule to add, the namespace
// to create, the kubeconfig to check), then again only after a growing quiet period (30 s doubling
// to 10 min) with the number of repeats, and once more at info when the call works again. While a
// call fails, /readyz lists it and ballast_kube_api_failing is 1 for it.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReadinessCheck } from '../admin/readiness.js';
import type { Logger } from '../log.js';
import { KubeApiError, type ApiCall, type ClusterTarget } from '../sources/kube/kube-client.js';

/** Who calls where: the kubeconfig's target and the authenticated name (once known). */
export interface Caller extends ClusterTarget {
  identity?: string;
}

// client-node's fallback when it finds no kubeconfig and no in-cluster service account.
const NO_KUBECONFIG_SERVER = 'http://localhost:8080';

function rule(resource: string, verb: string): string {
  const dot = resource.indexOf('.');
  const [plural, group] = dot < 0 ? [resource, ''] : [resource.slice(0, dot), resource.slice(dot + 1)];
  return `{ apiGroups: ["${group}"], resources: ["${plural}"], verbs: ["${verb}"] }`;
}

/** One line: what failed, for whom, and what to do about it. */
export function explainFailure(err: KubeApiError, caller: Caller): string {
  const call = err.call ?? { verb: 'call', resource: 'the API' };
  const where = call.namespace ? `in namespace ${call.namespace}` : 'cluster-wide';
  const who = caller.identity ?? `user ${caller.user} of context ${caller.context}`;
  const what = `${call.verb} ${call.resource} ${where}`;
  if (err.status === 0) {
    if (caller.server === NO_KUBECONFIG_SERVER) {
      return `${what} failed: no kubeconfig found (client-node fell back to ${NO_KUBECONFIG_SERVER}: ${err.message}); pass --kubeconfig, set $KUBECONFIG, or run in a Pod with a ServiceAccount`;
    }
    return `${what} failed: cannot reach the API server ${caller.server} (context ${caller.context}): ${err.message}; check the kubeconfig's server and the network`;
  }
  if (err.status === 401) return `${what} failed: ${caller.server} rejected the credentials of context ${caller.context} (401 Unauthorized); check the kubeconfig's user or the ServiceAccount token`;
  if (err.status === 403) {
    const grant = call.namespace ? `a Role in namespace ${call.namespace} (or a ClusterRole)` : 'a ClusterRole';
    return `${what} forbidden for ${who} (403): grant it in ${grant} bound to it: ${rule(call.resource, call.verb)}; manifests/ has the rules Ballast needs`;
  }
  const missingNamespace = /namespaces "([^"]+)" not found/.exec(err.message)?.[1];
  if (err.status === 404 && missingNamespace) {
    return `${what} failed: namespace ${missingNamespace} does not exist (404); create it (kubectl create namespace ${missingNamespace}) or point Ballast at another (--leader-election-namespace, --namespace)`;
  }
  if (err.status === 404 && call.resource.endsWith('ballast.dev')) return `${what} failed: ${err.message} (404); is the CRD installed? kubectl apply -f crds/`;
  return `${what} failed for ${who}: ${err.status} ${err.message}`;
}

interface Failing {
  message: string;
  since: number;
  lastLogged: number;
  quietMs: number;
  repeats: number;
}

const FIRST_QUIET_MS = 30_000;
const MAX_QUIET_MS = 10 * 60_000;

export class ApiFailures {
  private readonly failing = new Map<string, Failing>();
  private readonly gauge: Gauge<'verb' | 'resource' | 'namespace'>;
  private readonly errors: Counter<'verb' | 'resource' | 'code'>;

  constructor(
    private readonly logger: Logger,
    registry: Registry,
    readonly caller: Caller,
    private readonly now: () => number = Date.now,
  ) {
    this.gauge = new Gauge({ name: 'ballast_kube_api_failing', help: 'A Kubernetes API call that fails now (1) or failed and works again (0).', labelNames: ['verb', 'resource', 'namespace'], registers: [registry] });
    this.errors = new Counter({ name: 'ballast_kube_api_errors_total', help: 'Failed Kubernetes API calls by HTTP status (0: no answer).', labelNames: ['verb', 'resource', 'code'], registers: [registry] });
  }

  /**
   * A call failed; `err` should be a KubeApiError naming its call. A conflict is no failure (the
   * caller retries from the newer version); a 404 its caller expects never comes here (the caller
   * says so per call, `notFoundIsOk`, and the client reports it as an answer).
   */
  failed(err: unknown): void {
    if (!(err instanceof KubeApiError) || !err.call || err.status === 409) return;
    const { verb, resource, namespace = '' } = err.call;
    const key = `${verb} ${resource} ${namespace}`;
    this.errors.inc({ verb, resource, code: String(err.status) });
    this.gauge.set({ verb, resource, namespace }, 1);
    const message = explainFailure(err, this.caller);
    const now = this.now();
    const f = this.failing.get(key);
    if (f && f.message === message && now - f.lastLogged < f.quietMs) {
      f.repeats++;
      return;
    }
    const next: Failing = f && f.message === message ? { ...f, lastLogged: now, quietMs: Math.min(MAX_QUIET_MS, f.quietMs * 2), repeats: 0 } : { message, since: now, lastLogged: now, quietMs: FIRST_QUIET_MS, repeats: 0 };
    this.failing.set(key, next);
    this.logger.error({ verb, resource, namespace: namespace || undefined, identity: this.caller.identity, status: err.status, repeats: f?.repeats || undefined, failingForS: f ? Math.round((now - f.since) / 1000) : undefined }, message);
  }

  /** A call worked: a failure of the same call is over. */
  succeeded(call: ApiCall): void {
    const key = `${call.verb} ${call.resource} ${call.namespace ?? ''}`;
    const f = this.failing.get(key);
    if (!f) return;
    this.failing.delete(key);
    this.gauge.set({ verb: call.verb, resource: call.resource, namespace: call.namespace ?? '' }, 0);
    this.logger.info({ verb: call.verb, resource: call.resource, namespace: call.namespace, failedForS: Math.round((this.now() - f.since) / 1000) }, `${call.verb} ${call.resource} works again`);
  }

  /** What fails now, one explanation per call. */
  current(): string[] {
    return [...this.failing.values()].map((f) => f.message);
  }

  /**
   * The /readyz line: the failing calls listed, never failing readiness by themselves (before the
   * sources synced it fails anyway; after, the proxies serve the last known state).
   */
  readinessCheck(): ReadinessCheck {
    const failing = this.current();
    return { name: 'kube-api', ok: failing.length === 0 ? 'ok' : `ok: serving the last known state; ${failing.length} call${failing.length === 1 ? '' : 's'} failing`, details: failing };
  }
}
