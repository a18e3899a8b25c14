// What a test file uses of the control plane that Jest's global setup started (test/support/
// cluster-setup.ts): an admin client for setup and assertions, the release's kubectl, a namespace
// of its own, and the ServiceAccount identity `manifests/` gives the controller.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ControlPlane, writeKubeconfig, type ClusterInfo } from './control-plane.js';

export type { ClusterInfo } from './control-plane.js';

/** An API object as JSON. */
export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

export const CLUSTER_ENV = 'BALLAST_TEST_CLUSTER';

export function clusterInfo(): ClusterInfo {
  const raw = process.env[CLUSTER_ENV];
  if (!raw) throw new Error(`${CLUSTER_ENV} is not set: run the tests with Jest's config (its globalSetup starts the control plane)`);
  return JSON.parse(raw) as ClusterInfo;
}

const run = promisify(execFile);

/**
 * The control plane as tests use it: the CRD installed and established before kube-controller-
 * manager starts, and this process's environment pointing the helpers below at it.
 */
export async function startTestControlPlane(): Promise<ControlPlane> {
  return ControlPlane.start({
    beforeControllerManager: async (info) => {
      process.env[CLUSTER_ENV] = JSON.stringify(info);
      await kubectl(['apply', '-k', path.resolve(import.meta.dirname, '../../crds')]);
      await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/balancerpools.ballast.dev']);
      // kubectl cached discovery from before the CRD existed, and `explain` does not refresh it on a miss.
      await rm(path.join(info.dir, 'kubectl-cache'), { recursive: true, force: true });
    },
  });
}

/** The release's kubectl as the admin; its discovery cache lives (and goes) with the control plane. */
export async function kubectl(args: string[], opts: { input?: string } = {}): Promise<string> {
  const info = clusterInfo();
  const cacheDir = path.join(info.dir, 'kubectl-cache');
  const child = run(path.join(info.binDir, 'kubectl'), ['--kubeconfig', info.adminKubeconfig, '--cache-dir', cacheDir, ...args], {
    timeout: 30_000,
    maxBuffer: 16 << 20,
  });
  if (opts.input !== undefined) child.child.stdin!.end(opts.input);
  return (await child).stdout;
}

/** An API error, with the server's Status message. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// Where each kind the tests write lives: [plural, namespaced].
const RESOURCES: Record<string, [string, boolean]> = {
  Namespace: ['namespaces', false],
  Service: ['services', true],
  ConfigMap: ['configmaps', true],
  ServiceAccount: ['serviceaccounts', true],
  EndpointSlice: ['endpointslices', true],
  BalancerPool: ['balancerpools', true],
  Role: ['roles', true],
  RoleBinding: ['rolebindings', true],
  ClusterRole: ['clusterroles', false],
  ClusterRoleBinding: ['clusterrolebindings', false],
};

/** The API path of an object (or of its collection when `name` is empty). */
function objectPath(apiVersion: string, kind: string, namespace: string | undefined, name = ''): string {
  const entry = RESOURCES[kind];
  if (!entry) throw new Error(`objectPath: add ${kind} to the table`);
  const [plural, namespaced] = entry;
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${base}${namespaced ? `/namespaces/${namespace ?? 'default'}` : ''}/${plural}${name ? `/${name}` : ''}`;
}

/** The admin's REST client: plain JSON over the cluster's TLS, a bearer token, no library in between. */
export class KubeAdmin {
  private readonly ca: string;
  constructor(readonly info: ClusterInfo = clusterInfo()) {
    this.ca = readFileSync(info.caFile, 'utf8');
  }

  request(method: string, apiPath: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
    const url = new URL(apiPath, this.info.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          ca: this.ca,
          agent: false,
          timeout: 20_000,
          headers: { authorization: `Bearer ${this.info.adminToken}`, accept: 'application/json', ...(payload && { 'content-type': contentType }) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const json = text ? (JSON.parse(text) as { message?: string }) : undefined;
            if (status >= 400) reject(new ApiError(status, `${method} ${apiPath}: ${status} ${json?.message ?? text}`));
            else resolve(json);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${apiPath}: no answer`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Server-side apply as field manager `test` (forced): creates or updates, status included when it is a subresource-free kind. */
  async apply<T extends KubeObject>(obj: T): Promise<T & { metadata: { uid: string; resourceVersion: string } }> {
    const p = objectPath(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    return (await this.request('PATCH', `${p}?fieldManager=test&force=true`, obj, 'application/apply-patch+yaml')) as T & { metadata: { uid: string; resourceVersion: string } };
  }

  /** The object, or undefined when it does not exist. */
  async get<T = KubeObject>(apiPath: string): Promise<T | undefined> {
    try {
      return (await this.request('GET', apiPath)) as T;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list<T = KubeObject>(apiPath: string): Promise<T[]> {
    return ((await this.request('GET', apiPath)) as { items: T[] }).items;
  }

  /** Deletes; a missing object is fine. */
  async delete(apiPath: string): Promise<void> {
    try {
      await this.request('DELETE', apiPath);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
}

/** A fresh namespace (`prefix-xxxxx`); tests isolate by namespace, never by restarting the server. */
export async function createNamespace(admin: KubeAdmin, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

/** Deletes the namespace; kube-controller-manager's namespace controller empties it in the background. */
export async function deleteNamespace(admin: KubeAdmin, name: string): Promise<void> {
  await admin.delete(`/api/v1/namespaces/${name}`);
}

const RBAC_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

/**
 * The controller's identity as `kubectl kustomize manifests/` (or another kustomization, e.g.
 * `manifests/sidecar`) ships it, moved into `namespace`: its ServiceAccount, Role and RoleBinding
 * there, its ClusterRole and ClusterRoleBinding renamed `<name>-<namespace>`. Returns a kubeconfig
 * with a TokenRequest token of that ServiceAccount, so the controller has exactly the shipped
 * permissions.
 */
export async function controllerIdentity(admin: KubeAdmin, namespace: string, dir: string, kustomization = 'manifests'): Promise<{ kubeconfig: string; user: string; token: string }> {
  const rendered = parseAllDocuments(await kubectl(['kustomize', path.resolve(import.meta.dirname, '../..', kustomization)])).map((d) => d.toJS() as KubeObject & Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  const rename = (name: string) => `${name}-${namespace}`;
  // The namespace owns the cluster-scoped copies: the garbage collector removes them with it.
  const owner = await admin.get<KubeObject>(`/api/v1/namespaces/${namespace}`);
  const ownerReferences = [{ apiVersion: 'v1', kind: 'Namespace', name: namespace, uid: owner!.metadata.uid }];
  let account = '';
  for (const o of rendered.filter((o) => RBAC_KINDS.includes(o.kind))) {
    if (o.kind.startsWith('Cluster')) Object.assign(o.metadata, { name: rename(o.metadata.name), ownerReferences });
    else o.metadata.namespace = namespace;
    if (o.kind === 'ClusterRoleBinding') o.roleRef.name = rename(o.roleRef.name);
    for (const s of o.subjects ?? []) s.namespace = namespace;
    if (o.kind === 'ServiceAccount') account = o.metadata.name;
    delete o.metadata.labels;
    await admin.apply(o);
  }
  const { status } = (await admin.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  })) as { status: { token: string } };
  const kubeconfig = path.join(dir, `${account}.kubeconfig`);
  await writeKubeconfig(kubeconfig, admin.info, status.token, namespace);
  return { kubeconfig, user: `system:serviceaccount:${namespace}:${account}`, token: status.token };
}

/** Requests one identity made, from the API server's audit log (one JSON event per line). */
export function auditedRequests(user: string, file = clusterInfo().auditLog): { verb: string; apiGroup: string; resource: string; subresource?: string; namespace?: string; code: number; requestURI: string }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"${user}"`))
    .map((l) => JSON.parse(l) as { user: { username: string }; verb: string; requestURI: string; objectRef?: { apiGroup?: string; resource: string; subresource?: string; namespace?: string }; responseStatus?: { code: number } })
    .filter((e) => e.user.username === user && e.objectRef)
    .map((e) => ({
      verb: e.verb,
      apiGroup: e.objectRef!.apiGroup ?? '',
      resource: e.objectRef!.resource,
      subresource: e.objectRef!.subresource,
      namespace: e.objectRef!.namespace,
      code: e.responseStatus?.code ?? 0,
      requestURI: e.requestURI,
    }));
}
