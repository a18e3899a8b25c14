// Cluster mode's NGINX output: one ConfigMap per pool, owned by the pool, rewritten only when the
// rendered upstream changes, refused with a condition past the 1 MiB limit.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { startController, type Controller } from '../../src/cli/controller.js';
import { parseListenerPolicy } from '../../src/plan/listener-policy.js';
import { KubeApiServer } from '../support/kube-apiserver.js';
import { captureLogs } from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';

const CM = '/api/v1/namespaces/shop/configmaps';
const POOLS = '/apis/ballast.dev/v1alpha1/namespaces/shop/balancerpools';

let api: KubeApiServer;
let controller: Controller;
let work: string;

const slice = (name: string, addresses: string[], service = 'web') => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080 }],
  endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
});
const pool = (nginx: Record<string, unknown> | undefined, service = 'web') => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { service: { name: service, port: 'http' }, ...(nginx && { nginx }) },
});
type ConfigMap = { metadata: { resourceVersion: string; annotations: Record<string, string>; ownerReferences?: { kind: string; name: string; uid: string; controller: boolean }[] }; data: Record<string, string> };
const configMap = () => api.get(`${CM}/web-nginx`) as unknown as ConfigMap | undefined;
const poolStatus = () => api.get(`${POOLS}/web`)?.status as { nginx?: { configMap: string; hash: string }; conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined;

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-cm-'));
  api = await KubeApiServer.start();
  api.apply(parse(readFileSync('crds/balancerpool.yaml', 'utf8')));
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  await api.writeKubeconfig(path.join(work, 'kubeconfig'));
  controller = await startController({
    kubeconfig: path.join(work, 'kubeconfig'),
    admin: '127.0.0.1:0',
    leaderElect: false,
    leaderElectionNamespace: 'default',
    leaderElectionId: 'ballast',
    listenerNamespaces: parseListenerPolicy('shop'),
    resyncSeconds: 0,
    shutdownDelaySeconds: 0,
    logger: captureLogs().logger,
  });
});

afterEach(async () => {
  await controller.stop();
  await api.stop();
  await rm(work, { recursive: true, force: true });
});

describe('NGINX ConfigMaps in cluster mode', () => {
  it('writes an owned ConfigMap, rewrites it only when the upstream changes, and deletes it when the pool drops spec.nginx', async () => {
    api.apply(slice('web-1', ['10.0.0.2', '10.0.0.1']));
    const created = api.apply(pool({ keepalive: 16 }));
    const cm = await waitFor(configMap, 10_000);
    expect(cm.data['shop_web.conf']).toContain('upstream shop_web {');
    expect(cm.data['shop_web.conf']).toMatch(/server 10\.0\.0\.1:8080 .*\n\s+server 10\.0\.0\.2:8080/);
    expect(cm.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'BalancerPool', name: 'web', uid: created.metadata.uid, controller: true })]);
    const hash = cm.metadata.annotations['ballast.dev/config-hash'];
    await waitFor(() => poolStatus()?.nginx?.hash === hash, 5000);

    // A change that does not alter the rendered upstream (a label) writes nothing.
    api.apply({ ...slice('web-1', ['10.0.0.2', '10.0.0.1']), metadata: { ...slice('web-1', []).metadata, labels: { 'kubernetes.io/service-name': 'web', team: 'a' } } });
    await controller.app.manager.idle();
    expect(configMap()!.metadata.resourceVersion).toBe(cm.metadata.resourceVersion);

    api.apply(slice('web-1', ['10.0.0.3']));
    await waitFor(() => configMap()?.data['shop_web.conf'].includes('10.0.0.3:8080'), 10_000);
    expect(configMap()!.metadata.annotations['ballast.dev/config-hash']).not.toBe(hash);

    api.apply(pool(undefined));
    await waitFor(() => configMap() === undefined, 10_000);
  });

  it('refuses a ConfigMap over 1 MiB with a Degraded condition and keeps the last good one', async () => {
    api.apply(slice('web-0', ['10.0.0.1']));
    api.apply(pool({}));
    const good = await waitFor(configMap, 10_000);
    // 20,000 endpoints render to well over 1 MiB of `server` lines; the pool switches to them in one step.
    for (let s = 0; s < 20; s++) api.apply(slice(`big-${s}`, Array.from({ length: 1000 }, (_, i) => `10.${s}.${i >> 8}.${i & 255}`), 'big'));
    // Separate watches give no order between kinds: let every slice arrive before the switch.
    await waitFor(() => controller.app.store.slicesOf('shop/big').length === 20, 10_000);
    api.apply(pool({}, 'big'));
    const degraded = await waitFor(() => poolStatus()?.conditions?.find((c) => c.type === 'Degraded' && c.status === 'True'), 20_000);
    expect(degraded.reason).toBe('ConfigMapTooLarge');
    expect(degraded.message).toMatch(/ConfigMap web-nginx would be \d+ bytes with 20000 backends; the limit is 1048576/);
    expect(configMap()!.data).toEqual(good.data);
  });
});
