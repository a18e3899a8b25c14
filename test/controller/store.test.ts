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
    const files = store.forSource('files');
    const changes: StoreChange[] = [];
    store.on('change', (c) => changes.push(c));
    files.upsert(slice('a', 'web', '10.0.0.1'));
    files.upsert(slice('a', 'web', '10.0.0.1'));
    files.upsert(slice('a', 'web', '10.0.0.2'));
    files.delete('EndpointSlice', 'default/a');
    files.delete('EndpointSlice', 'default/a');
    expect(changes.map((c) => [c.key, c.old !== undefined, c.object !== undefined])).toEqual([
      ['default/a', false, true],
      ['default/a', true, true],
      ['default/a', true, false],
    ]);
  });

  it('indexes slices by Service and pools by Service, following relabels', () => {
    const store = new ObjectStore();
    const files = store.forSource('files');
    files.upsert(slice('a', 'web', '10.0.0.1'));
    files.upsert(slice('b', 'web', '10.0.0.2'));
    files.upsert(pool('p', 'web'));
    expect(store.slicesOf('default/web').map((s) => s.metadata.name)).toEqual(['a', 'b']);
    expect(store.poolsUsing('default/web')).toEqual(['default/p']);
    files.upsert(slice('b', 'api', '10.0.0.2'));
    files.upsert(pool('p', 'api'));
    expect(store.slicesOf('default/web').map((s) => s.metadata.name)).toEqual(['a']);
    expect(store.poolsUsing('default/web')).toEqual([]);
    expect(store.poolsUsing('default/api')).toEqual(['default/p']);
  });

  it('lets each source replace and delete only its own objects, and never take over another one', () => {
    const conflicts: unknown[] = [];
    const store = new ObjectStore((c) => conflicts.push(c));
    const files = store.forSource('files');
    const kube = store.forSource('kubernetes');
    files.replace('EndpointSlice', [slice('a', 'web', '10.0.0.1')]);
    kube.replace('EndpointSlice', [slice('b', 'web', '10.0.0.2'), slice('a', 'web', '10.9.9.9')]);
    kube.replace('EndpointSlice', [slice('b', 'web', '10.0.0.2'), slice('a', 'web', '10.9.9.8')]);
    expect(store.get('EndpointSlice', 'default/a')?.endpoints[0].addresses).toEqual(['10.0.0.1']);
    expect(conflicts).toEqual([{ kind: 'EndpointSlice', key: 'default/a', owner: 'files', claimant: 'kubernetes' }]);
    expect(files.keys('EndpointSlice')).toEqual(['default/a']);
    expect(kube.keys('EndpointSlice')).toEqual(['default/b']);
    // A full view without the other's objects leaves them be; a delete of another's object does nothing.
    files.replace('EndpointSlice', [slice('a', 'web', '10.0.0.1')]);
    kube.delete('EndpointSlice', 'default/a');
    expect(store.keys('EndpointSlice').sort()).toEqual(['default/a', 'default/b']);
    // Once the holder lets go, the other's next full view brings its copy in.
    files.replace('EndpointSlice', []);
    kube.replace('EndpointSlice', [slice('b', 'web', '10.0.0.2'), slice('a', 'web', '10.9.9.8')]);
    expect(store.get('EndpointSlice', 'default/a')?.endpoints[0].addresses).toEqual(['10.9.9.8']);
    expect(conflicts).toHaveLength(1);
  });

  it('counts the real changes of each kind (its revision)', () => {
    const store = new ObjectStore();
    const files = store.forSource('files');
    files.upsert(pool('p', 'web'));
    files.upsert(pool('p', 'web'));
    files.upsert(pool('p', 'api'));
    store.forSource('kubernetes').upsert(pool('p', 'other')); // another source's: refused, no change
    files.delete('BalancerPool', 'default/p');
    expect(store.revision('BalancerPool')).toBe(3);
    expect(store.revision('EndpointSlice')).toBe(0);
  });

  it('replace deletes what a full view no longer has', () => {
    const store = new ObjectStore();
    const files = store.forSource('files');
    files.replace('EndpointSlice', [slice('a', 'web', '10.0.0.1'), slice('b', 'web', '10.0.0.2')]);
    files.replace('EndpointSlice', [slice('b', 'web', '10.0.0.2')]);
    expect(store.keys('EndpointSlice')).toEqual(['default/b']);
    expect(store.slicesOf('default/web')).toHaveLength(1);
  });
});
