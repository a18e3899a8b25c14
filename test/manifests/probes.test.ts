// Every probe in manifests/ checked as the kubelet runs it: the container starts with the manifest's
// own args in a network namespace whose loopback also holds a Pod IP, and each probe is sent to that
// Pod IP on the port the manifest names. Ballast's /metrics must answer there too (Prometheus);
// the admin listener (/debug/pools) must not leave the loopback.
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { kubectl } from '../support/cluster.js';
import { POD_IP, probeInNetns } from '../support/netns.js';
import { requireNginx } from '../support/nginx.js';

type Probe = { httpGet: { path: string; port: number | string; host?: string } };
type Container = {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
};
type Workload = { kind: string; metadata: { name: string }; spec: { template: { metadata?: { annotations?: Record<string, string> }; spec: { containers: Container[]; initContainers?: Container[] } } } };

let work: string;
let kubeconfig: string;

async function deployments(dir: string): Promise<Workload[]> {
  return parseAllDocuments(await kubectl(['kustomize', path.resolve(dir)]))
    .map((d) => d.toJS() as Workload)
    .filter((o) => o.kind === 'Deployment');
}

const probesOf = (c: Container) =>
  (['startupProbe', 'readinessProbe', 'livenessProbe'] as const).filter((k) => c[k]).map((k) => ({ kind: k, ...c[k]!.httpGet }));

function portOf(c: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${c.name}: probe port "${port}" is not one of its ports`);
  return named.containerPort;
}

/** The container's args as the kubelet expands them ($(POD_NAMESPACE) from the downward API). */
const POD_ENV = { POD_NAME: 'web-7d4b9-x2x5k', POD_NAMESPACE: 'default' };
const expand = (args: string[]) => args.map((a) => a.replace(/\$\((\w+)\)/g, (_m, v: keyof typeof POD_ENV) => POD_ENV[v]));

/** Ballast's args of a container: the `controller` args, or the `ballast nginx-agent` command's. */
const ballastArgs = (c: Container) => (c.args?.[0] === 'controller' ? c.args : c.command?.[0] === 'ballast' ? c.command.slice(1) : undefined);

/** How this test runs the container's process: Ballast from source, nginx from the Debian package. */
async function commandOf(c: Container): Promise<string[]> {
  const args = ballastArgs(c);
  if (args) {
    // The Pod's paths (an emptyDir, the mounted nginx.conf) moved into the test's folder.
    const moved = expand(args).map((a) => a.replace(/^--out-dir=.*/, `--out-dir=${work}/out`).replace(/^--nginx-conf=.*/, `--nginx-conf=${work}/nginx.conf`));
    return [process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...moved, `--kubeconfig=${kubeconfig}`];
  }
  // nginx, started as the manifest starts it (`exec nginx -g 'daemon off;'`, maybe behind a shell).
  if (c.command?.join(' ').match(/(^|exec )nginx -g/)) {
    // The manifest's nginx.conf with its absolute paths moved into a prefix; `listen` as shipped. The
    // Pod runs nginx as uid 101 (no user switch); the namespace here maps only root, so workers stay root.
    const prefix = await mkdtemp(path.join(work, 'nginx-'));
    await chmod(prefix, 0o755);
    await mkdir(path.join(prefix, 'ballast'));
    // What the agent would have written for the example pool that nginx.conf proxies to.
    await writeFile(path.join(prefix, 'ballast/default_web.conf'), 'upstream default_web { server 127.0.0.1:9; }\n');
    // Debian's module loaders name modules relative to the prefix (/usr/share/nginx by default).
    await symlink('/usr/share/nginx/modules', path.join(prefix, 'modules'));
    const conf = (await readFile('manifests/nginx/nginx.conf', 'utf8'))
      .replaceAll('/var/run/nginx/', `${prefix}/`)
      .replaceAll('/var/cache/nginx/', `${prefix}/`)
      .replaceAll('/etc/nginx/ballast/', `${prefix}/ballast/`)
      .replaceAll('/dev/stdout', `${prefix}/access.log`)
      .replaceAll('/dev/stderr', `${prefix}/error.log`)
      .replace(/^worker_processes /m, 'user root;\nworker_processes ');
    await writeFile(path.join(prefix, 'nginx.conf'), conf);
    return [requireNginx(), '-g', 'daemon off;', '-p', `${prefix}/`, '-c', 'nginx.conf'];
  }
  throw new Error(`container ${c.name}: this test does not know how to run it`);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-probes-'));
  await chmod(work, 0o755);
  // No API server in the namespace: Ballast starts, answers its probes, and is not ready.
  kubeconfig = path.join(work, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
});

afterAll(() => rm(work, { recursive: true, force: true }));

describe.each([['manifests'], ['manifests/sidecar'], ['manifests/nginx']])('%s: the kubelet reaches every probe on the Pod IP', (dir) => {
  it('each probed container answers its probes on the Pod IP', async () => {
    const containers = (await deployments(dir)).flatMap((d) => [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers]);
    const probed = containers.filter((c) => probesOf(c).length > 0);
    expect(probed.length).toBeGreaterThan(0);
    for (const c of probed) {
      const probes = probesOf(c);
      // Without `host` the kubelet probes the Pod IP; with one it probes that host from the node.
      for (const p of probes) expect({ container: c.name, host: p.host }).toEqual({ container: c.name, host: undefined });
      const ballast = ballastArgs(c) !== undefined;
      const health = portOf(c, probes[0].port);
      const urls = [
        ...probes.map((p) => `http://${POD_IP}:${portOf(c, p.port)}${p.path}`),
        ...(ballast ? [`http://${POD_IP}:${health}/metrics`, `http://${POD_IP}:${health}/debug/pools`, `http://${POD_IP}:9901/debug/pools`, `http://127.0.0.1:9901/debug/pools`] : []),
      ];
      const answers = await probeInNetns(await commandOf(c), urls, POD_ENV);
      for (const [i, p] of probes.entries()) {
        const a = answers[i];
        // /readyz is not ready without an API server, but it is Ballast's answer (kube-apiserver's format).
        if (p.path === '/readyz') expect({ container: c.name, path: p.path, body: a.body }).toEqual({ container: c.name, path: p.path, body: expect.stringMatching(/readyz check (passed|failed)\n$/) });
        else expect({ container: c.name, path: p.path, status: a.status }).toEqual({ container: c.name, path: p.path, status: 200 });
      }
      if (ballast) {
        const [metrics, debugOnHealth, debugOnPodIp, debugOnLoopback] = answers.slice(probes.length);
        expect(metrics).toEqual(expect.objectContaining({ status: 200, body: expect.stringContaining('ballast_reconcile_total') }));
        expect(debugOnHealth.status).toBe(404);
        expect(debugOnPodIp.status).toBe('ECONNREFUSED');
        expect(debugOnLoopback.status).toBe(200);
      }
    }
  });
});

it('the controller Deployment tells Prometheus where /metrics is', async () => {
  const [d] = await deployments('manifests');
  const { annotations } = d.spec.template.metadata ?? {};
  const c = d.spec.template.spec.containers[0];
  expect(annotations?.['prometheus.io/port']).toBe(String(portOf(c, c.readinessProbe!.httpGet.port)));
});
