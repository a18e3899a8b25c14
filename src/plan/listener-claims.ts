// Who gets a contested listener address. Pure: from every pool's claim (its spec.listener), the
// listeners open right now and the operator's policy, the same inputs always give the same answer.
// A serving pool is never displaced: a newcomer cannot take a port, and all its traffic, by sorting
// first. Claims on different ports never meet, so the claims of one port decide alike alone or among
// all: the reconciler assigns one port at a time, and only again when its claims or listeners changed.
import { DEFAULT_NAMESPACE, keyOf, type ObjectKey } from '../api/keys.js';
import type { BalancerPool } from '../api/schema.js';
import { endpointId, type PlanProblem } from './desired-pool.js';
import { listenerAllowed, type ListenerPolicy } from './listener-policy.js';

export interface ListenerAddress {
  address: string;
  port: number;
}

export interface ListenerClaim extends ListenerAddress {
  key: ObjectKey;
  namespace: string;
  /** metadata.creationTimestamp (RFC 3339, so it sorts as text); absent in dev mode. */
  createdAt?: string;
}

export interface ListenerAssignment {
  /** Pools that may open (or keep) their listener. */
  granted: Set<ObjectKey>;
  /** Pools that may not, and why (`ListenerConflict`, `ListenerNotAllowed`). */
  refused: Map<ObjectKey, PlanProblem>;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Same port, and same address or a wildcard: the two cannot both be bound. */
export function listenersOverlap(a: ListenerAddress, b: ListenerAddress): boolean {
  return a.port === b.port && (a.address === b.address || WILDCARDS.has(a.address) || WILDCARDS.has(b.address));
}

const id = (l: ListenerAddress) => endpointId(l.address, l.port);

/** The pool's claim on its `spec.listener`; undefined for an NGINX-only pool. */
export function listenerClaim(pool: BalancerPool): ListenerClaim | undefined {
  const { listener } = pool.spec;
  return listener && { key: keyOf(pool), namespace: pool.metadata.namespace ?? DEFAULT_NAMESPACE, createdAt: pool.metadata.creationTimestamp, ...listener };
}

/**
 * The first of `granted` (one port's granted claims by address, in the order granted) that `c`
 * overlaps. Granted claims never overlap one another: a wildcard overlaps them all, so it meets the
 * first; an address meets its own, or the port's one wildcard.
 */
function firstOverlapping(granted: ReadonlyMap<string, ListenerClaim>, c: ListenerClaim): ListenerClaim | undefined {
  if (WILDCARDS.has(c.address)) return granted.values().next().value;
  return granted.get(c.address) ?? [...WILDCARDS].map((w) => granted.get(w)).find((w) => w !== undefined);
}

/**
 * Decides every claim. `open` is the listener each pool has open now (the proxy's view).
 * 1. A claim the policy does not allow gets `ListenerNotAllowed` and takes no part.
 * 2. A pool whose open listener overlaps its claim keeps it: these claims go first.
 * 3. The others wait in order: oldest creationTimestamp first, then namespace/name (so dev mode,
 *    without timestamps, and a freshly started replica decide alike).
 * A claim is granted unless it overlaps one granted before it, or a listener another pool still has
 * open (that pool is moving or going away; the claim gets it once it has let go).
 */
export function assignListeners(claims: readonly ListenerClaim[], open: ReadonlyMap<ObjectKey, ListenerAddress>, policy: ListenerPolicy): ListenerAssignment {
  const granted = new Set<ObjectKey>();
  const refused = new Map<ObjectKey, PlanProblem>();
  const holds = (c: ListenerClaim) => {
    const mine = open.get(c.key);
    return mine !== undefined && listenersOverlap(mine, c);
  };
  const contenders: ListenerClaim[] = [];
  for (const c of claims) {
    if (listenerAllowed(policy, c.namespace, c.port)) contenders.push(c);
    else {
      refused.set(c.key, {
        reason: 'ListenerNotAllowed',
        message: `namespace ${c.namespace} may not listen on port ${c.port} (--listener-namespaces=${policy.text})`,
      });
    }
  }
  const age = (c: ListenerClaim) => c.createdAt ?? '\uffff'; // no timestamp: youngest
  contenders.sort((a, b) => Number(holds(b)) - Number(holds(a)) || (age(a) < age(b) ? -1 : age(a) > age(b) ? 1 : 0) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // Granted claims by port, then address, in the order granted; the open listeners by port, in map
  // order. Only the same port can overlap, so each claim looks at its own port alone.
  const winners = new Map<number, Map<string, ListenerClaim>>();
  const openByPort = new Map<number, [ObjectKey, ListenerAddress][]>();
  for (const [key, l] of open) {
    const list = openByPort.get(l.port);
    if (list) list.push([key, l]);
    else openByPort.set(l.port, [[key, l]]);
  }
  for (const c of contenders) {
    const onPort = winners.get(c.port) ?? new Map<string, ListenerClaim>();
    const first = firstOverlapping(onPort, c);
    const holder = first ? undefined : openByPort.get(c.port)?.find(([key, l]) => key !== c.key && listenersOverlap(l, c));
    if (!first && !holder) {
      winners.set(c.port, onPort.set(c.address, c));
      granted.add(c.key);
      continue;
    }
    const [by, why] = first
      ? [first.key, holds(first) ? 'which is serving on it' : 'which claimed it first (oldest creationTimestamp, then namespace/name)']
      : [holder![0], `which is still listening on ${id(holder![1])}`];
    refused.set(c.key, { reason: 'ListenerConflict', message: `listener ${id(c)} is taken by BalancerPool ${by}, ${why}; this pool gets it when that one lets go` });
  }
  return { granted, refused };
}
