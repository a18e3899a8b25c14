// NGINX ConfigMaps left behind while no controller ran, on the real API server: spec.nginx removed
// while the controller was down. A new controller finds the ConfigMaps it labelled (a LIST with a
// label selector, the shipped RBAC), deletes those no pool wants, and clears status.nginx; a
// ConfigMap that is not Ballast's stays.
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

const pool = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: ns },
  spec: { endpoints: [{ address: '10.0.0.1', port: 80 }], ...spec },
});
const configMap = (name: string, labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data: { 'x.conf': '' } });
const cmPath = (name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;
const status = async () => ((await admin.get<KubeObject>(`/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools/web`))?.status ?? {}) as { nginx?: { configMap: string } };

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-orphans-'));
  ns = await createNamespace(admin, 'orphans');
});

afterEach(async () => {
  await stopControllers();
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

describe('NGINX ConfigMaps on a real API server', () => {
  it('a new controller deletes the ConfigMaps no pool wants and clears status.nginx', async () => {
    const { kubeconfig } = await controllerIdentity(admin, ns, work);
    await admin.apply(pool({ nginx: { configMap: 'web-nginx' } }));
    await startTestController(kubeconfig, ns);
    await waitFor(async () => (await admin.get(cmPath('web-nginx'))) && (await status()).nginx?.configMap === 'web-nginx', 10_000);
    await stopControllers();

    // While no controller runs: spec.nginx goes away; a labelled ConfigMap of a pool that is gone,
    // and one that only looks like Ballast's (no managed-by label).
    await admin.apply(pool());
    await admin.apply(configMap('gone-nginx', { 'app.kubernetes.io/managed-by': 'ballast', 'ballast.dev/pool': 'gone' }));
    await admin.apply(configMap('not-ours', { 'ballast.dev/pool': 'web' }));

    await startTestController(kubeconfig, ns);
    await waitFor(async () => (await admin.get(cmPath('web-nginx'))) === undefined && (await admin.get(cmPath('gone-nginx'))) === undefined, 10_000);
    await waitFor(async () => !('nginx' in (await status())), 10_000);
    expect(await admin.get(cmPath('not-ours'))).toBeDefined();
  });
});
