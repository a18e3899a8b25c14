// Status and Events on the real control plane, as the shipped ServiceAccount: status is exactly what
// the controller computed (fields that went away go away, an unchanged status is not rewritten), a
// spec the API admits but Ballast rejects is warned about once, and a repeated Event is one Event
// with a count.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { auditedRequests, clusterInfo, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin, type KubeObject } from '../support/cluster.js';
import { startTestController, stopControllers, type TestController } from '../support/cluster-controller.js';
import { replaceSpecInEtcd } from '../support/control-plane.js';
import { freePort, get } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;
let identity: { kubeconfig: string; user: string };

type Status = { listener?: string; nginx?: { configMap: string }; conditions?: { type: string; status: string; reason: string }[] };
type Event = { reason: string; message: string; count: number; type: string };

const pool = (spec: Record<string, unknown>, labels: Record<string, string> = {}) => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: ns, labels },
  spec: { endpoints: [{ address: '127.0.0.1', port: 9 }], ...spec },
});
const poolPath = () => `/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools/web`;
const status = async () => ((await admin.get<KubeObject>(poolPath()))?.status ?? {}) as Status;
const condition = async (type: string) => (await status()).conditions?.find((c) => c.type === type);
const events = () => admin.list<Event>(`/api/v1/namespaces/${ns}/events`);
const statusWrites = (code?: number) =>
  auditedRequests(identity.user).filter((r) => r.resource === 'balancerpools' && r.subresource === 'status' && (code === undefined || r.code === code)).length;

/** Label the pool `rounds` times (metadata only: same generation) and wait until the controller has reconciled each. */
async function relabel(c: TestController, rounds: number, seen: () => boolean | Promise<boolean>) {
  for (let i = 0; i < rounds; i++) {
    await admin.request('PATCH', poolPath(), { metadata: { labels: { round: String(i) } } }, 'application/merge-patch+json');
  }
  await waitFor(seen, 10_000);
  await c.app.manager.idle();
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-status-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));
beforeEach(async () => {
  ns = await createNamespace(admin, 'status');
  identity = await controllerIdentity(admin, ns, work);
});
afterEach(async () => {
  await stopControllers();
  await deleteNamespace(admin, ns);
});

describe('pool status on a real API server', () => {
  it('is exactly what was computed: removed fields disappear, and an unchanged status is not written again', async () => {
    const listen = await freePort();
    await admin.apply(pool({ listener: { address: '127.0.0.1', port: listen }, nginx: { configMap: 'web-nginx' } }));
    const c = await startTestController(identity.kubeconfig, ns);
    await waitFor(async () => (await status()).listener === `127.0.0.1:${listen}` && (await status()).nginx?.configMap === 'web-nginx', 10_000);

    const writes = statusWrites();
    await relabel(c, 5, () => c.app.store.get('BalancerPool', `${ns}/web`)?.metadata.labels?.round === '4');
    expect(statusWrites()).toBe(writes);

    await admin.apply(pool({ nginx: { configMap: 'web-nginx' } }));
    await waitFor(async () => !('listener' in (await status())), 10_000);
    await admin.apply(pool({}));
    await waitFor(async () => !('nginx' in (await status())), 10_000);
    expect((await status()).conditions?.find((x) => x.type === 'Ready')).toEqual(expect.objectContaining({ status: 'True' }));
  });
});

describe('pool Events on a real API server', () => {
  it('warns once about a spec the API admits but Ballast rejects, however often the pool is updated, without conflicts', async () => {
    await admin.apply(pool({}));
    const c = await startTestController(identity.kubeconfig, ns);
    await waitFor(async () => (await condition('Ready'))?.status === 'True', 10_000);
    // The CRD refuses a port above 65535 now; one stored before that rule existed is still there.
    await replaceSpecInEtcd(clusterInfo(), { group: 'ballast.dev', plural: 'balancerpools', namespace: ns, name: 'web' }, pool({ endpoints: undefined, service: { name: 'web', port: 70000 } }).spec);
    await waitFor(async () => (await condition('Degraded'))?.reason === 'InvalidSpec', 10_000);
    // The dashboard shows the pool as its status does.
    await waitFor(async () => {
      const state = JSON.parse((await get(`http://${c.app.adminAddress}/dashboard/state`)).body) as { pools: { key: string; degraded?: { reason: string } }[] };
      return state.pools.find((p) => p.key === `${ns}/web`)?.degraded?.reason === 'InvalidSpec';
    }, 10_000);
    const rejections = () => c.logs.messages().filter((m) => m.includes('rejected')).length;
    await relabel(c, 3, () => rejections() >= 4);

    const warnings = (await events()).filter((e) => e.reason === 'InvalidSpec');
    expect(warnings).toEqual([expect.objectContaining({ type: 'Warning', count: 1 })]);
    expect(statusWrites(409)).toBe(0);
  });

  it('records a repeated Event once, with its count', async () => {
    const one = [{ address: '127.0.0.1', port: 9 }];
    const two = [...one, { address: '127.0.0.2', port: 9 }];
    await admin.apply(pool({ endpoints: one }));
    const c = await startTestController(identity.kubeconfig, ns);
    await waitFor(async () => (await condition('Ready'))?.status === 'True', 10_000);
    const backends = () => c.app.reconciler.appliedPlans()[0]?.backends.length;
    for (const endpoints of [two, one, two]) {
      await admin.apply(pool({ endpoints }));
      await waitFor(() => backends() === endpoints.length, 10_000);
    }
    await c.app.manager.idle();
    const added = (await events()).filter((e) => e.reason === 'BackendsChanged' && e.message.startsWith('added 127.0.0.2:9'));
    expect(added).toEqual([expect.objectContaining({ count: 2 })]);
  });
});
