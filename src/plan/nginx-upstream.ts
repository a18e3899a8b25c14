// Pure rendering of a desired pool as an NGINX `upstream` block and the ConfigMap that carries it.
// No I/O and no clock: the same plan always renders the same bytes, so the content hash decides
// whether anything downstream (a file, a ConfigMap, an nginx reload) has to change at all.
//
// Empty pools. NGINX rejects an `upstream` with no `server`, and a pool whose only server is marked
// `down` (or refuses connections) makes nginx answer 502 "no live upstreams", which reads as a broken
// backend rather than "this pool has nothing to route to". NGINX OSS has no upstream-level way to answer
// 503, so an empty pool renders, in the same file, a tiny `server` that returns 503 and an upstream that
// points at it. The file is included in the `http {}` context (it has to be, for the upstream), so the
// ConfigMap stays self-contained and the main config needs nothing special. The internal server listens
// on loopback TCP, not a unix socket: nginx does not remove a stale socket file after a crash and would
// then fail to bind at start. All empty pools share one port; each has its own `server_name` so nginx
// does not warn, and whichever answers, the answer is the same 503. `nginx -t` does not bind, so a
// port already taken in the nginx Pod only shows at reload: pick another with `emptyPoolListen`.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Problem } from '../api/conditions.js';
import type { Algorithm } from '../api/schema.js';
import type { DesiredPool } from './desired-pool.js';

/** Where the internal 503 server of empty pools listens; outside Linux's ephemeral port range. */
export const DEFAULT_EMPTY_POOL_LISTEN = '127.0.0.1:65503';

/** The Kubernetes API server rejects ConfigMaps whose data exceeds 1 MiB. */
export const MAX_CONFIGMAP_BYTES = 1048576;

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const POOL_LABEL = 'ballast.dev/pool';
export const CONFIG_HASH_ANNOTATION = 'ballast.dev/config-hash';

export interface UpstreamRenderOptions {
  /** `address:port` of the internal 503 server rendered for a pool with no backend. */
  emptyPoolListen?: string;
}

export interface ConfigMapOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface NginxConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences?: Array<ConfigMapOwner & { controller: true }>;
  };
  data: Record<string, string>;
}

/** Why a plan cannot be written as NGINX config. */
export type NginxProblem = Problem<'NginxNotConfigured' | 'InvalidBackendAddress' | 'InvalidPoolLabel' | 'ConfigMapTooLarge'>;

const ALGORITHM_DIRECTIVE: Record<Algorithm, string | undefined> = {
  RoundRobin: undefined, // NGINX's default is smooth weighted round robin, as ours
  LeastConnections: 'least_conn;',
  IPHash: 'ip_hash;',
  Random: 'random two;', // power of two choices: of two random servers, the one with fewer connections
};

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

// Names reach comments and a quoted `return` body; anything that could end the line or the string,
// or start an nginx variable, is replaced so that no object name can inject configuration.
const safeText = (s: string) => s.replace(/[^A-Za-z0-9._/-]/g, '_');

/** An address nginx parses as one token: an IP literal or a DNS name; anything else could inject config. */
function renderAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 6) return `[${address}]`;
  if (family === 4 || HOSTNAME.test(address)) return address;
  return undefined;
}

// nginx parses fail_timeout in whole seconds ("250ms" is refused); rounding up keeps a short
// timeout short without turning it into 0, which would make an ejection last under a second.
const wholeSeconds = (s: number) => `${Math.max(1, Math.ceil(s))}s`;

function requireNginx(plan: DesiredPool): NonNullable<DesiredPool['nginx']> {
  if (!plan.nginx) throw new TypeError(`pool ${plan.key} has no spec.nginx; only such pools render as NGINX config`);
  return plan.nginx;
}

function invalidAddressProblem(plan: DesiredPool): NginxProblem | undefined {
  const bad = plan.backends.filter((b) => renderAddress(b.address) === undefined).map((b) => JSON.stringify(b.address));
  if (bad.length === 0) return undefined;
  return {
    reason: 'InvalidBackendAddress',
    message: `backend address ${bad.join(', ')} is neither an IP address nor a DNS name; NGINX config is not written`,
  };
}

/**
 * The pool as an NGINX `upstream` block (plus, for a pool with no backend, the internal 503 server
 * described at the top of this file). Deterministic: backends keep the plan's order.
 * Throws a TypeError when the plan has no `nginx` section or a backend address is not an IP or DNS
 * name (call checkConfigMap first to get that as a problem instead).
 */
export function renderUpstream(plan: DesiredPool, options: UpstreamRenderOptions = {}): string {
  const nginx = requireNginx(plan);
  const addressProblem = invalidAddressProblem(plan);
  if (addressProblem) throw new TypeError(addressProblem.message);
  const pool = `${safeText(plan.namespace)}/${safeText(plan.name)}`;
  const lines = [`# Generated by Ballast from BalancerPool ${pool}; edits are overwritten.`];

  if (plan.backends.length === 0) {
    const listen = options.emptyPoolListen ?? DEFAULT_EMPTY_POOL_LISTEN;
    lines.push(
      '# No backend: requests are answered 503 at once by the local server below.',
      `upstream ${nginx.upstream} {`,
      `    server ${listen};`,
      '}',
      'server {',
      `    listen ${listen};`,
      `    server_name ${nginx.upstream}.ballast-empty-pool;`,
      '    access_log off;',
      '    default_type text/plain;',
      `    return 503 "no ready backend in BalancerPool ${pool}\\n";`,
      '}',
    );
    return `${lines.join('\n')}\n`;
  }

  const { maxFails, failTimeoutSeconds } = plan.outlierDetection;
  lines.push(`# algorithm ${plan.algorithm}, ${plan.backends.length} backend(s)`, `upstream ${nginx.upstream} {`);
  // nginx requires the balancing method before `keepalive`.
  const method = ALGORITHM_DIRECTIVE[plan.algorithm];
  if (method) lines.push(`    ${method}`);
  for (const b of plan.backends) {
    // Terminating endpoints are in the plan only when no ready one exists (KEP-1669 fallback), so they
    // are plain servers: `backup` would be wrong alone and is refused with ip_hash/random anyway.
    const note = b.state === 'terminating' ? ' # terminating: fallback while no endpoint is ready' : '';
    lines.push(
      `    server ${renderAddress(b.address)}:${b.port} weight=${b.weight} max_fails=${maxFails} fail_timeout=${wholeSeconds(failTimeoutSeconds)};${note}`,
    );
  }
  if (nginx.keepalive > 0) {
    lines.push(`    keepalive ${nginx.keepalive};`, `    keepalive_timeout ${nginx.keepaliveTimeoutSeconds}s;`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** A stable content hash: the first 16 hex digits of the SHA-256 of `text`. */
export function configHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The ConfigMap data key (and file name) of the pool's upstream block. */
export function upstreamFileName(plan: DesiredPool): string {
  return `${requireNginx(plan).upstream}.conf`;
}

/**
 * The ConfigMap carrying the pool's upstream block under `<upstream>.conf`, labelled as Ballast's and
 * annotated with the content hash; owned (controller: true) by `owner` when given, so that deleting
 * the pool garbage-collects it. Throws as renderUpstream does.
 */
export function renderConfigMap(plan: DesiredPool, owner?: ConfigMapOwner, options: UpstreamRenderOptions = {}): NginxConfigMap {
  const nginx = requireNginx(plan);
  const text = renderUpstream(plan, options);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: nginx.configMap,
      namespace: plan.namespace,
      labels: { [MANAGED_BY_LABEL]: 'ballast', [POOL_LABEL]: plan.name },
      annotations: { [CONFIG_HASH_ANNOTATION]: configHash(text) },
      ...(owner && {
        ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true as const }],
      }),
    },
    data: { [upstreamFileName(plan)]: text },
  };
}

/**
 * What stops the plan from being written as NGINX config, or undefined when it can be: no `nginx`
 * section, a backend address that is not an IP or DNS name, a pool name that is not a valid label
 * value, or a ConfigMap over MAX_CONFIGMAP_BYTES. The size is the whole serialized object, which is
 * stricter than the API server's sum over data keys and values, so a passing object always fits.
 */
export function checkConfigMap(plan: DesiredPool, owner?: ConfigMapOwner, options: UpstreamRenderOptions = {}): NginxProblem | undefined {
  if (!plan.nginx) return { reason: 'NginxNotConfigured', message: `pool ${plan.key} has no spec.nginx` };
  const addressProblem = invalidAddressProblem(plan);
  if (addressProblem) return addressProblem;
  if (plan.name.length > 63 || !LABEL_VALUE.test(plan.name)) {
    return { reason: 'InvalidPoolLabel', message: `pool name "${plan.name}" is not a valid label value (at most 63 characters) for ${POOL_LABEL}` };
  }
  const bytes = Buffer.byteLength(JSON.stringify(renderConfigMap(plan, owner, options)));
  if (bytes > MAX_CONFIGMAP_BYTES) {
    return {
      reason: 'ConfigMapTooLarge',
      message: `ConfigMap ${plan.nginx.configMap} would be ${bytes} bytes with ${plan.backends.length} backends; the limit is ${MAX_CONFIGMAP_BYTES}`,
    };
  }
  return undefined;
}
