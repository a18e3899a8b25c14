// A real Kubernetes control plane on loopback, for the tests and `npm run local-cluster`: etcd,
// kube-apiserver (TLS, RBAC, ServiceAccount tokens, an audit log of ServiceAccounts' requests) and
// kube-controller-manager, the binaries test/kube/build.sh builds. No kubelet: no Pod ever runs.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePort } from './http-get.js';
import { waitFor } from './wait-for.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Runs test/kube/build.sh (a no-op when the binaries are cached) and returns their directory. */
export async function kubeBinDir(): Promise<string> {
  const { stdout } = await promisify(execFile)(path.join(ROOT, 'test/kube/build.sh'), { maxBuffer: 1 << 20, timeout: 60 * 60_000 });
  return stdout.trim();
}

/** What a test needs to reach the control plane; plain data, so it crosses to Jest's workers as JSON. */
export interface ClusterInfo {
  /** https://127.0.0.1:PORT */
  server: string;
  /** The serving certificate's CA bundle. */
  caFile: string;
  adminToken: string;
  adminKubeconfig: string;
  /** JSON lines: every request made by a ServiceAccount outside kube-system (audit level Metadata). */
  auditLog: string;
  /** etcd's client URL (its v3 JSON gateway does compaction). */
  etcd: string;
  binDir: string;
  /** Temporary directory holding all of the above; removed on stop. */
  dir: string;
}

export interface ControlPlaneOptions {
  /** kube-apiserver's port on 127.0.0.1; a free one by default. */
  port?: number;
  binDir?: string;
  /**
   * Runs once kube-apiserver is ready, before kube-controller-manager starts: CRDs installed here
   * are known to its garbage collector at once (it discovers new resources only every 30 s).
   */
  beforeControllerManager?: (info: ClusterInfo) => Promise<void>;
}

const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'None', userGroups: ['system:serviceaccounts:kube-system'] },
    { level: 'Metadata', userGroups: ['system:serviceaccounts'] },
    { level: 'None' },
  ],
};

// What kube-controller-manager runs: enough for namespaces, ServiceAccounts and their tokens,
// owner-reference garbage collection and the Services' EndpointSlices.
const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'endpointslice-controller',
  'root-ca-certificate-publisher-controller',
];

/** One child process, its output in a log file, stopped with SIGTERM (SIGKILL after 5 s). */
class Daemon {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly args: string[],
    private readonly logFile: string,
  ) {}

  start(): void {
    const fd = openSync(this.logFile, 'a');
    const child = spawn(this.binary, this.args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('error', (err) => console.error(`${this.name}: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (code !== 0 && signal === null) console.error(`${this.name} exited with ${code}; see ${this.logFile}`);
    });
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The log's last lines, for an error message. */
  tail(): string {
    return readFileSync(this.logFile, 'utf8').split('\n').slice(-15).join('\n');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    // kube-apiserver's graceful shutdown waits for open watches; nothing here needs more.
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(kill);
  }
}

function kubeconfig(server: string, caFile: string, token: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'ballast-test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'user', user: { token } }],
    contexts: [{ name: 'ballast-test', context: { cluster: 'ballast-test', user: 'user', namespace } }],
    'current-context': 'ballast-test',
  });
}

/** Writes a kubeconfig for `token` against the cluster (e.g. a ServiceAccount's TokenRequest token). */
export async function writeKubeconfig(file: string, info: Pick<ClusterInfo, 'server' | 'caFile'>, token: string, namespace?: string): Promise<void> {
  await writeFile(file, kubeconfig(info.server, info.caFile, token, namespace), { mode: 0o600 });
}

/** GET over TLS with a bearer token; resolves to the status code, 0 when nothing answers. */
function probe(url: string, ca: string | undefined, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** A kube-apiserver on the control plane's etcd; a test may start another (as an HA pair has) to stop and restart it. */
export class ApiServer {
  private readonly daemon: Daemon;

  constructor(
    private readonly info: ClusterInfo,
    readonly port: number,
    name: string,
  ) {
    const d = info.dir;
    this.daemon = new Daemon(name, path.join(info.binDir, 'kube-apiserver'), [
      `--etcd-servers=${info.etcd}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      // A self-signed serving certificate and its CA, generated once; every kube-apiserver here serves it.
      `--cert-dir=${path.join(d, 'pki')}`,
      `--token-auth-file=${path.join(d, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(d, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(d, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // The loopback address it advertises is no valid endpoint; no Service `kubernetes` endpoints.
      '--endpoint-reconciler-type=none',
      `--audit-policy-file=${path.join(d, 'audit-policy.yaml')}`,
      `--audit-log-path=${path.join(d, `${name}-audit.log`)}`,
      // EndpointSlice watches are served by etcd itself, not the watch cache, so compacting etcd
      // past a watch's resourceVersion answers it with 410 Gone, as an expired cache window would.
      '--watch-cache-sizes=endpointslices.discovery.k8s.io#0',
      '--profiling=false',
    ], path.join(d, `${name}.log`));
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }


  /** Starts the process and waits for /readyz. */
  async start(): Promise<void> {
    this.daemon.start();
    try {
      await waitFor(async () => this.daemon.running && (await probe(`${this.url}/readyz`, readFileSync(this.info.caFile, 'utf8'), this.info.adminToken)) === 200, 120_000, 200);
    } catch (err) {
      await this.daemon.stop();
      throw new Error(`kube-apiserver on port ${this.port} did not become ready: ${(err as Error).message}\n${this.daemon.tail()}`);
    }
  }

  stop(): Promise<void> {
    return this.daemon.stop();
  }

  /** Stops it as a crash would (SIGKILL): no graceful shutdown, connections cut. */
  crash(): Promise<void> {
    return this.daemon.stop('SIGKILL');
  }
}

export class ControlPlane {
  /** The main kube-apiserver, on the port asked for. */
  readonly apiServer: ApiServer;
  private readonly etcd: Daemon;
  private readonly controllerManager: Daemon;

  private constructor(
    readonly info: ClusterInfo,
    port: number,
    etcdPeerPort: number,
  ) {
    const d = info.dir;
    this.etcd = new Daemon('etcd', path.join(info.binDir, 'etcd'), [
      '--name=default',
      `--data-dir=${path.join(d, 'etcd')}`,
      `--listen-client-urls=${info.etcd}`,
      `--advertise-client-urls=${info.etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--log-level=warn',
      // Test data: nothing is worth an fsync.
      '--unsafe-no-fsync',
    ], path.join(d, 'etcd.log'));
    this.apiServer = new ApiServer(info, port, 'kube-apiserver');
    this.controllerManager = new Daemon('kube-controller-manager', path.join(info.binDir, 'kube-controller-manager'), [
      `--kubeconfig=${path.join(d, 'kube-controller-manager.kubeconfig')}`,
      `--controllers=${CONTROLLERS.join(',')}`,
      `--service-account-private-key-file=${path.join(d, 'sa.key')}`,
      `--root-ca-file=${info.caFile}`,
      // Each controller acts as its own ServiceAccount with the bootstrap roles, as kubeadm sets it up.
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
    ], path.join(d, 'kube-controller-manager.log'));
  }

  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const binDir = opts.binDir ?? (await kubeBinDir());
    const dir = await mkdtemp(path.join(tmpdir(), 'ballast-kube-'));
    const [port, etcdPort, etcdPeerPort] = [opts.port || (await freePort()), await freePort(), await freePort()];
    const token = () => randomBytes(24).toString('hex');
    const info: ClusterInfo = {
      server: `https://127.0.0.1:${port}`,
      caFile: path.join(dir, 'pki', 'apiserver.crt'),
      adminToken: token(),
      adminKubeconfig: path.join(dir, 'admin.kubeconfig'),
      auditLog: path.join(dir, 'kube-apiserver-audit.log'),
      etcd: `http://127.0.0.1:${etcdPort}`,
      binDir,
      dir,
    };
    const kcmToken = token();
    const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await mkdir(path.join(dir, 'pki'));
    await writeFile(path.join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(path.join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    // Static tokens: the admin (system:masters) and kube-controller-manager's own identity.
    await writeFile(path.join(dir, 'tokens.csv'), `${info.adminToken},admin,admin,system:masters\n${kcmToken},system:kube-controller-manager,kcm\n`, { mode: 0o600 });
    await writeFile(path.join(dir, 'audit-policy.yaml'), stringify(AUDIT_POLICY));
    const cp = new ControlPlane(info, port, etcdPeerPort);
    try {
      cp.etcd.start();
      await waitFor(async () => cp.etcd.running && (await fetch(`${info.etcd}/health`)).ok, 30_000, 100).catch((err: Error) => {
        throw new Error(`etcd did not start: ${err.message}\n${cp.etcd.tail()}`);
      });
      await cp.apiServer.start();
      await writeKubeconfig(info.adminKubeconfig, info, info.adminToken);
      await writeKubeconfig(path.join(dir, 'kube-controller-manager.kubeconfig'), info, kcmToken);
      await opts.beforeControllerManager?.(info);
      cp.controllerManager.start();
      return cp;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  /** Kills everything (its state is thrown away, so nothing is worth a graceful shutdown) and removes its files. */
  async stop(): Promise<void> {
    await Promise.all([this.controllerManager.stop('SIGKILL'), this.apiServer.crash(), this.etcd.stop('SIGKILL')]);
    await rm(this.info.dir, { recursive: true, force: true });
  }
}

/** Compacts etcd at its current revision (through its v3 JSON gateway): every older resourceVersion is gone. */
export async function compactEtcd(info: Pick<ClusterInfo, 'etcd'>): Promise<number> {
  const status = (await (await fetch(`${info.etcd}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json()) as { header: { revision: string } };
  const revision = Number(status.header.revision);
  const res = await fetch(`${info.etcd}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
  if (!res.ok) throw new Error(`etcd compaction at ${revision}: HTTP ${res.status} ${await res.text()}`);
  return revision;
}

/**
 * Replaces the spec of a stored custom resource straight in etcd, past the API server's validation:
 * what an object stored under an older CRD, before a rule it breaks, is to the API server now (its
 * watch sees the write; later updates that leave the field alone pass, by CRD validation ratcheting).
 * Custom resources are JSON in etcd under /registry/<group>/<plural>/<namespace>/<name>.
 */
export async function replaceSpecInEtcd(info: Pick<ClusterInfo, 'etcd'>, resource: { group: string; plural: string; namespace: string; name: string }, spec: unknown): Promise<void> {
  const key = Buffer.from(`/registry/${resource.group}/${resource.plural}/${resource.namespace}/${resource.name}`).toString('base64');
  const etcd = async (method: string, body: object) => {
    const res = await fetch(`${info.etcd}/v3/kv/${method}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${method} of ${resource.namespace}/${resource.name}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { kvs?: { value: string }[] };
  };
  const stored = (await etcd('range', { key })).kvs?.[0];
  if (!stored) throw new Error(`etcd holds no ${resource.plural} ${resource.namespace}/${resource.name}`);
  const object = JSON.parse(Buffer.from(stored.value, 'base64').toString()) as { metadata: { generation?: number }; spec: unknown };
  // A spec change is a new generation, as the API server would count it.
  const updated = { ...object, metadata: { ...object.metadata, generation: (object.metadata.generation ?? 1) + 1 }, spec };
  await etcd('put', { key, value: Buffer.from(JSON.stringify(updated)).toString('base64') });
}
