import { describe, expect, it } from '@jest/globals';
import type { ObjectKey } from '../../src/api/keys.js';
import type { BalancerPool, ObjectKind } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import type { Actuator, ActuatorReport } from '../../src/controller/actuator.js';
import { PoolReconciler } from '../../src/controller/pool-reconciler.js';
import { ObjectStore } from '../../src/controller/store.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredPool } from '../../src/plan/desired-pool.js';
import { assignListeners, listenerClaim, type ListenerAddress } from '../../src/plan/listener-claims.js';
import { ANY_NAMESPACE } from '../../src/plan/listener-policy.js';

const pool = (name: string, port: number) => {
  const r = parseObject({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name, namespace: 'default' }, spec: { endpoints: [{ address: '10.0.0.1', port: 80 }], listener: { port } } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.object as BalancerPool;
};

/** Counts the pools every read hands out: the work a reconcile does to find the claims. */
class CountingStore extends ObjectStore {
  poolsRead = 0;
  override list<K extends ObjectKind>(kind: K) {
    const out = super.list(kind);
    if (kind === 'BalancerPool') this.poolsRead += out.length;
    return out;
  }
  override poolsListeningOn(port: number) {
    const out = super.poolsListeningOn(port);
    this.poolsRead += out.length;
    return out;
  }
}

/** The proxy's listener bookkeeping: a pool holds the listener of the plan applied last. */
class Listeners implements Actuator {
  readonly name = 'proxy';
  readonly open = new Map<ObjectKey, ListenerAddress>();
  reads = 0;
  /** While set, an apply waits for `before` to change the listeners, then for `after` to return (workers answering one by one). */
  gates?: { before: Promise<void>; after: Promise<void> };
  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    await this.gates?.before;
    if (plan?.listener) this.open.set(key, plan.listener);
    else this.open.delete(key);
    await this.gates?.after;
    return {};
  }
  listeners() {
    this.reads++;
    return new Map(this.open);
  }
  async close() {}
}

function setup() {
  const store = new CountingStore();
  const proxy = new Listeners();
  const reconciler = new PoolReconciler(store, [{ actuator: proxy }], [], silentLogger, { openListeners: () => proxy.listeners() });
  const reconcileAll = async () => {
    for (const key of store.keys('BalancerPool').sort()) await reconciler.reconcile(key, AbortSignal.timeout(10_000));
  };
  return { store, files: store.forSource('test'), proxy, reconciler, reconcileAll };
}

describe('PoolReconciler, listeners', () => {
  it('reconciles 500 pools with listeners reading each claim and the open listeners a bounded number of times, deciding as one assignment of all claims', async () => {
    const n = 500;
    const { store, files, proxy, reconciler, reconcileAll } = setup();
    // Two pools on each port: 250 granted, 250 waiting.
    for (let i = 0; i < n; i++) files.upsert(pool(`p${String(i).padStart(3, '0')}`, 20000 + (i % (n / 2))));

    await reconcileAll(); // the first sync: every pool applied
    const first = { poolsRead: store.poolsRead, listenerReads: proxy.reads };
    await reconcileAll(); // a periodic resync: nothing changed
    const resync = { poolsRead: store.poolsRead - first.poolsRead, listenerReads: proxy.reads - first.listenerReads };

    // Deciding every claim at each reconcile would read n pools and the open listeners n times: n² in all.
    expect(first.poolsRead).toBeLessThanOrEqual(3 * n);
    expect(first.listenerReads).toBeLessThanOrEqual(3);
    expect(resync.poolsRead).toBeLessThanOrEqual(n);
    expect(resync.listenerReads).toBeLessThanOrEqual(1);

    const all = assignListeners(store.list('BalancerPool').map((p) => listenerClaim(p)!), proxy.open, ANY_NAMESPACE);
    expect(all.granted.size).toBe(n / 2);
    expect(new Set(proxy.open.keys())).toEqual(all.granted);
    for (const key of store.keys('BalancerPool')) {
      const { plan } = reconciler.plan(key);
      expect(plan?.problems.find((p) => p.reason === 'ListenerConflict')).toEqual(all.refused.get(key));
    }
    expect(reconciler.waitingForListener().sort()).toEqual([...all.refused.keys()].sort());
    expect(all.refused.get('default/p250')?.message).toBe(
      'listener 0.0.0.0:20000 is taken by BalancerPool default/p000, which is serving on it; this pool gets it when that one lets go',
    );
  });

  it('gives a waiting pool the listener once the holder has moved away', async () => {
    const { files, proxy, reconciler, reconcileAll } = setup();
    files.upsert(pool('a', 8080));
    files.upsert(pool('b', 8080));
    await reconcileAll();
    expect(reconciler.waitingForListener()).toEqual(['default/b']);

    files.upsert(pool('a', 8081));
    await reconciler.reconcile('default/a', AbortSignal.timeout(10_000));
    await reconciler.reconcile('default/b', AbortSignal.timeout(10_000));
    expect(Object.fromEntries(proxy.open)).toEqual({ 'default/a': { address: '0.0.0.0', port: 8081 }, 'default/b': { address: '0.0.0.0', port: 8080 } });
    expect(reconciler.waitingForListener()).toEqual([]);
  });

  it('reads the open listeners afresh for a port whose apply is under way: a pool waiting for it is planned while the holder lets go', async () => {
    const { files, proxy, reconciler, reconcileAll } = setup();
    files.upsert(pool('a', 8080));
    files.upsert(pool('b', 8080));
    await reconcileAll();
    const release = { before: () => {}, after: () => {} };
    proxy.gates = { before: new Promise((r) => (release.before = r)), after: new Promise((r) => (release.after = r)) };

    files.delete('BalancerPool', 'default/a');
    const removing = reconciler.reconcile('default/a', AbortSignal.timeout(10_000));
    expect(reconciler.plan('default/b').plan?.problems.map((p) => p.message)).toEqual([
      'listener 0.0.0.0:8080 is taken by BalancerPool default/a, which is still listening on 0.0.0.0:8080; this pool gets it when that one lets go',
    ]);
    // The proxy closes a's listener and says so (b, waiting, is reconciled again) while its apply is not done.
    release.before();
    await new Promise((r) => setImmediate(r));
    expect(proxy.open.has('default/a')).toBe(false);
    expect(reconciler.plan('default/b').plan?.listener).toEqual({ address: '0.0.0.0', port: 8080 });
    release.after();
    await removing;
  });
});
