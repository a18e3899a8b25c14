import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { POOL_WATCHES } from '../../src/controller/pool-watches.js';
import { ObjectStore, type StoreChange } from '../../src/controller/store.js';

const obj = (raw: Record<string, unknown>) => {
  const r = parseObject(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  r.object.metadata.namespace ??= 'default';
  return r.object;
};
const slice = (name: string, svc: string): KubeObject =>
  obj({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, labels: { 'kubernetes.io/service-name': svc } }, addressType: 'IPv4', ports: [{ name: 'http', port: 80 }], endpoints: [{ addresses: ['10.0.0.1'] }] });
const service = (name: string): KubeObject => obj({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ name: 'http', port: 80 }] } });
const pool = (name: string, spec: Record<string, unknown>): KubeObject => obj({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name }, spec });

/** The pool keys the watches map each store change to, in order. */
function mapped(store: ObjectStore, act: () => void): string[][] {
  const out: string[][] = [];
  const onChange = (c: StoreChange) => out.push([...POOL_WATCHES[c.kind](c, store)].sort());
  store.on('change', onChange);
  act();
  store.off('change', onChange);
  return out;
}

describe('POOL_WATCHES', () => {
  it('maps a slice to the pools of its Service, before and after a relabel, and a Service to its pools', () => {
    const store = new ObjectStore();
    const files = store.forSource('files');
    files.upsert(pool('a', { service: { name: 'web', port: 'http' } }));
    files.upsert(pool('b', { service: { name: 'api', port: 'http' } }));
    files.upsert(pool('c', { endpoints: [{ address: '10.0.0.9', port: 80 }] }));
    expect(mapped(store, () => files.upsert(slice('s', 'web')))).toEqual([['default/a']]);
    expect(mapped(store, () => files.upsert(slice('s', 'api')))).toEqual([['default/a', 'default/b']]);
    expect(mapped(store, () => files.delete('EndpointSlice', 'default/s'))).toEqual([['default/b']]);
    expect(mapped(store, () => files.upsert(service('web')))).toEqual([['default/a']]);
    expect(mapped(store, () => files.upsert(slice('orphan', 'nobody')))).toEqual([[]]);
  });

  it('maps a pool to itself and to the pools that ask for its old or new listener port, and no others', () => {
    const store = new ObjectStore();
    const files = store.forSource('files');
    const listening = (port: number) => ({ listener: { port }, endpoints: [{ address: '10.0.0.9', port: 80 }] });
    files.upsert(pool('on8080', listening(8080)));
    files.upsert(pool('on8081', listening(8081)));
    files.upsert(pool('on9000', listening(9000)));
    expect(mapped(store, () => files.upsert(pool('mover', listening(8080))))).toEqual([['default/mover', 'default/on8080']]);
    expect(mapped(store, () => files.upsert(pool('mover', listening(8081))))).toEqual([['default/mover', 'default/on8080', 'default/on8081']]);
    expect(mapped(store, () => files.delete('BalancerPool', 'default/mover'))).toEqual([['default/mover', 'default/on8081']]);
    expect(store.poolsListeningOn(8081)).toEqual(['default/on8081']);
  });
});
