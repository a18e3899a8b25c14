// The EventRecorder's aggregation and spam filter, with an injected clock and an in-memory Event
// client (the real API server's side is in status.test.ts and sidecar.test.ts).
import { describe, expect, it } from '@jest/globals';
import { EventRecorder, type EventClient } from '../../src/cluster/event-recorder.js';
import { silentLogger } from '../../src/log.js';
import { KubeApiError, type CoreEvent } from '../../src/sources/kube/kube-client.js';

function memoryEvents() {
  const events = new Map<string, { e: CoreEvent; count: number }>();
  let n = 0;
  const client: EventClient = {
    createEvent: async (e) => {
      const name = `web.${++n}`;
      events.set(name, { e, count: 1 });
      return name;
    },
    patchEventCount: async (_ns, name, count) => {
      const ev = events.get(name);
      if (!ev) throw new KubeApiError(404, `events "${name}" not found`);
      ev.count = count;
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
