// Every reason a pool can report, in one table: the plan, the actuators and the status writer name
// problems only through it, so a reason cannot be misspelt in one place and documented in another.
// Engine-neutral: dev mode logs the same reasons that cluster mode writes into conditions and Events.

/**
 * What part of the pool a problem concerns. A `listener` problem means the pool does not serve at all
 * (Ready is False even with backends); the others leave the last good state serving.
 */
export type ProblemKind = 'spec' | 'discovery' | 'listener' | 'nginx';

export const PROBLEMS = {
  /** The newest spec was rejected; the last good one keeps serving. */
  InvalidSpec: { kind: 'spec' },
  /** The Service is needed to map a port number to a name, and does not exist. */
  ServiceNotFound: { kind: 'discovery' },
  /** The Service, or its EndpointSlices, have no such port. */
  ServicePortNotFound: { kind: 'discovery' },
  /** No endpoint is ready or serving. */
  NoEndpoints: { kind: 'discovery' },
  /** Another pool holds (or was first to claim) the listener address; this one waits for it. */
  ListenerConflict: { kind: 'listener' },
  /** The pool's namespace may not open a listener on that port (`--listener-namespaces`). */
  ListenerNotAllowed: { kind: 'listener' },
  /** The listener could not open (port in use by another process, permission denied); retried with backoff. */
  ListenerFailed: { kind: 'listener' },
  /** The pool has no `spec.nginx` (offline rendering only). */
  NginxNotConfigured: { kind: 'nginx' },
  /** A backend address cannot be written into an NGINX upstream. */
  InvalidBackendAddress: { kind: 'nginx' },
  /** The pool name is too long for the ConfigMap's label. */
  InvalidPoolLabel: { kind: 'nginx' },
  /** The rendered upstream exceeds the 1 MiB ConfigMap limit. */
  ConfigMapTooLarge: { kind: 'nginx' },
  /** A ConfigMap of that name exists and is not managed by Ballast. */
  ConfigMapConflict: { kind: 'nginx' },
  /** The API refused or did not answer a ConfigMap write (RBAC, quota, outage); retried with backoff. */
  ConfigMapWriteFailed: { kind: 'nginx' },
  /** Another pool writes the same NGINX upstream file (dev mode, nginx-agent). */
  UpstreamConflict: { kind: 'nginx' },
  /** `nginx -t` refused the pool's new NGINX structure (nginx-agent); NGINX keeps the last good config. */
  NginxConfigRejected: { kind: 'nginx' },
} as const satisfies Record<string, { kind: ProblemKind }>;

export type ProblemReason = keyof typeof PROBLEMS;

/** A reason the spec cannot be fully served: the Degraded condition, a Warning Event, a log line. */
export interface Problem<R extends ProblemReason = ProblemReason> {
  reason: R;
  message: string;
}

/** Reasons of the healthy conditions. */
export const READY_REASON = 'BackendsAvailable';
export const NOT_DEGRADED_REASON = 'AsExpected';
