// The ObjectStore: every source fills it, the reconciler reads it. Objects are keyed by kind and
// `namespace/name`. Each source writes through its own SourceStore and owns what it wrote, as
// Traefik keeps each provider's configuration: a source's full view replaces only its own objects,
// and an object another source already holds is not taken over (the first holder keeps it; once it
// lets go, the other's copy comes in with that source's next full view or resync). Indexes answer the questions reconciling asks (which slices belong to a Service,
// which pools use a Service, which pools ask for a listener port) without scanning everything.
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
const listenerPortOfPool = (p: BalancerPool): string | undefined => (p.spec.listener ? String(p.spec.listener.port) : undefined);

class Index<V> {
  private readonly map = new Map<string, Map<ObjectKey, V>>();
  set(indexKey: string | undefined, key: ObjectKey, value: V) {
    if (!indexKey) return;
    let m = this.map.get(indexKey);
    if (!m) this.map.set(indexKey, (m = new Map()));
    m.set(key, value);
  }
  delete(indexKey: string | undefined, key: ObjectKey) {
    if (!indexKey) return;
    const m = this.map.get(indexKey);
    if (m?.delete(key) && m.size === 0) this.map.delete(indexKey);
  }
  values(indexKey: string): V[] {
    return [...(this.map.get(indexKey)?.values() ?? [])];
  }
  keys(indexKey: string): ObjectKey[] {
    return [...(this.map.get(indexKey)?.keys() ?? [])];
  }
}

/** One source's hold on the store: reads everything, writes only the objects it owns. */
export interface SourceStore {
  get<K extends ObjectKind>(kind: K, key: ObjectKey): ByKind[K] | undefined;
  /** The keys of the objects of `kind` this source holds. */
  keys(kind: ObjectKind): ObjectKey[];
  upsert(object: KubeObject): void;
  delete(kind: ObjectKind, key: ObjectKey): void;
  /** Makes this source's objects of `kind` exactly `objects` (a relist, or a full re-read of files). */
  replace(kind: ObjectKind, objects: readonly KubeObject[]): void;
}

/** An object a source declared that another source already holds. */
export interface OwnershipConflict {
  kind: ObjectKind;
  key: ObjectKey;
  /** The source that holds it, and keeps it. */
  owner: string;
  /** The source whose copy was not taken. */
  claimant: string;
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
  /** The source that holds each object. */
  private readonly owners: { [K in ObjectKind]: Map<ObjectKey, string> } = {
    BalancerPool: new Map(),
    Service: new Map(),
    EndpointSlice: new Map(),
  };
  /** The claimants already reported for each held object, so a source that keeps declaring one is told once. */
  private readonly reported = new Map<string, Set<string>>();

  private readonly slicesByService = new Index<EndpointSlice>();
  private readonly poolsByService = new Index<BalancerPool>();
  private readonly poolsByListenerPort = new Index<BalancerPool>();
  private readonly revisions: Record<ObjectKind, number> = { BalancerPool: 0, Service: 0, EndpointSlice: 0 };

  /** `onConflict`: a source declared an object another one holds (reported once per object and pair). */
  constructor(private readonly onConflict: (c: OwnershipConflict) => void = () => {}) {
    super();
  }

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

  /** The keys of the pools whose `spec.listener` asks for `port`, on any address. */
  poolsListeningOn(port: number): ObjectKey[] {
    return this.poolsByListenerPort.keys(String(port));
  }

  /** How many changes of `kind` the store has emitted: an equal revision means the same objects (for views derived from them). */
  revision(kind: ObjectKind): number {
    return this.revisions[kind];
  }

  /** The store as the source `source` writes it. */
  forSource(source: string): SourceStore {
    const owned = (kind: ObjectKind) => [...this.owners[kind]].filter(([, owner]) => owner === source).map(([key]) => key);
    const upsert = (object: KubeObject) => this.upsert(source, object);
    const remove = (kind: ObjectKind, key: ObjectKey) => {
      if (this.owners[kind].get(key) === source) this.remove(kind, key);
    };
    return {
      get: (kind, key) => this.get(kind, key),
      keys: owned,
      upsert,
      delete: remove,
      replace: (kind, objects) => {
        const keep = new Set<ObjectKey>();
        for (const o of objects) {
          keep.add(keyOf(o));
          upsert(o);
        }
        for (const key of owned(kind)) if (!keep.has(key)) remove(kind, key);
      },
    };
  }

  private upsert(source: string, object: KubeObject): void {
    const key = keyOf(object);
    const owner = this.owners[object.kind].get(key);
    if (owner !== undefined && owner !== source) {
      const held = `${object.kind}\0${key}`;
      const told = this.reported.get(held) ?? new Set<string>();
      if (!told.has(source)) this.onConflict({ kind: object.kind, key, owner, claimant: source });
      this.reported.set(held, told.add(source));
      return;
    }
    this.owners[object.kind].set(key, source);
    const map = this.objects[object.kind] as Map<ObjectKey, KubeObject>;
    const old = map.get(key);
    if (old && sameObject(old, object)) return;
    this.unindex(old, key);
    map.set(key, object);
    this.index(object, key);
    this.revisions[object.kind]++;
    this.emit('change', { kind: object.kind, key, old, object });
  }

  private remove(kind: ObjectKind, key: ObjectKey): void {
    const map = this.objects[kind] as Map<ObjectKey, KubeObject>;
    const old = map.get(key);
    this.owners[kind].delete(key);
    this.reported.delete(`${kind}\0${key}`);
    if (!old) return;
    map.delete(key);
    this.unindex(old, key);
    this.revisions[kind]++;
    this.emit('change', { kind, key, old });
  }

  private index(o: KubeObject, key: ObjectKey) {
    if (o.kind === 'EndpointSlice') this.slicesByService.set(serviceKeyOfSlice(o), key, o);
    else if (o.kind === 'BalancerPool') {
      this.poolsByService.set(serviceKeyOfPool(o), key, o);
      this.poolsByListenerPort.set(listenerPortOfPool(o), key, o);
    }
  }

  private unindex(o: KubeObject | undefined, key: ObjectKey) {
    if (o?.kind === 'EndpointSlice') this.slicesByService.delete(serviceKeyOfSlice(o), key);
    else if (o?.kind === 'BalancerPool') {
      this.poolsByService.delete(serviceKeyOfPool(o), key);
      this.poolsByListenerPort.delete(listenerPortOfPool(o), key);
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
