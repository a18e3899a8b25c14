// A Service with an IPv4 and an IPv6 EndpointSlice for the same Pods, on the real API server: the
// pool balances over the Service's primary family (its ipFamilies[0], which the server sets), so
// every Pod is one backend, not two.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { controllerIdentity, createNamespace, deleteNamespace, KubeAdmin, type KubeObject } from '../support/cluster.js';
import { startTestController, stopControllers } from '../support/cluster-controller.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;

const slice = (name: string, addressType: 'IPv4' | 'IPv6', addresses: string[]) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': 'web' } },
  addressType,
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
});

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-dual-'));
  ns = await createNamespace(admin, 'dual');
});

afterEach(async () => {
  await stopControllers();
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

describe('dual-stack Services on a real API server', () => {
  it("balances over the Service's primary address family only", async () => {
    const { kubeconfig } = await controllerIdentity(admin, ns, work);
    // No selector: the slices are ours, not the EndpointSlice controller's.
    const service = await admin.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    expect((service as unknown as { spec: { ipFamilies: string[] } }).spec.ipFamilies).toEqual(['IPv4']);
    await admin.apply(slice('web-v4', 'IPv4', ['203.0.113.1', '203.0.113.2']));
    await admin.apply(slice('web-v6', 'IPv6', ['2001:db8::1', '2001:db8::2']));
    await admin.apply({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'web', namespace: ns }, spec: { service: { name: 'web', port: 'http' } } });
    const c = await startTestController(kubeconfig, ns);

    const status = async () => ((await admin.get<KubeObject>(`/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools/web`))?.status ?? {}) as { backends?: { ready: number; total: number } };
    await waitFor(async () => (await status()).backends, 10_000);
    expect((await status()).backends).toEqual({ ready: 2, total: 2 });
    const [plan] = c.app.reconciler.appliedPlans();
    expect(plan.backends.map((b) => `${b.address}:${b.port}`)).toEqual(['203.0.113.1:8080', '203.0.113.2:8080']);
    expect(plan.excluded.map((e) => e.reason)).toEqual(['OtherAddressFamily', 'OtherAddressFamily']);
  });
});
