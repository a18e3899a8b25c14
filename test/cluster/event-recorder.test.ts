// The EventRecorder's writes: with an injected clock and an in-memory Event client (counting, the
// spam filter), and on the real control plane, where a pool whose backends keep changing gets its
// similar Events combined (more on the real API server's side in status.test.ts and sidecar.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { EventRecorder, type EventClient } from '../../src/cluster/event-recorder.js';
import { silentLogger } from '../../src/log.js';
import { KubeApiError, type CoreEvent } from '../../src/sources/kube/kube-client.js';
import { controllerIdentity, createNamespace, deleteNamespace, KubeAdmin, kubectl } from '../support/cluster.js';
import { startTestController, stopControllers } from '../support/cluster-controller.js';
import { waitFor } from '../support/wait-for.js';

function memoryEvents() {
  const events = new Map<string, { e: CoreEvent; count: number }>();
  let n = 0;
  const client: EventClient = {
    createEvent: async (e) => {
      const name = `web.${++n}`;
      events.set(name, { e, count: 1 });
      return name;
    },
    patchEvent: async (_ns, name, { count, message }) => {
      const ev = events.get(name);
      if (!ev) throw new KubeApiError(404, `events "${name}" not found`);
      ev.count = count;
      ev.e = { ...ev.e, message };
    },
  };
  return { client, events };
}

const event = (message: string) => ({
  involvedObject: { apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', name: 'web', namespace: 'shop', uid: 'u1' },
  type: 'Warning' as const,
  reason: 'NoEndpoints',
  message,
  component: 'ballast',
  instance: 'pod-a',
});

describe('EventRecorder', () => {
  it('records a repeated Event once, with its count, and afresh once the API has dropped it', async () => {
    const { client, events } = memoryEvents();
    const recorder = new EventRecorder({ client, logger: silentLogger });
    for (let i = 0; i < 3; i++) await recorder.record(event('no endpoints'));
    await recorder.record(event('something else'));
    expect([...events.values()].map((v) => [v.e.message, v.count])).toEqual([['no endpoints', 3], ['something else', 1]]);
    events.clear(); // expired (the API keeps Events an hour)
    await recorder.record(event('no endpoints'));
    expect([...events.values()].map((v) => [v.e.message, v.count])).toEqual([['no endpoints', 1]]);
  });

  it('lets a pool record a burst, then one Event per refill period', async () => {
    const { client, events } = memoryEvents();
    let now = 0;
    const recorder = new EventRecorder({ client, logger: silentLogger, burst: 3, refillMs: 1000, now: () => new Date(now) });
    for (let i = 0; i < 10; i++) await recorder.record(event(`change ${i}`));
    expect(events.size).toBe(3);
    now += 1000;
    for (let i = 10; i < 20; i++) await recorder.record(event(`change ${i}`));
    expect(events.size).toBe(4);
  });
});

describe('EventRecorder on a real API server', () => {
  const admin = new KubeAdmin();
  let work: string;
  let ns: string | undefined;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'ballast-events-'));
  });
  afterEach(async () => {
    await stopControllers();
    if (ns) await deleteNamespace(admin, ns);
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('combines a pool\'s similar BackendsChanged Events after 10 messages into one Event with a count', async () => {
    ns = await createNamespace(admin, 'events');
    const identity = await controllerIdentity(admin, ns, work);
    const pool = (n: number) => ({
      apiVersion: 'ballast.dev/v1alpha1',
      kind: 'BalancerPool',
      metadata: { name: 'web', namespace: ns },
      spec: { endpoints: Array.from({ length: n }, (_, i) => ({ address: `127.0.0.${i + 1}`, port: 9 })) },
    });
    await admin.apply(pool(1));
    const c = await startTestController(identity.kubeconfig, ns);
    const backends = () => c.app.reconciler.appliedPlans()[0]?.backends.length;
    await waitFor(() => backends() === 1, 10_000);
    // 14 changes, each its own message: "added 127.0.0.<n>:9 (<n> in rotation)".
    for (let n = 2; n <= 14; n++) {
      await admin.apply(pool(n));
      await waitFor(() => backends() === n, 10_000);
    }
    await c.app.manager.idle();

    type Listed = { items: { message: string; count: number }[] };
    const listed = JSON.parse(await kubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=web,reason=BackendsChanged', '-o', 'json'])) as Listed;
    const byMessage = (events: [string, number][]) => events.sort(([a], [b]) => a.localeCompare(b));
    // The first nine messages keep their own Events; the 10th to the 14th are one Event, counted, with the latest message.
    expect(byMessage(listed.items.map((e) => [e.message, e.count]))).toEqual(
      byMessage([
        ...Array.from({ length: 9 }, (_, i): [string, number] => [`added 127.0.0.${i + 1}:9 (${i + 1} in rotation)`, 1]),
        ['(combined from similar events): added 127.0.0.14:9 (14 in rotation)', 5],
      ]),
    );
  });
});
