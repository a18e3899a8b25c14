// The EventCorrelator's decisions over time, as client-go's EventCorrelator makes them: similar
// Events (same type, reason, source; other messages) are combined after 10 distinct messages within
// 10 minutes of each other, identical ones are counted. A small ledger stands in for the API.
import { describe, expect, it } from '@jest/globals';
import { EventCorrelator, type EventCorrelatorOptions, type EventRequest } from '../../src/cluster/event-correlator.js';

const MINUTE = 60_000;

const event = (reason: string, message: string, name = 'web'): EventRequest => ({
  involvedObject: { apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', name, namespace: 'shop', uid: `uid-${name}` },
  type: 'Normal',
  reason,
  message,
  component: 'ballast',
  instance: 'pod-a',
});

/** Correlates Events at the clock's time and keeps what the API would hold: name -> message and count. */
function ledger(opts: EventCorrelatorOptions = {}) {
  const correlator = new EventCorrelator(opts);
  const events = new Map<string, { reason: string; message: string; count: number }>();
  let now = Date.UTC(2026, 0, 1);
  return {
    events,
    advance: (ms: number) => (now += ms),
    forget: (name: string) => correlator.forget('shop', name),
    record(e: EventRequest): string {
      const write = correlator.correlate(e, now);
      if (write.action === 'drop') return 'dropped';
      if (write.action === 'count') {
        Object.assign(events.get(write.name)!, { count: write.count, message: write.message });
        correlator.recorded(write, write.name, write.count);
        return write.name;
      }
      const name = `${e.involvedObject.name}.${events.size + 1}`;
      events.set(name, { reason: e.reason, message: write.message, count: 1 });
      correlator.recorded(write, name, 1);
      return name;
    },
    list: () => [...events.values()].map((v) => [v.reason, v.message, v.count]),
  };
}

const changes = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${from + i + 1} in rotation`);

describe('EventCorrelator', () => {
  it('combines the 10th distinct message of similar Events into one Event, and counts on it', () => {
    const l = ledger();
    for (const message of changes(0, 12)) {
      l.record(event('BackendsChanged', message));
      l.advance(MINUTE);
    }
    l.record(event('BackendsChanged', '1 in rotation')); // one of the first nine: still its own Event
    expect(l.list()).toEqual([
      ['BackendsChanged', '1 in rotation', 2],
      ...changes(1, 9).map((m) => ['BackendsChanged', m, 1]),
      ['BackendsChanged', '(combined from similar events): 12 in rotation', 3],
    ]);
  });

  it('sends a message once combined to the combined Event for the rest of the window', () => {
    const l = ledger();
    const names = changes(0, 10).map((m) => l.record(event('BackendsChanged', m)));
    expect(l.record(event('BackendsChanged', '10 in rotation'))).toBe(names[9]);
    expect(l.events.get(names[9])).toEqual({ reason: 'BackendsChanged', message: '(combined from similar events): 10 in rotation', count: 2 });
  });

  it('starts a new window once similar Events have paused for more than 10 minutes', () => {
    const l = ledger();
    // One every 2 minutes: 20 minutes in all, but never a 10-minute gap, so one window.
    for (const message of changes(0, 11)) {
      l.record(event('BackendsChanged', message));
      l.advance(2 * MINUTE);
    }
    expect(l.events.size).toBe(10);
    l.advance(8 * MINUTE); // 10 minutes since the last one: the same window
    l.record(event('BackendsChanged', '12 in rotation'));
    expect(l.events.size).toBe(10);
    l.advance(10 * MINUTE + 1);
    l.record(event('BackendsChanged', '13 in rotation'));
    l.record(event('BackendsChanged', '14 in rotation'));
    expect(l.list().slice(9)).toEqual([
      ['BackendsChanged', '(combined from similar events): 12 in rotation', 3],
      ['BackendsChanged', '13 in rotation', 1],
      ['BackendsChanged', '14 in rotation', 1],
    ]);
  });

  it('keeps another reason, or another pool, apart', () => {
    const l = ledger();
    for (const message of changes(0, 9)) l.record(event('BackendsChanged', message));
    l.record(event('NoEndpoints', 'no endpoints'));
    l.record(event('BackendsChanged', 'other pool', 'api'));
    l.record(event('BackendsChanged', '10 in rotation'));
    expect(l.list().slice(9)).toEqual([
      ['NoEndpoints', 'no endpoints', 1],
      ['BackendsChanged', 'other pool', 1],
      ['BackendsChanged', '(combined from similar events): 10 in rotation', 1],
    ]);
  });

  it('lets an Event the spam filter dropped count for nothing, and forgets a deleted pool', () => {
    const l = ledger({ burst: 2, refillMs: MINUTE });
    expect([l.record(event('BackendsChanged', 'a')), l.record(event('BackendsChanged', 'b')), l.record(event('BackendsChanged', 'a'))]).toEqual(['web.1', 'web.2', 'dropped']);
    l.advance(MINUTE);
    expect(l.record(event('BackendsChanged', 'a'))).toBe('web.1');
    expect(l.events.get('web.1')!.count).toBe(2);
    l.forget('web'); // a pool of that name made again starts afresh, with a full bucket
    expect([l.record(event('BackendsChanged', 'a')), l.record(event('BackendsChanged', 'a'))]).toEqual(['web.3', 'web.3']);
    expect(l.events.get('web.3')!.count).toBe(2);
  });
});
