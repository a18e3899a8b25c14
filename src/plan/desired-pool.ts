// The pure heart of Ballast: what a pool should look like, from the objects in the store.
// No I/O, no clock: the same inputs always give the same plan, which is what lets every
// actuator compare plans and apply only a change.
import type { Problem } from '../api/conditions.js';
import { keyOf, type ObjectKey } from '../api/keys.js';
import type { Algorithm, BalancerPool, BalancerPoolSpec, EndpointSlice, Service } from '../api/schema.js';

/** A backend the proxy may route to. */
export interface Backend {
  address: string;
  port: number;
  weight: number;
  /** `ready`, or `terminating` for a serving-but-terminating endpoint used as a fallback (KEP-1669). */
  state: 'ready' | 'terminating';
  zone?: string;
  /** The Pod (or other object) behind the endpoint, `namespace/name`, when the slice names it. */
  targetRef?: string;
}

/** Why a discovered endpoint is not routed to; shown by /debug/pools. */
export interface ExcludedEndpoint {
  address: string;
  port: number;
  reason: 'NotReady' | 'Terminating' | 'Duplicate' | 'UnsupportedAddressType' | 'OtherAddressFamily';
}

/** A reason the spec cannot be fully served, found while planning; becomes the Degraded condition. */
export type PlanProblem = Problem<'ServiceNotFound' | 'ServicePortNotFound' | 'NoEndpoints' | 'ListenerConflict' | 'ListenerNotAllowed'>;

export interface DesiredPool {
  key: ObjectKey;
  namespace: string;
  name: string;
  /** The pool's uid in a cluster (owner of what is written for it); absent in dev mode. */
  uid?: string;
  generation?: number;
  algorithm: Algorithm;
  listener?: { address: string; port: number };
  /** Sorted by address then port, de-duplicated: the order is part of the plan. */
  backends: Backend[];
  excluded: ExcludedEndpoint[];
  /** Total discovered endpoints (after de-duplication), for status `backends.total`. */
  total: number;
  retries: number;
  terminating: BalancerPoolSpec['terminating'];
  healthCheck?: NonNullable<BalancerPoolSpec['healthCheck']>;
  outlierDetection: BalancerPoolSpec['outlierDetection'];
  timeouts: BalancerPoolSpec['timeouts'];
  drainTimeoutSeconds: number;
  nginx?: { configMap: string; upstream: string; keepalive: number; keepaliveTimeoutSeconds: number };
  problems: PlanProblem[];
}

/** `address:port`, an IPv6 address in brackets: a backend's name in logs, metrics, Events and /debug/pools. */
export const endpointId = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

const byAddress = new Intl.Collator('en', { numeric: true });
export const compareEndpoints = (a: { address: string; port: number }, b: { address: string; port: number }) =>
  byAddress.compare(a.address, b.address) || a.port - b.port;

/**
 * The name of the slice port that `spec.service.port` refers to. A name is used as is (the slices carry
 * it); a number is a Service port number, mapped to that port's name through the Service, as an Ingress
 * backend does. An unnamed single-port Service has the name "".
 */
function resolvePortName(spec: NonNullable<BalancerPoolSpec['service']>, service: Service | undefined): string | PlanProblem {
  if (typeof spec.port === 'string') return spec.port;
  if (!service) {
    return { reason: 'ServiceNotFound', message: `Service "${spec.name}" not found; it is needed to map port ${spec.port} to a port name` };
  }
  const match = service.spec.ports.find((p) => p.port === spec.port);
  if (!match) {
    const known = service.spec.ports.map((p) => p.port).join(', ') || 'none';
    return { reason: 'ServicePortNotFound', message: `Service "${spec.name}" has no port ${spec.port} (ports: ${known})` };
  }
  return match.name ?? '';
}

interface Candidate {
  address: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zone?: string;
  targetRef?: string;
}

// A better condition wins when slices disagree about one address:port (slices can overlap while
// the EndpointSlice controller moves endpoints between them).
const rank = (c: Candidate) => (c.ready ? 2 : c.serving ? 1 : 0);

/**
 * The address family a pool balances over: a dual-stack Service has one slice per family for the
 * same Pods, and using both would count every Pod twice. The Service's primary family (its first
 * `ipFamilies`, as kube-proxy and the ClusterIP have it); without the Service, IPv4 when any slice
 * has it.
 */
function addressFamily(service: Service | undefined, slices: EndpointSlice[]): 'IPv4' | 'IPv6' {
  return service?.spec.ipFamilies?.[0] ?? (slices.some((s) => s.addressType === 'IPv6') && !slices.some((s) => s.addressType === 'IPv4') ? 'IPv6' : 'IPv4');
}

function collectEndpoints(slices: EndpointSlice[], portName: string, family: 'IPv4' | 'IPv6', excluded: ExcludedEndpoint[]): Candidate[] | PlanProblem {
  const byKey = new Map<string, Candidate>();
  let portSeen = false;
  for (const slice of slices) {
    const port = slice.ports.find((p) => (p.name ?? '') === portName);
    if (!port || port.port == null) continue;
    portSeen = true;
    if (slice.addressType !== family && slice.addressType !== 'FQDN') {
      for (const ep of slice.endpoints) excluded.push({ address: ep.addresses[0], port: port.port, reason: 'OtherAddressFamily' });
      continue;
    }
    for (const ep of slice.endpoints) {
      // kube-proxy semantics: ready nil = true; serving nil = ready; terminating nil = false.
      const ready = ep.conditions?.ready ?? true;
      const terminating = ep.conditions?.terminating ?? false;
      const serving = ep.conditions?.serving ?? ready;
      const targetRef = ep.targetRef?.name ? `${ep.targetRef.namespace ?? slice.metadata.namespace ?? 'default'}/${ep.targetRef.name}` : undefined;
      // Only the first address is used, as kube-proxy does: the rest are reserved for dual stack.
      const address = ep.addresses[0];
      if (slice.addressType === 'FQDN') {
        excluded.push({ address, port: port.port, reason: 'UnsupportedAddressType' });
        continue;
      }
      const candidate: Candidate = { address, port: port.port, ready, serving, terminating, zone: ep.zone ?? undefined, targetRef };
      const k = `${address}|${port.port}`;
      const prev = byKey.get(k);
      if (prev) {
        excluded.push({ address, port: port.port, reason: 'Duplicate' });
        if (rank(candidate) > rank(prev)) byKey.set(k, candidate);
      } else {
        byKey.set(k, candidate);
      }
    }
  }
  // A slice without endpoints says nothing about ports: the EndpointSlice controller keeps one with
  // no ports and no endpoints for a Service that selects no Pod. That is NoEndpoints.
  if (!portSeen && slices.some((s) => s.endpoints.length > 0)) {
    return { reason: 'ServicePortNotFound', message: `no EndpointSlice of the Service has a port named "${portName}"` };
  }
  return [...byKey.values()];
}

function poolDefaults(pool: BalancerPool) {
  const { metadata, spec } = pool;
  const namespace = metadata.namespace ?? 'default';
  return {
    key: keyOf(pool),
    namespace,
    name: metadata.name,
    uid: metadata.uid,
    generation: metadata.generation,
    algorithm: spec.algorithm,
    listener: spec.listener,
    retries: spec.retries,
    terminating: spec.terminating,
    healthCheck: spec.healthCheck,
    outlierDetection: spec.outlierDetection,
    timeouts: spec.timeouts,
    drainTimeoutSeconds: spec.drainTimeoutSeconds,
    nginx: spec.nginx && {
      configMap: spec.nginx.configMap ?? `${metadata.name}-nginx`,
      upstream: spec.nginx.upstream ?? `${namespace}_${metadata.name}`.replace(/[^A-Za-z0-9_]/g, '_'),
      keepalive: spec.nginx.keepalive,
      keepaliveTimeoutSeconds: spec.nginx.keepaliveTimeoutSeconds,
    },
  };
}

/**
 * Computes the desired pool. `service` is the pool's Service if present; `slices` are that Service's
 * EndpointSlices (ObjectStore.slicesOf). Ready endpoints are used; serving-but-terminating ones only
 * when none is ready and the pool does not say `terminating: Exclude`.
 */
export function computeDesiredPool(pool: BalancerPool, service: Service | undefined, slices: EndpointSlice[]): DesiredPool {
  const base = poolDefaults(pool);
  const excluded: ExcludedEndpoint[] = [];
  const problems: PlanProblem[] = [];
  let backends: Backend[] = [];
  let total = 0;

  if (pool.spec.endpoints) {
    const seen = new Set<string>();
    for (const e of pool.spec.endpoints) {
      const k = `${e.address}|${e.port}`;
      if (seen.has(k)) {
        excluded.push({ address: e.address, port: e.port, reason: 'Duplicate' });
        continue;
      }
      seen.add(k);
      backends.push({ address: e.address, port: e.port, weight: e.weight, state: 'ready' });
    }
    total = backends.length;
  } else if (pool.spec.service) {
    const portName = resolvePortName(pool.spec.service, service);
    const candidates = typeof portName === 'string' ? collectEndpoints(slices, portName, addressFamily(service, slices), excluded) : portName;
    if (!Array.isArray(candidates)) {
      problems.push(candidates);
    } else {
      total = candidates.length;
      const ready = candidates.filter((c) => c.ready);
      const fallback = ready.length === 0 && pool.spec.terminating === 'Fallback';
      for (const c of candidates) {
        const use = c.ready || (fallback && c.serving && c.terminating);
        if (use) {
          backends.push({ address: c.address, port: c.port, weight: 1, state: c.ready ? 'ready' : 'terminating', zone: c.zone, targetRef: c.targetRef });
        } else {
          excluded.push({ address: c.address, port: c.port, reason: c.terminating ? 'Terminating' : 'NotReady' });
        }
      }
    }
  }
  backends = backends.sort(compareEndpoints);
  excluded.sort(compareEndpoints);
  if (backends.length === 0 && problems.length === 0) {
    problems.push({ reason: 'NoEndpoints', message: total === 0 ? 'the pool has no endpoints' : `none of the ${total} endpoints is ready or serving` });
  }
  return { ...base, backends, excluded, total, problems };
}

/** Plans are compared structurally; key order is fixed by computeDesiredPool, so JSON is exact. */
export function samePlan(a: DesiredPool | undefined, b: DesiredPool | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
