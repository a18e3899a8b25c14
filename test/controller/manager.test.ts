import { describe, expect, it } from '@jest/globals';
import type { ObjectKey } from '../../src/api/keys.js';
import { parseObject } from '../../src/api/validate.js';
import type { Actuator, ActuatorReport } from '../../src/controller/actuator.js';
import { Manager } from '../../src/controller/manager.js';
import { PoolReconciler } from '../../src/controller/pool-reconciler.js';
import { POOL_WATCHES } from '../../src/controller/pool-watches.js';
import type { Reconciler } from '../../src/controller/reconciler.js';
import type { Source } from '../../src/controller/source.js';
import { ObjectStore, type SourceStore } from '../../src/controller/store.js';
import { WorkQueue } from '../../src/controller/work-queue.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredPool } from '../../src/plan/desired-pool.js';
import { manualTimers } from '../support/manual-timers.js';
import { waitFor } from '../support/wait-for.js';

const obj = (raw: unknown) => {
  const r = parseObject(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  r.object.metadata.namespace ??= 'default';
  return r.object;
};
const pool = (name: string, svc = 'web') => obj({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name }, spec: { service: { name: svc, port: 'http' } } });
const slice = (name: string, addresses: string[]) =>
  obj({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 80 }], endpoints: addresses.map((a) => ({ addresses: [a] })) });

/** Records every apply; can be told to fail. */
class RecordingActuator implements Actuator {
  readonly name = 'recording';
  applies: { key: ObjectKey; backends?: string[] }[] = [];
  failures = 0;
  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('injected failure');
    }
    this.applies.push({ key, backends: plan?.backends.map((b) => b.address) });
    return {};
  }
  async close() {}
}

/** A source whose first full view arrives when the test says so. */
class GatedSource implements Source {
  readonly name = 'gated';
  private release!: () => void;
  private readonly gate = new Promise<void>((r) => (this.release = r));
  /** What the source writes through, once started. */
  store!: SourceStore;
  constructor(private readonly fill: (store: SourceStore) => void) {}
  async start(store: SourceStore) {
    this.store = store;
    // Half the view arrives early, as an informer's first events can; the rest at sync.
    store.upsert(pool('a'));
    await this.gate;
    this.fill(store);
  }
  sync() {
    this.release();
  }
  async stop() {}
}

/** A source whose view is whatever the test put in the store first. */
const staticSource: Source = { name: 'static', start: async () => {}, stop: async () => {} };

function setup(fill: (store: SourceStore) => void) {
  const store = new ObjectStore();
  const actuator = new RecordingActuator();
  const source = new GatedSource(fill);
  const manager = new Manager({ store, sources: [source], reconciler: new PoolReconciler(store, [{ actuator }], [], silentLogger), watches: POOL_WATCHES, logger: silentLogger });
  return { store, actuator, source, manager };
}

describe('Manager', () => {
  it('reconciles nothing before the sources have synced, and is ready only after the first reconcile of every pool', async () => {
    const { actuator, source, manager } = setup((s) => s.upsert(slice('s1', ['10.0.0.1'])));
    const started = manager.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(actuator.applies).toEqual([]); // pool a is in the store, its slices are not: applying now would empty it
    expect(manager.progress()).toEqual({ synced: false, unreconciled: [] });
    source.sync();
    await started;
    expect(manager.progress()).toEqual({ synced: true, unreconciled: [] });
    expect(actuator.applies).toEqual([{ key: 'default/a', backends: ['10.0.0.1'] }]);
    await manager.stop();
  });

  it('counts only a successful first reconcile toward readiness: two failed ones keep the pool unreconciled', async () => {
    const clock = manualTimers();
    const store = new ObjectStore();
    store.forSource(staticSource.name).upsert(pool('a'));
    const actuator = new RecordingActuator();
    const queue = new WorkQueue(clock.timers, { baseMs: 100, maxMs: 1000, jitter: 0 });
    const reconciler = new PoolReconciler(store, [{ actuator }], [], silentLogger);
    const manager = new Manager({ store, sources: [staticSource], reconciler, watches: POOL_WATCHES, logger: silentLogger, queue });
    actuator.failures = 2;
    await manager.start();
    expect(manager.progress()).toEqual({ synced: true, unreconciled: ['default/a'] });
    clock.advance(100); // the first retry fails too
    await waitFor(() => actuator.failures === 0 && manager.queue.pending === 0, 2000);
    expect(manager.progress()).toEqual({ synced: true, unreconciled: ['default/a'] });
    clock.advance(200); // the second retry succeeds
    await waitFor(() => manager.progress().unreconciled.length === 0, 2000);
    expect(actuator.applies).toEqual([{ key: 'default/a', backends: [] }]);
    await manager.stop();
  });

  it('aborts a reconcile at its deadline and retries it with backoff', async () => {
    const store = new ObjectStore();
    store.forSource(staticSource.name).upsert(pool('a'));
    const calls: { key: string; aborted: boolean }[] = [];
    const reconciler: Reconciler = {
      async reconcile(key, signal) {
        const call = { key, aborted: false };
        calls.push(call);
        // Hangs on the first call, until the deadline aborts it.
        if (calls.length === 1) {
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          call.aborted = true;
          signal.throwIfAborted();
        }
        return { requeue: false };
      },
    };
    const manager = new Manager({ store, sources: [staticSource], reconciler, watches: POOL_WATCHES, logger: silentLogger, reconcileTimeoutMs: 50 });
    await manager.start();
    await waitFor(() => manager.progress().unreconciled.length === 0, 5000);
    expect(calls).toEqual([
      { key: 'default/a', aborted: true },
      { key: 'default/a', aborted: false },
    ]);
    expect(manager.queue.failuresOf('default/a')).toBe(0);
    await manager.stop();
  });

  it('maps slice changes to the pools of their Service and collapses a burst into few reconciles', async () => {
    const { actuator, source, manager } = setup((s) => {
      s.upsert(pool('b'));
      s.upsert(pool('other', 'api'));
    });
    source.sync();
    await manager.start();
    actuator.applies = [];
    for (let i = 1; i <= 50; i++) source.store.upsert(slice('s1', [`10.0.0.${i}`]));
    await waitFor(() => actuator.applies.some((a) => a.key === 'default/b' && a.backends?.[0] === '10.0.0.50'), 2000);
    await manager.idle();
    expect(actuator.applies.every((a) => a.key === 'default/a' || a.key === 'default/b')).toBe(true);
    expect(actuator.applies.length).toBeLessThan(20);
    await manager.stop();
  });

  it('retries a failed reconcile with backoff, and removes a deleted pool', async () => {
    const { actuator, source, manager } = setup(() => {});
    source.sync();
    await manager.start();
    actuator.failures = 2;
    source.store.upsert(slice('s1', ['10.0.0.7']));
    await waitFor(() => actuator.applies.some((a) => a.backends?.[0] === '10.0.0.7'), 3000);
    source.store.delete('BalancerPool', 'default/a');
    await waitFor(() => actuator.applies.some((a) => a.key === 'default/a' && a.backends === undefined), 2000);
    await manager.stop();
  });
});
