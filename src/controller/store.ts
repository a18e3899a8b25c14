// The ObjectStore: every source fills it, the reconciler reads it. Objects are keyed by kind and
// `namespace/name`; indexes answer the questions reconciling asks (which slices belong to a Service,
// which pools use a Service, which pools claim a listener port) without scanning everything.
import { EventEmitter } from 'node:events';
import { keyOf, objectKey, type ObjectKey } from '../api/keys.js';
import type { BalancerPool, EndpointSlice, KubeObject, ObjectKind, Service } from '../api/schema.js';
import { SERVICE_NAME_LABEL } from '../api/schema.js';

type ByKind = { BalancerPool: BalancerPool; Service: Service; EndpointSlice: EndpointSlice };

export interface StoreChange {
  kind: ObjectKind;
  key: ObjectKey;
  old?: KubeObject;
  object?: KubeObject;
}

/** The Service an EndpointSlice belongs to (`kubernetes.io/service-name`), as `namespace/name`. */
export const serviceKeyOfSlice = (s: EndpointSlice): ObjectKey | undefined => {
  const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
  return svc ? objectKey(s.metadata.namespace, svc) : undefined;
};
const serviceKeyOfPool = (p: BalancerPool): ObjectKey | undefined =>
  p.spec.service ? objectKey(p.metadata.namespace, p.spec.service.name) : undefined;

class Index<K, V> {
  private readonly map = new Map<K, Map<ObjectKey, V>>();
  set(indexKey: K | undefined, key: ObjectKey, value: V) {
    if (indexKey === undefined) return;
    let m = this.map.get(indexKey);
    if (!m) this.map.set(indexKey, (m = new Map()));
    m.set(key, value);
  }
  delete(indexKey: K | undefined, key: ObjectKey) {
    if (indexKey === undefined) return;
    const m = this.map.get(indexKey);
    if (m?.delete(key) && m.size === 0) this.map.delete(indexKey);
  }
  values(indexKey: K): V[] {
    return [...(this.map.get(indexKey)?.values() ?? [])];
  }
  keys(indexKey: K): ObjectKey[] {
    return [...(this.map.get(indexKey)?.keys() ?? [])];
  }
}

/**
 * Emits `change` (a StoreChange) for every object that was added, changed or removed. An upsert of
 * an identical object emits nothing, so a relist or a re-read of unchanged files costs no reconcile.
 */
export class ObjectStore extends EventEmitter<{ change: [StoreChange] }> {
  private readonly objects: { [K in ObjectKind]: Map<ObjectKey, ByKind[K]> } = {
    BalancerPool: new Map(),
    Service: new Map(),
    EndpointSlice: new Map(),
  };
  private readonly slicesByService = new Index<ObjectKey, EndpointSlice>();
  private readonly poolsByService = new Index<ObjectKey, BalancerPool>();
  private readonly poolsByListenerPort = new Index<number, BalancerPool>();
  private readonly revisions: Record<ObjectKind, number> = { BalancerPool: 0, Service: 0, EndpointSlice: 0 };

  get<K extends ObjectKind>(kind: K, key: ObjectKey): ByKind[K] | undefined {
    return this.objects[kind].get(key) as ByKind[K] | undefined;
  }

  list<K extends ObjectKind>(kind: K): ByKind[K][] {
    return [...this.objects[kind].values()] as ByKind[K][];
  }

  keys(kind: ObjectKind): ObjectKey[] {
    return [...this.objects[kind].keys()];
  }

  /** The EndpointSlices labelled for the Service `namespace/name`. */
  slicesOf(serviceKey: ObjectKey): EndpointSlice[] {
    return this.slicesByService.values(serviceKey);
  }

  /** The keys of the pools whose `spec.service` is the Service `namespace/name`. */
  poolsUsing(serviceKey: ObjectKey): ObjectKey[] {
    return this.poolsByService.keys(serviceKey);
  }

  /** The pools whose `spec.listener` is on `port`, whatever the address: the only ones that can contest it. */
  poolsListeningOn(port: number): BalancerPool[] {
    return this.poolsByListenerPort.values(port);
  }

  /** How many changes of `kind` the store has emitted: an equal revision means the same objects (for views derived from them). */
  revision(kind: ObjectKind): number {
    return this.revisions[kind];
  }

  upsert(object: KubeObject): void {
    const key = keyOf(object);
    const map = this.objects[object.kind] as Map<ObjectKey, KubeObject>;
    const old = map.get(key);
    if (old && sameObject(old, object)) return;
    this.unindex(old, key);
    map.set(key, object);
    this.index(object, key);
    this.revisions[object.kind]++;
    this.emit('change', { kind: object.kind, key, old, object });
  }

  delete(kind: ObjectKind, key: ObjectKey): void {
    const map = this.objects[kind] as Map<ObjectKey, KubeObject>;
    const old = map.get(key);
    if (!old) return;
    map.delete(key);
    this.unindex(old, key);
    this.revisions[kind]++;
    this.emit('change', { kind, key, old });
  }

  /**
   * Makes the store hold exactly `objects` for `kind` (a relist, or a full re-read of files): upserts
   * them and deletes what is not among them.
   */
  replace(kind: ObjectKind, objects: readonly KubeObject[]): void {
    const keep = new Set<ObjectKey>();
    for (const o of objects) {
      keep.add(keyOf(o));
      this.upsert(o);
    }
    for (const key of this.keys(kind)) if (!keep.has(key)) this.delete(kind, key);
  }

  private index(o: KubeObject, key: ObjectKey) {
    if (o.kind === 'EndpointSlice') this.slicesByService.set(serviceKeyOfSlice(o), key, o);
    else if (o.kind === 'BalancerPool') {
      this.poolsByService.set(serviceKeyOfPool(o), key, o);
      this.poolsByListenerPort.set(o.spec.listener?.port, key, o);
    }
  }

  private unindex(o: KubeObject | undefined, key: ObjectKey) {
    if (o?.kind === 'EndpointSlice') this.slicesByService.delete(serviceKeyOfSlice(o), key);
    else if (o?.kind === 'BalancerPool') {
      this.poolsByService.delete(serviceKeyOfPool(o), key);
      this.poolsByListenerPort.delete(o.spec.listener?.port, key);
    }
  }
}

// resourceVersion changes on every write in a cluster; in files there is none, so compare content.
function sameObject(a: KubeObject, b: KubeObject): boolean {
  if (a === b) return true;
  const ra = a.metadata.resourceVersion;
  if (ra !== undefined && ra === b.metadata.resourceVersion) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}
