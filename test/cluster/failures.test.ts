// Failures are loud, on the real API server: a 403 on the Lease, on the EndpointSlice list and on a
// pool's ConfigMap, an API server that cannot be reached, no kubeconfig at all (a Lease namespace that
// does not exist: controller.test.ts), a 404 only when its caller did not expect it. Each is one error line naming the call, the identity and the fix, however often it is retried;
// /readyz and /metrics say what fails; the start says which cluster, context, identity and scope.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createRegistry } from '../../src/admin/metrics.js';
import { ApiFailures } from '../../src/cluster/api-failures.js';
import { LeaderElector } from '../../src/cluster/leader-elector.js';
import { KubeClient, loadKubeConfig } from '../../src/sources/kube/kube-client.js';
import { BallastProcess } from '../support/ballast-process.js';
import { clusterInfo, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin } from '../support/cluster.js';
import { startTestController, stopControllers } from '../support/cluster-controller.js';
import { freePort, get } from '../support/http-get.js';
import { captureLogs } from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;
const processes: BallastProcess[] = [];

const metric = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
const errorsOf = (lines: Record<string, unknown>[], includes: string) => lines.filter((l) => l.level === 50 && String(l.msg).includes(includes));

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-failures-'));
  ns = await createNamespace(admin, 'failures');
});

afterEach(async () => {
  await stopControllers();
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

/** `ballast controller` as a process (it never finishes starting while its lists fail); its admin address. */
async function controllerProcess(args: string[], env: Record<string, string> = {}) {
  const p = BallastProcess.start(['controller', '--admin=127.0.0.1:0', '--leader-elect=false', ...args], env);
  processes.push(p);
  const { admin: address } = (await p.waitForLog((l) => l.msg === 'admin listening')) as { admin: string };
  return { p, readyz: () => get(`http://${address}/readyz`), metrics: async () => (await get(`http://${address}/metrics`)).body };
}

describe('failures on a real API server', () => {
  it('a 403 on the Lease: one error with the RBAC rule to add, listed by /readyz and /metrics, while the proxy serves', async () => {
    const identity = await controllerIdentity(admin, ns, work);
    // The shipped Role grants Leases in the controller's own namespace only.
    const c = await startTestController(identity.kubeconfig, ns, { leaderElect: true, leaderElectionNamespace: 'default', leaseTimings: { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 } });
    const address = c.app.adminAddress!;
    await waitFor(async () => metric((await get(`http://${address}/metrics`)).body, 'ballast_kube_api_errors_total', 'verb="get",resource="leases.coordination.k8s.io",code="403"') >= 5, 10_000);

    const errors = errorsOf(c.logs.lines(), 'get leases.coordination.k8s.io in namespace default forbidden');
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toBe(
      `get leases.coordination.k8s.io in namespace default forbidden for ${identity.user} (403): grant it in a Role in namespace default (or a ClusterRole) bound to it: { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get"] }; manifests/ has the rules Ballast needs`,
    );
    const readyz = await get(`http://${address}/readyz`);
    expect(readyz.body).toContain('[+]kube-api ok: serving the last known state; 1 call failing\n    get leases.coordination.k8s.io in namespace default forbidden');
    expect(metric((await get(`http://${address}/metrics`)).body, 'ballast_kube_api_failing', 'verb="get",resource="leases.coordination.k8s.io",namespace="default"')).toBe(1);
    // The start said where, as whom, and what scope.
    expect(c.logs.messages()).toContain(`cluster mode: ${clusterInfo().server} (context ballast-test) as ${identity.user}, namespace ${ns}`);
  });

  it('a 403 on the EndpointSlice list: one error with the rule to add; /readyz fails saying why', async () => {
    const identity = await controllerIdentity(admin, ns, work);
    // Take list and watch on EndpointSlices away from the ServiceAccount's ClusterRole.
    const role = `/apis/rbac.authorization.k8s.io/v1/clusterroles/ballast-${ns}`;
    const current = (await admin.get<{ rules: { resources: string[] }[] }>(role))!;
    await admin.request('PATCH', role, { rules: current.rules.filter((r) => !r.resources.includes('endpointslices')) }, 'application/merge-patch+json');
    const c = await controllerProcess([`--kubeconfig=${identity.kubeconfig}`, `--namespace=${ns}`]);
    await waitFor(async () => metric(await c.metrics(), 'ballast_kube_api_errors_total', 'verb="list",resource="endpointslices.discovery.k8s.io",code="403"') >= 3, 20_000);

    const errors = errorsOf(c.p.logs(), 'list endpointslices.discovery.k8s.io');
    expect(errors.map((e) => e.msg)).toEqual([
      `list endpointslices.discovery.k8s.io in namespace ${ns} forbidden for ${identity.user} (403): grant it in a Role in namespace ${ns} (or a ClusterRole) bound to it: { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list"] }; manifests/ has the rules Ballast needs`,
    ]);
    const readyz = await c.readyz();
    expect(readyz.status).toBe(503);
    expect(readyz.body).toContain('[-]sources failed: not synced yet');
    expect(readyz.body).toContain(`    list endpointslices.discovery.k8s.io in namespace ${ns} forbidden`);
  });

  it("a 403 on a pool's ConfigMap: the pool's status says so, with the rule to add", async () => {
    const identity = await controllerIdentity(admin, ns, work);
    const role = `/apis/rbac.authorization.k8s.io/v1/clusterroles/ballast-${ns}`;
    const current = (await admin.get<{ rules: { resources: string[] }[] }>(role))!;
    await admin.request('PATCH', role, { rules: current.rules.filter((r) => !r.resources.includes('configmaps')) }, 'application/merge-patch+json');
    await admin.apply({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'web', namespace: ns }, spec: { endpoints: [{ address: '10.0.0.1', port: 80 }], nginx: {} } });
    await startTestController(identity.kubeconfig, ns);
    type Status = { conditions?: { type: string; reason: string; message: string }[] };
    const degraded = async () => ((await admin.get<{ status?: Status }>(`/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools/web`))?.status?.conditions ?? []).find((x) => x.type === 'Degraded');
    await waitFor(async () => (await degraded())?.reason === 'ConfigMapWriteFailed', 10_000);
    expect((await degraded())?.message).toContain(`get configmaps in namespace ${ns} forbidden for ${identity.user} (403): grant it in a Role in namespace ${ns} (or a ClusterRole) bound to it: { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }`);
  });

  it('a 404 its caller expects is an answer, not a failure; the same 404 unasked for is reported', async () => {
    const identity = await controllerIdentity(admin, ns, work);
    const logs = captureLogs();
    const failures = new ApiFailures(logs.logger, createRegistry(), { server: clusterInfo().server, context: 'ballast-test', user: 'ballast', identity: identity.user });
    const client = new KubeClient(loadKubeConfig(identity.kubeconfig), undefined, failures);

    await expect(client.getConfigMap(ns, 'none')).rejects.toMatchObject({ status: 404 });
    expect(failures.current()).toEqual([`get configmaps in namespace ${ns} failed for ${identity.user}: 404 configmaps "none" not found`]);
    await expect(client.getConfigMap(ns, 'none', { notFoundIsOk: true })).rejects.toMatchObject({ status: 404 });
    expect(failures.current()).toEqual([]);
    expect(logs.messages()).toContain('get configmaps works again');

    // The leader elector's first read finds no Lease; it creates one, and releases it at stop.
    let leading = false;
    const elector = new LeaderElector({ client, logger: logs.logger, namespace: ns, name: 'ballast', identity: 'pod-a', onStartedLeading: () => (leading = true), onStoppedLeading: () => (leading = false) });
    elector.start();
    await waitFor(() => leading, 10_000);
    await elector.stop();
    expect(failures.current()).toEqual([]);
    expect(logs.lines().filter((l) => l.level === 50).map((l) => l.msg)).toEqual([`get configmaps in namespace ${ns} failed for ${identity.user}: 404 configmaps "none" not found`]);
  });

  it('an API server that cannot be reached, and no kubeconfig at all: the kubeconfig to check', async () => {
    const port = await freePort();
    const kubeconfig = path.join(work, 'nowhere.kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'u' } }],
        'current-context': 'gone',
      }),
    );
    const unreachable = await controllerProcess([`--kubeconfig=${kubeconfig}`, '--namespace=default']);
    await waitFor(async () => metric(await unreachable.metrics(), 'ballast_kube_api_errors_total', 'verb="list",resource="services",code="0"') >= 3, 20_000);
    expect((await unreachable.readyz()).status).toBe(503);
    expect(errorsOf(unreachable.p.logs(), 'list services').map((e) => e.msg)).toEqual([
      `list services in namespace default failed: cannot reach the API server https://127.0.0.1:${port} (context gone): fetch failed: ECONNREFUSED; check the kubeconfig's server and the network`,
    ]);
    expect(unreachable.p.logs().some((l) => l.msg === `cluster mode: https://127.0.0.1:${port} (context gone) as u, namespace default`)).toBe(true);

    // No kubeconfig anywhere (HOME without ~/.kube, no $KUBECONFIG, not in a Pod): client-node falls
    // back to localhost:8080, so this one runs where nothing listens on 8080, its own network namespace.
    const none = BallastProcess.start(['controller', '--admin=127.0.0.1:0', '--leader-elect=false', '--namespace=default'], { HOME: work, KUBECONFIG: '' }, { netns: true });
    processes.push(none);
    const error = await none.waitForLog((l) => l.level === 50 && String(l.msg).startsWith('list services'));
    expect(error.msg).toMatch(/^list services in namespace default failed: no kubeconfig found \(client-node fell back to http:\/\/localhost:8080: .*\); pass --kubeconfig, set \$KUBECONFIG, or run in a Pod with a ServiceAccount$/);
  });
});
