// Two sidecars of one pool, started as real processes with manifests/sidecar's own args, as its
// ServiceAccount, on the real control plane. Their views differ (the second cannot open the pool's
// local port, which the first holds), yet the pool has one status writer: Events come from one of
// them, and status writes follow the changes instead of a tug of war. Each reports its own listener
// through its readiness.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { BallastProcess } from '../support/ballast-process.js';
import { auditedRequests, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin, kubectl, type KubeObject } from '../support/cluster.js';
import { freePort, get } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;
const sidecars: BallastProcess[] = [];

type Container = { args: string[] };
type Event = { reason: string; message: string; reportingInstance: string; count: number };

const slice = (ips: number[]) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'api-a', namespace: ns, labels: { 'kubernetes.io/service-name': 'api' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 3000, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [`203.0.113.${ip}`], conditions: { ready: true } })),
});

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-sidecar-'));
  ns = await createNamespace(admin, 'sidecar');
});

afterEach(async () => {
  await Promise.all(sidecars.splice(0).map((s) => s.stop()));
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

describe('manifests/sidecar on a real API server', () => {
  it('two sidecars whose views differ: one writer of status and Events, each with its own readiness', async () => {
    const rendered = parseAllDocuments(await kubectl(['kustomize', path.resolve('manifests/sidecar')])).map((d) => d.toJS() as KubeObject & Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    const { kubeconfig, user } = await controllerIdentity(admin, ns, work, 'manifests/sidecar');
    const pool = rendered.find((o) => o.kind === 'BalancerPool')!;
    const listen = await freePort();
    await admin.apply({ ...pool, metadata: { name: pool.metadata.name, namespace: ns }, spec: { ...pool.spec, listener: { ...pool.spec.listener, port: listen } } });
    await admin.apply(slice([1]));

    const container: Container = rendered.find((o) => o.kind === 'Deployment')!.spec.template.spec.initContainers[0];
    // The manifest's args as the kubelet expands them; this machine is both Pods, so its own loopback ports for admin and health.
    const start = (pod: string) => {
      const args = container.args.map((a) => a.replace('$(POD_NAMESPACE)', ns));
      const s = BallastProcess.start([...args, `--kubeconfig=${kubeconfig}`, '--admin=127.0.0.1:0', '--health-address=127.0.0.1:0'], { POD_NAME: pod, POD_NAMESPACE: ns });
      sidecars.push(s);
      return s;
    };
    const a = start('frontend-a');
    await a.waitForLog((l) => l.msg === 'ballast started');
    const b = start('frontend-b');
    await b.waitForLog((l) => l.msg === 'ballast started');
    const readyz = async (s: BallastProcess) => {
      const { health } = (await s.waitForLog((l) => l.msg === 'health and metrics listening')) as { health: string };
      return (await get(`http://${health}/readyz`)).status;
    };
    // a serves the pool on 127.0.0.1:listen; b cannot open it, and says so where its kubelet looks.
    await waitFor(async () => (await readyz(a)) === 200 && (await readyz(b)) === 503, 15_000);

    const writes = () => auditedRequests(user).filter((r) => r.resource === 'balancerpools' && r.subresource === 'status').length;
    const before = writes();
    // The same change twice, too: one Event with a count (the patch the Role grants).
    const changes = [[1, 2], [1], [1, 2]];
    const updates = (s: BallastProcess) => s.logs().filter((l) => String(l.msg).startsWith('pool updated')).length;
    for (const [i, ips] of changes.entries()) {
      await admin.apply(slice(ips));
      await waitFor(() => updates(a) === i + 1 && updates(b) === i + 1, 10_000);
    }
    await waitFor(async () => ((await admin.get<KubeObject>(`/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools/api`))?.status as { backends?: { total: number } })?.backends?.total === 2, 10_000);

    const listEvents = () => admin.list<Event>(`/api/v1/namespaces/${ns}/events`);
    await waitFor(async () => (await listEvents()).find((e) => e.message.startsWith('added 203.0.113.2:3000'))?.count === 2, 10_000);
    const events = await listEvents();
    expect(new Set(events.map((e) => e.reportingInstance)).size).toBe(1);
    // One write per change at most (a follower that cannot listen would otherwise rewrite what the leader wrote).
    expect(writes() - before).toBeLessThanOrEqual(changes.length);
    const lease = await admin.get<{ spec: { holderIdentity: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/ballast-pool-api`);
    expect(['frontend-a', 'frontend-b']).toContain(lease?.spec.holderIdentity);
    expect(events[0].reportingInstance).toBe(lease?.spec.holderIdentity);

    // The sidecar Role, under the real RBAC authorizer, both ways: nothing was refused, and every
    // (group, resource, verb) it grants was used.
    await Promise.all(sidecars.splice(0).map((s) => s.stop()));
    const used = auditedRequests(user);
    expect(used.filter((u) => u.code === 403)).toEqual([]);
    const usedKeys = new Set(used.map((u) => `${u.apiGroup} ${u.resource}${u.subresource ? `/${u.subresource}` : ''} ${u.verb}`));
    const granted = rendered
      .filter((o) => o.kind === 'Role')
      .flatMap((o) => o.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
      .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g} ${res} ${v}`))));
    expect(granted.length).toBeGreaterThan(0);
    expect(granted.filter((g) => !usedKeys.has(g))).toEqual([]);
  });
});
