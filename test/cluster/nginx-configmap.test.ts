// Cluster mode's NGINX output on the real control plane: one ConfigMap per pool, owned by the pool
// (the garbage collector deletes it with the pool), rewritten only when the rendered upstream
// changes, refused with a condition past the 1 MiB limit. The controller runs as the shipped
// ServiceAccount in a namespace of its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { startController, type Controller } from '../../src/cli/controller.js';
import { parseListenerPolicy } from '../../src/plan/listener-policy.js';
import { controllerIdentity, createNamespace, deleteNamespace, KubeAdmin } from '../support/cluster.js';
import { captureLogs } from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';

const api = new KubeAdmin();
let ns: string;
const CM = () => `/api/v1/namespaces/${ns}/configmaps`;
const POOLS = () => `/apis/ballast.dev/v1alpha1/namespaces/${ns}/balancerpools`;

let controller: Controller;
let work: string;

const slice = (name: string, addresses: string[], service = 'web') => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080 }],
  endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
});
const pool = (nginx: Record<string, unknown> | undefined, service = 'web') => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: ns },
  spec: { service: { name: service, port: 'http' }, ...(nginx && { nginx }) },
});
type ConfigMap = { metadata: { resourceVersion: string; annotations: Record<string, string>; ownerReferences?: { kind: string; name: string; uid: string; controller: boolean }[] }; data: Record<string, string> };
const configMap = () => api.get<ConfigMap>(`${CM()}/web-nginx`);
type PoolStatus = { nginx?: { configMap: string; hash: string }; conditions?: { type: string; status: string; reason: string; message: string }[] };
const poolStatus = async () => (await api.get<{ status?: PoolStatus }>(`${POOLS()}/web`))?.status;
const conf = () => `${ns.replace(/-/g, '_')}_web.conf`;

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-cm-'));
  ns = await createNamespace(api, 'nginx-cm');
  const { kubeconfig } = await controllerIdentity(api, ns, work);
  controller = await startController({
    kubeconfig,
    namespace: ns,
    admin: '127.0.0.1:0',
    leaderElect: false,
    leaderElectionNamespace: ns,
    leaderElectionId: 'ballast',
    listenerNamespaces: parseListenerPolicy(ns),
    resyncSeconds: 1, // resync on, as in production (where it is 300 s), and often
    shutdownDelaySeconds: 0,
    logger: captureLogs().logger,
  });
});

afterEach(async () => {
  await controller.stop();
  await deleteNamespace(api, ns);
  await rm(work, { recursive: true, force: true });
});

describe('NGINX ConfigMaps in cluster mode', () => {
  it('writes an owned ConfigMap, rewrites it only when the upstream changes, and deletes it when the pool drops spec.nginx', async () => {
    await api.apply(slice('web-1', ['10.0.0.2', '10.0.0.1']));
    const created = await api.apply(pool({ keepalive: 16 }));
    // The pool and its slice come by separate watches: a first ConfigMap may be written before the
    // slice arrived (an empty upstream), and is rewritten once it has.
    const cm = await waitFor(async () => {
      const found = await configMap();
      return found?.data[conf()]?.includes('10.0.0.1') ? found : undefined;
    }, 10_000);
    expect(cm.data[conf()]).toContain(`upstream ${conf().replace(/\.conf$/, '')} {`);
    expect(cm.data[conf()]).toMatch(/server 10\.0\.0\.1:8080 .*\n\s+server 10\.0\.0\.2:8080/);
    expect(cm.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'BalancerPool', name: 'web', uid: created.metadata.uid, controller: true })]);
    const hash = cm.metadata.annotations['ballast.dev/config-hash'];
    await waitFor(async () => (await poolStatus())?.nginx?.hash === hash, 5000);

    // A change that does not alter the rendered upstream (a label) writes nothing.
    const labelled = await api.apply({ ...slice('web-1', ['10.0.0.2', '10.0.0.1']), metadata: { ...slice('web-1', []).metadata, labels: { 'kubernetes.io/service-name': 'web', team: 'a' } } });
    await waitFor(() => controller.app.store.get('EndpointSlice', `${ns}/web-1`)?.metadata.resourceVersion === labelled.metadata.resourceVersion, 5000);
    await controller.app.manager.idle();
    expect((await configMap())!.metadata.resourceVersion).toBe(cm.metadata.resourceVersion);

    await api.apply(slice('web-1', ['10.0.0.3']));
    await waitFor(async () => (await configMap())?.data[conf()].includes('10.0.0.3:8080'), 10_000);
    expect((await configMap())!.metadata.annotations['ballast.dev/config-hash']).not.toBe(hash);

    await api.apply(pool(undefined));
    await waitFor(async () => (await configMap()) === undefined, 10_000);
  });

  it('leaves the ConfigMap to the garbage collector when the pool is deleted', async () => {
    await api.apply(slice('web-1', ['10.0.0.1']));
    await api.apply(pool({}));
    await waitFor(configMap, 10_000);
    // Stop the controller first: what removes the ConfigMap now is its owner reference.
    await controller.stop();
    await api.delete(`${POOLS()}/web`);
    await waitFor(async () => (await configMap()) === undefined, 20_000);
  });

  it('refuses a ConfigMap over 1 MiB with a Degraded condition and keeps the last good one', async () => {
    await api.apply(slice('web-0', ['10.0.0.1']));
    await api.apply(pool({}));
    const good = await waitFor(configMap, 10_000);
    // 20,000 endpoints render to well over 1 MiB of `server` lines; the pool switches to them in one step.
    for (let s = 0; s < 20; s++) await api.apply(slice(`big-${s}`, Array.from({ length: 1000 }, (_, i) => `10.${s}.${i >> 8}.${i & 255}`), 'big'));
    // Separate watches give no order between kinds: let every slice arrive before the switch.
    await waitFor(() => controller.app.store.slicesOf(`${ns}/big`).length === 20, 10_000);
    await api.apply(pool({}, 'big'));
    const degraded = await waitFor(async () => (await poolStatus())?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True'), 20_000);
    expect(degraded.reason).toBe('ConfigMapTooLarge');
    expect(degraded.message).toMatch(/ConfigMap web-nginx would be \d+ bytes with 20000 backends; the limit is 1048576/);
    expect((await configMap())!.data).toEqual(good.data);
  });
});
