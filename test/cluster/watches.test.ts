// The controller's watches on the real API server, with resync on: a resync never brings back an
// object a watch has deleted, even when LIST answers are slow (the race a separate resync LIST has),
// the relist after 410 Gone stays exact, and quiet watches ask for bookmarks, end server-side before
// client-node's idle timeout and resume from where they were, without relisting.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { StoreChange } from '../../src/controller/store.js';
import { ApiHttpProxy } from '../support/api-http-proxy.js';
import { auditedRequests, clusterInfo, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin } from '../support/cluster.js';
import { startTestController, stopControllers } from '../support/cluster-controller.js';
import { compactEtcd } from '../support/control-plane.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;
let proxy: ApiHttpProxy | undefined;

const slice = (name: string, ip: number) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: [{ addresses: [`203.0.113.${ip}`], conditions: { ready: true } }],
});
const pool = () => ({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'web', namespace: ns }, spec: { service: { name: 'web', port: 'http' } } });

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-watches-'));
  ns = await createNamespace(admin, 'watches');
});

afterEach(async () => {
  await stopControllers();
  await proxy?.close();
  proxy = undefined;
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

describe('watches on a real API server', () => {
  it('a slice deleted while a LIST answer is held back never comes back, through a 410 relist and resyncs', async () => {
    const info = clusterInfo();
    const identity = await controllerIdentity(admin, ns, work);
    proxy = await ApiHttpProxy.start(info);
    const kubeconfig = path.join(work, 'proxied.kubeconfig');
    await proxy.writeKubeconfig(kubeconfig, identity.token, ns);
    await admin.apply(slice('web-a', 1));
    await admin.apply(slice('web-b', 2));
    await admin.apply(pool());
    const c = await startTestController(kubeconfig, ns, { resyncSeconds: 1 });
    const history: string[] = [];
    c.app.store.on('change', (ch: StoreChange) => ch.key === `${ns}/web-b` && history.push(ch.object ? 'upsert' : 'delete'));

    // Slow LISTs from now on; the slice watch is cut while etcd has compacted past its
    // resourceVersion, so it meets 410 Gone and relists (slowly); web-b is deleted meanwhile.
    await waitFor(() => proxy!.openWatches === 3, 10_000);
    proxy.delayLists = { pathIncludes: '/endpointslices', ms: 3000 };
    await admin.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bump', namespace: ns } });
    await compactEtcd(info);
    const mark = Date.now();
    proxy.dropWatches();
    const relist = await waitFor(() => proxy!.lists.find((l) => l.path.endsWith('/endpointslices') && l.started >= mark && !l.answered), 10_000);
    // Halfway through the held-back relist: a LIST started meanwhile (a resync's) would answer after
    // the watch has delivered the delete, with a copy from before it.
    await waitFor(() => Date.now() - relist.started >= 1500, 5000);
    await admin.delete(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/web-b`);
    const deletedAt = Date.now();

    // Every LIST that was on the wire when web-b went away has been answered, and the store has let web-b go.
    await waitFor(() => proxy!.lists.filter((l) => l.started <= deletedAt).every((l) => l.answered) && !c.app.store.get('EndpointSlice', `${ns}/web-b`), 15_000);
    // Two more resync periods: none of them may bring web-b back.
    const resyncsFrom = Date.now();
    await waitFor(() => Date.now() - resyncsFrom > 2500 && proxy!.lists.filter((l) => l.started <= Date.now() - 3000).every((l) => l.answered), 10_000);
    expect(history).toEqual(['delete']);
    expect(c.app.store.keys('EndpointSlice')).toEqual([`${ns}/web-a`]);
    expect(c.app.reconciler.appliedPlans()[0].backends.map((b) => b.address)).toEqual(['203.0.113.1']);
  });

  it('quiet watches ask for bookmarks, end server-side, resume from their resourceVersion and never relist', async () => {
    const identity = await controllerIdentity(admin, ns, work);
    await admin.apply(slice('web-a', 1));
    await admin.apply(pool());
    // The server ends each watch after 2 s (25 s by default), so a few cycles take seconds, not minutes.
    await startTestController(identity.kubeconfig, ns, { resyncSeconds: 1, watchTimeoutSeconds: 2 });
    const requests = () => auditedRequests(identity.user).filter((r) => ['balancerpools', 'services', 'endpointslices'].includes(r.resource) && !r.subresource);
    const watchesOf = (resource: string) => requests().filter((r) => r.verb === 'watch' && r.resource === resource);
    // Writes elsewhere in the namespace: the cluster moves on while these resources stay quiet.
    for (let i = 0; watchesOf('balancerpools').length < 4 || watchesOf('endpointslices').length < 4; i++) {
      if (i > 200) throw new Error('the watches did not cycle');
      await admin.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'noise', namespace: ns }, data: { i: String(i) } });
      await new Promise((r) => setTimeout(r, 100));
    }
    const lists = requests().filter((r) => r.verb === 'list');
    expect(lists.map((r) => r.resource).sort()).toEqual(['balancerpools', 'endpointslices', 'services']);
    for (const resource of ['balancerpools', 'services', 'endpointslices']) {
      const query = watchesOf(resource).map((w) => new URL(w.requestURI, 'https://x').searchParams);
      for (const q of query) expect([q.get('allowWatchBookmarks'), q.get('timeoutSeconds')]).toEqual(['true', '2']);
      // Each watch resumes where the last one was (never from scratch), and the versions never go back.
      const versions = query.map((q) => Number(q.get('resourceVersion')));
      expect(versions.every((v, i) => v > 0 && (i === 0 || v >= versions[i - 1]))).toBe(true);
    }
  });
});
