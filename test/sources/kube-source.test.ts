// KubeSource against the test API server, through the real client-node: what client-node's informer
// does not do by itself (restart after errors, notice a silent watch, relist) is Ballast's job.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ObjectStore } from '../../src/controller/store.js';
import { silentLogger } from '../../src/log.js';
import { KubeClient, loadKubeConfig } from '../../src/sources/kube/kube-client.js';
import { KubeSource } from '../../src/sources/kube/kube-source.js';
import { KubeApiServer } from '../support/kube-apiserver.js';
import { waitFor } from '../support/wait-for.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

let api: KubeApiServer;
let source: KubeSource | undefined;
let work: string;

const slice = (name: string, address: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 80 }],
  endpoints: [{ addresses: [address] }],
});

async function startSource(opts: Partial<ConstructorParameters<typeof KubeSource>[0]> = {}) {
  const file = path.join(work, 'kubeconfig');
  await api.writeKubeconfig(file);
  const store = new ObjectStore();
  source = new KubeSource({ client: new KubeClient(loadKubeConfig(file)), logger: silentLogger, backoff: { baseMs: 50, maxMs: 500, jitter: 0.5 }, ...opts });
  return { store, started: source.start(store) };
}

const addressOf = (store: ObjectStore, key: string) => store.get('EndpointSlice', key)?.endpoints[0]?.addresses[0];

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-kube-source-'));
  api = await KubeApiServer.start();
  api.apply(parse(readFileSync('crds/balancerpool.yaml', 'utf8')));
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await api.stop();
  await rm(work, { recursive: true, force: true });
});

describe('KubeSource', () => {
  it('is not synced until every list has succeeded, retrying failed lists with backoff', async () => {
    api.apply(slice('a', '10.0.0.1'));
    api.failNext({ method: 'GET', pathIncludes: '/endpointslices' }, 500, 3);
    const { store, started } = await startSource();
    await started;
    expect(addressOf(store, 'default/a')).toBe('10.0.0.1');
    const lists = api.requests.filter((r) => r.method === 'GET' && r.path.includes('/endpointslices') && !r.path.includes('watch='));
    expect(lists.length).toBe(4);
  });

  it('restarts a watch that went silent and catches up with what it missed', async () => {
    api.apply(slice('a', '10.0.0.1'));
    const { store, started } = await startSource({ watchdogMs: 400 });
    await started;
    api.freezeWatches();
    api.apply(slice('a', '10.0.0.2'));
    await waitFor(() => addressOf(store, 'default/a') === '10.0.0.2', 5000);
  });

  it('keeps the last good object when the API holds one Ballast cannot accept, and reports it', async () => {
    const rejected: string[] = [];
    const { store, started } = await startSource({ onInvalid: (raw, errors) => rejected.push(`${(raw.metadata as { name: string }).name}: ${errors[0].path}`) });
    await started;
    api.apply(slice('a', '10.0.0.1'));
    await waitFor(() => addressOf(store, 'default/a') === '10.0.0.1', 5000);
    api.apply({ ...slice('a', '10.0.0.1'), endpoints: [{ addresses: ['not-an-ip'] }] });
    await waitFor(() => rejected.length > 0, 5000);
    expect(rejected).toEqual(['a: endpoints[0].addresses[0]']);
    expect(addressOf(store, 'default/a')).toBe('10.0.0.1');
  });
});
