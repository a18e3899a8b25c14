// KubeSource against the real kube-apiserver, through the real client-node, as the shipped
// ServiceAccount: what client-node's informer does not do by itself (restart after errors, notice
// a silent watch, relist) is Ballast's job.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ObjectStore } from '../../src/controller/store.js';
import { silentLogger } from '../../src/log.js';
import { KubeClient, loadKubeConfig } from '../../src/sources/kube/kube-client.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { auditedRequests, clusterInfo, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin } from '../support/cluster.js';
import { writeKubeconfig } from '../support/control-plane.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let source: KubeSource | undefined;
let proxy: TcpProxy | undefined;
let work: string;
let ns: string;
let identity: { kubeconfig: string; user: string; token: string };

const slice = (name: string, address: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 80 }],
  endpoints: [{ addresses: [address] }],
});

async function startSource(opts: Partial<ConstructorParameters<typeof KubeSource>[0]> = {}, kubeconfig = identity.kubeconfig) {
  const store = new ObjectStore();
  source = new KubeSource({ client: new KubeClient(loadKubeConfig(kubeconfig)), logger: silentLogger, namespace: ns, backoff: { baseMs: 50, maxMs: 500, jitter: 0.5 }, ...opts });
  return { store, started: source.start(store.forSource(source.name)) };
}

const addressOf = (store: ObjectStore, name: string) => store.get('EndpointSlice', `${ns}/${name}`)?.endpoints[0]?.addresses[0];

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-kube-source-'));
  ns = await createNamespace(admin, 'source');
  identity = await controllerIdentity(admin, ns, work);
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await proxy?.close();
  proxy = undefined;
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

describe('KubeSource', () => {
  it('is not synced until every list has succeeded, retrying refused lists with backoff', async () => {
    await admin.apply(slice('a', '10.0.0.1'));
    // The ClusterRole without its EndpointSlice rule: lists are refused (403) until it is back.
    const rolePath = `/apis/rbac.authorization.k8s.io/v1/clusterroles/ballast-${ns}`;
    const role = (await admin.get<{ rules: { resources: string[] }[] }>(rolePath))!;
    await admin.request('PATCH', rolePath, { rules: role.rules.filter((r) => !r.resources.includes('endpointslices')) }, 'application/merge-patch+json');
    const slicesLists = () => auditedRequests(identity.user).filter((r) => r.verb === 'list' && r.resource === 'endpointslices');
    const { store, started } = await startSource();
    let synced = false;
    void started.then(() => (synced = true));
    await waitFor(() => slicesLists().filter((r) => r.code === 403).length >= 3, 10_000);
    expect(synced).toBe(false);

    await admin.request('PATCH', rolePath, { rules: role.rules }, 'application/merge-patch+json');
    await started;
    expect(addressOf(store, 'a')).toBe('10.0.0.1');
    expect(slicesLists().at(-1)?.code).toBe(200);
  });

  it('restarts a watch that went silent and catches up with what it missed', async () => {
    // Connections that stay open but carry nothing (a half-dead path), through our TCP proxy.
    const info = clusterInfo();
    proxy = await TcpProxy.start(Number(new URL(info.server).port));
    const kubeconfig = path.join(work, 'proxied.kubeconfig');
    await writeKubeconfig(kubeconfig, { server: proxy.url, caFile: info.caFile }, identity.token, ns);
    await admin.apply(slice('a', '10.0.0.1'));
    const { store, started } = await startSource({ watchdogMs: 400 }, kubeconfig);
    await started;
    proxy.freeze();
    await admin.apply(slice('a', '10.0.0.2'));
    await waitFor(() => addressOf(store, 'a') === '10.0.0.2', 10_000);
  });

  it('keeps the last good object when the API holds one Ballast cannot accept, and reports it', async () => {
    const rejected: string[] = [];
    const { store, started } = await startSource({ onInvalid: (raw, errors) => rejected.push(`${(raw.metadata as { name: string }).name}: ${errors[0].path}`) });
    await started;
    const pool = (port: number) => ({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'p', namespace: ns }, spec: { service: { name: 'web', port } } });
    await admin.apply(pool(80));
    await waitFor(() => store.get('BalancerPool', `${ns}/p`), 5000);
    // The CRD's int-or-string Service port has no bounds; Ballast's schema wants 1-65535.
    await admin.apply(pool(70000));
    await waitFor(() => rejected.length > 0, 5000);
    expect(rejected).toEqual(['p: spec.service.port']);
    expect(store.get('BalancerPool', `${ns}/p`)?.spec.service?.port).toBe(80);
  });
});
