import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { ObjectStore, type StoreChange } from '../../src/controller/store.js';

const obj = (raw: Record<string, unknown>) => {
  const r = parseObject(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  r.object.metadata.namespace ??= 'default';
  return r.object;
};
const slice = (name: string, svc: string, address: string): KubeObject =>
  obj({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, labels: { 'kubernetes.io/service-name': svc } }, addressType: 'IPv4', ports: [{ name: 'http', port: 80 }], endpoints: [{ addresses: [address] }] });
const pool = (name: string, svc: string): KubeObject =>
  obj({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name }, spec: { service: { name: svc, port: 'http' } } });

describe('ObjectStore', () => {
  it('emits only real changes', () => {
    const store = new ObjectStore();
    const changes: StoreChange[] = [];
    store.on('change', (c) => changes.push(c));
    store.upsert(slice('a', 'web', '10.0.0.1'));
    store.upsert(slice('a', 'web', '10.0.0.1'));
    store.upsert(slice('a', 'web', '10.0.0.2'));
    store.delete('EndpointSlice', 'default/a');
    store.delete('EndpointSlice', 'default/a');
    expect(changes.map((c) => [c.key, c.old !== undefined, c.object !== undefined])).toEqual([
      ['default/a', false, true],
      ['default/a', true, true],
      ['default/a', true, false],
    ]);
  });

  it('indexes slices by Service and pools by Service, following relabels', () => {
    const store = new ObjectStore();
    store.upsert(slice('a', 'web', '10.0.0.1'));
    store.upsert(slice('b', 'web', '10.0.0.2'));
    store.upsert(pool('p', 'web'));
    expect(store.slicesOf('default/web').map((s) => s.metadata.name)).toEqual(['a', 'b']);
    expect(store.poolsUsing('default/web')).toEqual(['default/p']);
    store.upsert(slice('b', 'api', '10.0.0.2'));
    store.upsert(pool('p', 'api'));
    expect(store.slicesOf('default/web').map((s) => s.metadata.name)).toEqual(['a']);
    expect(store.poolsUsing('default/web')).toEqual([]);
    expect(store.poolsUsing('default/api')).toEqual(['default/p']);
  });

  it('indexes pools by listener port, following edits, and counts the real changes of each kind', () => {
    const store = new ObjectStore();
    const listening = (name: string, port?: number) =>
      obj({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name }, spec: { endpoints: [{ address: '10.0.0.1', port: 80 }], ...(port && { listener: { port } }) } });
    store.upsert(listening('a', 8080));
    store.upsert(listening('b', 8080));
    store.upsert(listening('c'));
    expect(store.poolsListeningOn(8080).map((p) => p.metadata.name)).toEqual(['a', 'b']);
    store.upsert(listening('a', 8081));
    store.upsert(listening('a', 8081));
    store.delete('BalancerPool', 'default/b');
    expect(store.poolsListeningOn(8080)).toEqual([]);
    expect(store.poolsListeningOn(8081).map((p) => p.metadata.name)).toEqual(['a']);
    expect(store.revision('BalancerPool')).toBe(5);
    expect(store.revision('EndpointSlice')).toBe(0);
  });

  it('replace deletes what a full view no longer has', () => {
    const store = new ObjectStore();
    store.replace('EndpointSlice', [slice('a', 'web', '10.0.0.1'), slice('b', 'web', '10.0.0.2')]);
    store.replace('EndpointSlice', [slice('b', 'web', '10.0.0.2')]);
    expect(store.keys('EndpointSlice')).toEqual(['default/b']);
    expect(store.slicesOf('default/web')).toHaveLength(1);
  });
});
