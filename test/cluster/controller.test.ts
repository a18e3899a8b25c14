// Cluster mode end to end against the real control plane: the controller authenticates as the
// ServiceAccount manifests/ ships (so its RBAC is what is enforced), in a namespace of its own;
// kubectl applies the pool. The API server refuses loopback addresses in EndpointSlices, so slices
// carry TEST-NET addresses and the proxy's live pool is what is checked; real traffic goes through
// a pool with static loopback endpoints.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { ProxyPools } from '../../src/proxy/proxy-pools.js';
import type { Controller, ControllerOptions } from '../../src/cli/controller.js';
import { auditedRequests, clusterInfo, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin, kubectl, type KubeObject } from '../support/cluster.js';
import { ApiServer, compactEtcd, writeKubeconfig } from '../support/control-plane.js';
import { servedBy, startDemoBackends } from '../support/demo-backends.js';
import { freePort, get, refused } from '../support/http-get.js';
import { startTestController, stopControllers } from '../support/cluster-controller.js';
import { captureLogs } from '../support/log-capture.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;
let identity: { kubeconfig: string; user: string; token: string };
let ports: number[] = [];
let closeBackends: () => Promise<void>;
const closers: (() => Promise<void>)[] = [];

const POOLS = () => `/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools`;
const SLICES = () => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;

const controller = (extra: Partial<ControllerOptions> = {}): Promise<Controller> => startTestController(identity.kubeconfig, ns, { logger: captureLogs().logger, ...extra });

/** One slice of Service `web`; each endpoint one TEST-NET-3 address, all on port 8080. */
function slice(name: string, endpoints: { ip: number; ready?: boolean; serving?: boolean; terminating?: boolean }[], portName = 'http', port = 8080) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({ addresses: [`203.0.113.${e.ip}`], conditions: { ready: e.ready ?? true, serving: e.serving, terminating: e.terminating } })),
  };
}

const pool = (listen: number, spec: Record<string, unknown> = { service: { name: 'web', port: 'http' } }, name = 'web') => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name, namespace: ns },
  spec: { ...spec, listener: { address: '127.0.0.1', port: listen } },
});

/** The backends the pool's proxy routes to now (active ones), sorted. */
const live = (c: Controller, name = 'web') =>
  ((c.app.proxy as ProxyPools).snapshot()[`${ns}/${name}`]?.backends ?? [])
    .filter((b) => b.state === 'active')
    .map((b) => b.backend)
    .sort();
const at = (...ips: number[]) => ips.map((ip) => `203.0.113.${ip}:8080`).sort();
const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);

type PoolStatus = { observedGeneration?: number; backends?: { ready: number; total: number }; conditions?: { type: string; status: string; reason: string }[]; listener?: string };
const status = async (name = 'web') => ((await admin.get<KubeObject>(`${POOLS()}/${name}`))?.status ?? undefined) as PoolStatus | undefined;
const condition = async (type: string) => (await status())?.conditions?.find((c) => c.type === type);
async function createNamespaceNamed(name: string) {
  await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  closers.push(() => deleteNamespace(admin, name));
}
const events = async () => admin.list<{ reason: string; message: string; involvedObject: { name: string } }>(`/api/v1/namespaces/${ns}/events`);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-cluster-'));
  ({ ports, close: closeBackends } = await startDemoBackends(2));
});

afterAll(async () => {
  await closeBackends();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  ns = await createNamespace(admin, 'cluster');
  identity = await controllerIdentity(admin, ns, work);
});

afterEach(async () => {
  await stopControllers();
  for (const close of closers.splice(0).reverse()) await close();
  await deleteNamespace(admin, ns);
});

describe('ballast controller on a real API server', () => {
  it('serves a pool applied with kubectl, follows endpoint changes, writes status and Events, and closes on delete', async () => {
    const listen = await freePort();
    // Two slices of one Service.
    await admin.apply(slice('web-a', [{ ip: 1 }]));
    await admin.apply(slice('web-b', [{ ip: 2 }]));
    await writeFile(path.join(work, 'pool.yaml'), JSON.stringify(pool(listen)));
    await kubectl(['apply', '-n', ns, '-f', path.join(work, 'pool.yaml')]);
    const c = await controller();

    await waitFor(() => same(live(c), at(1, 2)), 10_000);
    expect(await refused(listen)).toBe(false);
    await waitFor(async () => (await status())?.backends?.ready === 2 && (await condition('Ready'))?.status === 'True', 5000);
    expect(await status()).toEqual(expect.objectContaining({ observedGeneration: 1, backends: { ready: 2, total: 2 }, listener: `127.0.0.1:${listen}` }));
    expect(await kubectl(['get', 'bp', '-n', ns])).toMatch(new RegExp(`web\\s+RoundRobin\\s+2\\s+2\\s+127\\.0\\.0\\.1:${listen}\\s+BackendsAvailable`));

    // Scale up, then one not ready and one terminating: only the ready one serves.
    await admin.apply(slice('web-c', [{ ip: 3 }]));
    await waitFor(() => same(live(c), at(1, 2, 3)), 10_000);
    await admin.apply(slice('web-a', [{ ip: 1, ready: false }]));
    await admin.apply(slice('web-b', [{ ip: 2, ready: false, serving: true, terminating: true }]));
    await waitFor(() => same(live(c), at(3)), 10_000);
    await waitFor(async () => (await status())?.backends?.ready === 1 && (await status())?.backends?.total === 3, 5000);
    // Nothing ready: the serving-but-terminating one takes the traffic (KEP-1669).
    await admin.apply(slice('web-c', [{ ip: 3, ready: false }]));
    await waitFor(() => same(live(c), at(2)), 10_000);
    await waitFor(async () => (await condition('Ready'))?.status === 'True' && (await status())?.backends?.ready === 0, 5000);

    expect((await events()).map((e) => e.reason)).toEqual(expect.arrayContaining(['BackendsChanged', 'ListenerOpened']));
    // The field selectors kubectl describe uses find them.
    expect(await kubectl(['describe', 'bp', 'web', '-n', ns])).toMatch(/Events:[\s\S]*ListenerOpened/);

    await kubectl(['delete', 'bp', 'web', '-n', ns]);
    await waitFor(() => refused(listen), 10_000);
  });

  it('reports a service port that does not exist, and follows the port when it moves', async () => {
    const listen = await freePort();
    await admin.apply(slice('web-a', [{ ip: 1 }], 'web'));
    await admin.apply(pool(listen));
    const c = await controller();
    await waitFor(async () => (await condition('Degraded'))?.reason === 'ServicePortNotFound', 10_000);
    expect(await condition('Ready')).toEqual(expect.objectContaining({ status: 'False', reason: 'ServicePortNotFound' }));

    await admin.apply(slice('web-a', [{ ip: 1 }], 'http'));
    await waitFor(() => same(live(c), at(1)), 10_000);
    await waitFor(async () => (await condition('Degraded'))?.status === 'False', 5000);
    await admin.apply(slice('web-a', [{ ip: 2 }], 'http'));
    await waitFor(() => same(live(c), at(2)), 10_000);
    // One backend swapped for another leaves status as it was, but is worth an Event.
    const message = `added 203.0.113.2:8080; removed 203.0.113.1:8080 (1 in rotation)`;
    await waitFor(async () => (await events()).some((e) => e.reason === 'BackendsChanged' && e.message === message), 5000);
  });

  it('reads the EndpointSlice kube-controller-manager keeps for a Service that selects no Pod as NoEndpoints', async () => {
    await admin.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 3000 }] } });
    // No kubelet, no Pods: the EndpointSlice controller writes one slice without ports or endpoints.
    await waitFor(async () => (await admin.list(SLICES())).length === 1, 10_000);
    await admin.apply(pool(await freePort()));
    await controller();
    await waitFor(async () => (await condition('Ready'))?.reason === 'NoEndpoints', 10_000);
    expect(await condition('Degraded')).not.toEqual(expect.objectContaining({ reason: 'ServicePortNotFound' }));
  });

  it('keeps following after dropped watches, a 410 Gone relist (with a delete during the gap) and a kube-apiserver crash and restart', async () => {
    // A kube-apiserver of this test's own on the shared etcd (stopping the shared one would stop
    // every suite), behind our TCP proxy for the faults a server does not make by itself.
    const info = clusterInfo();
    const server = new ApiServer(info, await freePort(), `kube-apiserver-${ns}`);
    await server.start();
    closers.push(() => server.stop());
    const proxy = await TcpProxy.start(server.port);
    closers.push(() => proxy.close());
    const kubeconfig = path.join(work, `${ns}-proxied.kubeconfig`);
    await writeKubeconfig(kubeconfig, { server: proxy.url, caFile: info.caFile }, identity.token, ns);
    const audit = path.join(info.dir, `kube-apiserver-${ns}-audit.log`);
    const lists = () => auditedRequests(identity.user, audit).filter((r) => r.verb === 'list' && r.resource === 'endpointslices').length;

    const listen = await freePort();
    await admin.apply(slice('web-a', [{ ip: 1 }]));
    await admin.apply(slice('web-b', [{ ip: 2 }]));
    await admin.apply(pool(listen));
    const c = await controller({ kubeconfig });
    await waitFor(() => same(live(c), at(1, 2)), 10_000);

    proxy.drop();
    await admin.apply(slice('web-c', [{ ip: 3 }]));
    await waitFor(() => same(live(c), at(1, 2, 3)), 10_000);

    // The watches are down while web-a is deleted and etcd compacts past every resourceVersion the
    // controller has seen: resuming, its slice watch meets 410 Gone and must relist to drop web-a.
    proxy.refuse();
    const listsBefore = lists();
    await admin.delete(`${SLICES()}/web-a`);
    await admin.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bump', namespace: ns } });
    await compactEtcd(info);
    proxy.resume();
    await waitFor(() => same(live(c), at(2, 3)), 15_000);
    expect(c.app.store.keys('EndpointSlice').sort()).toEqual([`${ns}/web-b`, `${ns}/web-c`]);
    expect(lists()).toBeGreaterThan(listsBefore);

    // The API server goes away: the proxy keeps serving the last known backends.
    await server.crash();
    expect(same(live(c), at(2, 3))).toBe(true);
    expect(await refused(listen)).toBe(false);
    await server.start();
    await admin.delete(`${SLICES()}/web-c`);
    await waitFor(() => same(live(c), at(2)), 15_000);
  });

  it('retries status writes refused with 409 Conflict, and uses every verb the shipped RBAC grants', async () => {
    // Slow the controller's API traffic down so its view of the pool lags, then write the pool
    // while the controller writes its status: its conditional patches meet real conflicts.
    const info = clusterInfo();
    const proxy = await TcpProxy.start(Number(new URL(info.server).port));
    closers.push(() => proxy.close());
    const kubeconfig = path.join(work, `${ns}-slow.kubeconfig`);
    await writeKubeconfig(kubeconfig, { server: proxy.url, caFile: info.caFile }, identity.token, ns);
    // Lease calls are bounded by the renew deadline: it must leave room for a slowed GET and PUT.
    const timings = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 500 };
    const listen = await freePort();
    await admin.apply(slice('web-a', [{ ip: 1 }]));
    await admin.apply(pool(listen, { service: { name: 'web', port: 'http' }, nginx: { configMap: 'web-nginx' } }));
    const c = await controller({ kubeconfig, leaderElect: true, leaseTimings: timings, identity: 'replica-a' });
    await waitFor(async () => (await condition('Ready'))?.status === 'True', 10_000);
    await waitFor(() => admin.get(`/api/v1/namespaces/${ns}/configmaps/web-nginx`), 10_000);

    proxy.delayMs = 200;
    const conflicts = () => auditedRequests(identity.user).filter((r) => r.resource === 'balancerpools' && r.subresource === 'status' && r.code === 409).length;
    for (let i = 0; conflicts() === 0; i++) {
      if (i > 200) throw new Error('no status write met a conflict');
      await admin.apply(slice('web-a', [{ ip: 1, ready: i % 2 === 0 }]));
      await admin.request('PATCH', `${POOLS()}/web`, { metadata: { labels: { churn: String(i) } } }, 'application/merge-patch+json');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    proxy.delayMs = 0;
    // The same change twice is one Event whose count goes up (a patch).
    for (const ready of [false, true, false, true]) {
      await admin.apply(slice('web-a', [{ ip: 1, ready }]));
      await waitFor(() => same(live(c), ready ? at(1) : []), 10_000);
    }
    await admin.apply(slice('web-a', [{ ip: 1 }, { ip: 2 }]));
    await waitFor(async () => (await status())?.backends?.ready === 2, 15_000);
    const upstream = async () => Object.values((await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/web-nginx`))?.data ?? {}).join('');
    await waitFor(async () => (await upstream()).includes('203.0.113.2:8080'), 10_000);
    // Dropping spec.nginx deletes the ConfigMap.
    await admin.apply(pool(listen));
    await waitFor(async () => (await admin.get(`/api/v1/namespaces/${ns}/configmaps/web-nginx`)) === undefined, 10_000);
    expect(c.elector!.isLeader).toBe(true);

    // Every (group, resource, verb) the shipped ClusterRole and Role grant was used, and nothing was refused.
    type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
    const rendered = parseAllDocuments(await kubectl(['kustomize', path.resolve('manifests')])).map((d) => d.toJS() as { kind: string; rules?: Rule[] });
    const granted = rendered
      .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .flatMap((o) => o.rules!)
      .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g} ${res} ${v}`))));
    expect(granted.length).toBeGreaterThan(0);
    const used = auditedRequests(identity.user);
    const usedKeys = new Set(used.map((u) => `${u.apiGroup} ${u.resource}${u.subresource ? `/${u.subresource}` : ''} ${u.verb}`));
    expect(granted.filter((g) => !usedKeys.has(g))).toEqual([]);
    expect(used.filter((u) => u.code === 403)).toEqual([]);
  });

  it('runs as the sidecar manifests/sidecar ships: one pool, a namespaced Role, status and Events written', async () => {
    const sidecar = await controllerIdentity(admin, ns, work, 'manifests/sidecar');
    const listen = await freePort();
    await admin.apply(pool(listen, { endpoints: [{ address: '127.0.0.1', port: ports[0] }] }, 'api'));
    await admin.apply(pool(await freePort(), { endpoints: [{ address: '127.0.0.1', port: ports[1] }] }, 'other'));
    const c = await controller({ kubeconfig: sidecar.kubeconfig, pool: 'api' });
    await waitFor(() => servedBy(listen, [ports[0]]), 10_000);
    await waitFor(async () => (await status('api'))?.backends?.ready === 1, 10_000);
    await waitFor(async () => (await events()).some((e) => e.involvedObject.name === 'api' && e.reason === 'ListenerOpened'), 5000);
    // Only its own pool: the other one is neither served nor written.
    expect(c.app.store.keys('BalancerPool')).toEqual([`${ns}/api`]);
    expect(await status('other')).toBeUndefined();
    expect(auditedRequests(sidecar.user).filter((u) => u.code >= 400)).toEqual([]);
  });

  it('says why it cannot lead when the Lease namespace does not exist (the API server refuses it)', async () => {
    const logs = captureLogs('debug');
    const missing = `${ns}-missing`;
    // As the admin, as README's local run does (the ServiceAccount would be refused by RBAC first).
    const c = await controller({ kubeconfig: clusterInfo().adminKubeconfig, leaderElect: true, leaderElectionNamespace: missing, logger: logs.logger, leaseTimings: { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 } });
    const warnings = () => logs.lines().filter((l) => l.level === 50 && String(l.msg).startsWith('create leases.coordination.k8s.io'));
    await waitFor(() => warnings().length > 0, 5000);
    expect(String(warnings()[0].msg)).toContain(`namespace ${missing} does not exist (404); create it (kubectl create namespace ${missing})`);
    // Once the namespace exists it leads; the retries before that said nothing more at warn.
    await waitFor(() => logs.lines().filter((l) => l.msg === 'lease update failed').length >= 3, 5000);
    await createNamespaceNamed(missing);
    await waitFor(() => c.elector!.isLeader, 5000);
    expect(warnings()).toHaveLength(1);
    expect(logs.messages()).toContain('create leases.coordination.k8s.io works again');
  });

  it('lets only the Lease holder write; a stopped leader hands over within the lease duration while both proxies serve', async () => {
    const timings = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };
    const [l1, l2] = [await freePort(), await freePort()];
    // Static loopback endpoints: real traffic (EndpointSlices may not name loopback addresses).
    const endpoints = { endpoints: [{ address: '127.0.0.1', port: ports[0] }] };
    // One pool per replica's listener would conflict across processes on one host, so each replica
    // gets its own pool; both pools' statuses show which replica writes.
    await admin.apply(pool(l1, endpoints));
    await admin.apply(pool(l2, endpoints, 'web2'));
    const a = await controller({ leaderElect: true, leaseTimings: timings, identity: 'replica-a', pool: 'web' });
    const b = await controller({ leaderElect: true, leaseTimings: timings, identity: 'replica-b', pool: 'web2' });
    await waitFor(() => a.elector!.isLeader !== b.elector!.isLeader, 5000);
    const [leader, follower] = a.elector!.isLeader ? [a, b] : [b, a];
    const leaderPool = leader === a ? 'web' : 'web2';
    const followerPool = leader === a ? 'web2' : 'web';
    await waitFor(() => status(leaderPool), 10_000);
    // The follower serves its pool but writes nothing.
    const followerPort = leader === a ? l2 : l1;
    await waitFor(() => servedBy(followerPort, [ports[0]]), 10_000);
    expect(await status(followerPool)).toBeUndefined();
    expect((await admin.get<{ spec: unknown }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/ballast-test`))?.spec).toEqual(
      expect.objectContaining({ holderIdentity: leader === a ? 'replica-a' : 'replica-b' }),
    );

    // Traffic through the follower's proxy runs across the handover and must not fail once.
    let sent = 0;
    let failed = 0;
    let handedOver = false;
    const load = (async () => {
      while (!handedOver) {
        sent++;
        const r = await get(`http://127.0.0.1:${followerPort}/`).catch(() => undefined);
        if (r?.status !== 200) failed++;
      }
    })();
    const stoppedAt = Date.now();
    await leader.stop();
    await waitFor(() => follower.elector!.isLeader, timings.leaseDurationMs + 2000);
    expect(Date.now() - stoppedAt).toBeLessThan(timings.leaseDurationMs + 2000);
    await waitFor(() => status(followerPool), 10_000);
    handedOver = true;
    await load;
    expect(sent).toBeGreaterThan(0);
    expect(failed).toBe(0);
  });
});
