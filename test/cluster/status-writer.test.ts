// How an actuator's failure reaches a pool's status: through the reason the actuator declares, whatever
// its name, with an in-memory status client (the real API server's side is in status.test.ts and
// failures.test.ts).
import { describe, expect, it } from '@jest/globals';
import type { ProblemReason } from '../../src/api/conditions.js';
import type { BalancerPool, BalancerPoolStatus } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { EventRecorder } from '../../src/cluster/event-recorder.js';
import { StatusWriter } from '../../src/cluster/status-writer.js';
import type { Actuator } from '../../src/controller/actuator.js';
import { PoolReconciler } from '../../src/controller/pool-reconciler.js';
import { ObjectStore } from '../../src/controller/store.js';
import { silentLogger } from '../../src/log.js';

/** Throws on every apply; says under which reason, if any. */
const failing = (name: string, failureReason?: ProblemReason): Actuator => ({
  name,
  failureReason,
  apply: async () => {
    throw new Error(`${name} refused`);
  },
  close: async () => {},
});

describe('StatusWriter', () => {
  it("shows a failed apply under its actuator's declared reason, and leaves out a failure that declares none", async () => {
    const r = parseObject({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' }, spec: { endpoints: [{ address: '10.0.0.1', port: 80 }] } });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const store = new ObjectStore();
    store.forSource('test').upsert(r.object);
    const written: BalancerPoolStatus[] = [];
    const status = new StatusWriter({
      client: {
        replacePoolStatus: async (namespace, name, resourceVersion, s) => {
          written.push(s as BalancerPoolStatus);
          return { ...(r.object as BalancerPool), metadata: { name, namespace, resourceVersion: String(Number(resourceVersion) + 1) }, status: s } as never;
        },
      },
      events: new EventRecorder({ client: { createEvent: async () => 'web.1', patchEvent: async () => {} }, logger: silentLogger }),
      logger: silentLogger,
      instance: 'pod-a',
      explain: (err) => `explained: ${(err as Error).message}`,
    });
    const reconciler = new PoolReconciler(store, [{ actuator: failing('quiet') }, { actuator: failing('upstream-writer', 'ConfigMapWriteFailed') }], [status], silentLogger);

    await expect(reconciler.reconcile('shop/web', AbortSignal.timeout(10_000))).rejects.toThrow('reconcile of shop/web failed');
    const degraded = written.at(-1)?.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'ConfigMapWriteFailed', message: 'explained: upstream-writer refused' });
  });
});
