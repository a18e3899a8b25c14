// Which pools a store change concerns, as controller-runtime's watches map an event to requests with
// a function: one per kind Ballast reads (the type makes a new kind name its mapping), so the
// Manager knows nothing of what a pool depends on.
import type { ObjectKey } from '../api/keys.js';
import type { BalancerPool, ObjectKind } from '../api/schema.js';
import { serviceKeyOfSlice, type ObjectStore, type StoreChange } from './store.js';

export type Watches = { readonly [K in ObjectKind]: (change: StoreChange, store: ObjectStore) => Iterable<ObjectKey> };

const poolsUsingService = (serviceKeys: Iterable<ObjectKey | undefined>, store: ObjectStore): Set<ObjectKey> => {
  const pools = new Set<ObjectKey>();
  for (const svc of serviceKeys) if (svc) for (const pool of store.poolsUsing(svc)) pools.add(pool);
  return pools;
};

export const POOL_WATCHES: Watches = {
  // The pool itself, and the pools that share a listener port with it (old or new): they may win or lose the port.
  BalancerPool: (change, store) => {
    const pools = new Set<ObjectKey>([change.key]);
    for (const p of [change.old, change.object] as (BalancerPool | undefined)[]) {
      const port = p?.spec.listener?.port;
      if (port !== undefined) for (const other of store.poolsListeningOn(port)) pools.add(other);
    }
    return pools;
  },
  Service: (change, store) => poolsUsingService([change.key], store),
  EndpointSlice: (change, store) =>
    poolsUsingService(
      [change.old, change.object].map((s) => (s?.kind === 'EndpointSlice' ? serviceKeyOfSlice(s) : undefined)),
      store,
    ),
};
