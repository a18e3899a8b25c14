import { describe, expect, it } from '@jest/globals';
import { parseObject } from '../../src/api/validate.js';
import type { BalancerPool } from '../../src/api/schema.js';
import { computeStatus, eventsFor } from '../../src/controller/pool-status.js';
import { computeDesiredPool } from '../../src/plan/desired-pool.js';

const pool = (endpoints: number) => {
  const r = parseObject({
    apiVersion: 'ballast.dev/v1alpha1',
    kind: 'BalancerPool',
    metadata: { name: 'web', namespace: 'default', generation: 3 },
    spec: endpoints ? { endpoints: Array.from({ length: endpoints }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 80 })), listener: { port: 8080 } } : { service: { name: 'web', port: 'http' } },
  });
  if (!r.ok) throw new Error('bad fixture');
  return r.object as BalancerPool;
};
const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T00:05:00Z');

describe('computeStatus', () => {
  it('is Ready with backends and an open listener, and says what it serves', () => {
    const plan = computeDesiredPool(pool(2), undefined, []);
    const s = computeStatus({ plan, reports: { proxy: { facts: { listener: '0.0.0.0:8080' } } }, generation: 3, now: t0 });
    expect(s).toEqual({
      observedGeneration: 3,
      backends: { ready: 2, total: 2 },
      listener: '0.0.0.0:8080',
      conditions: [
        { type: 'Ready', status: 'True', observedGeneration: 3, lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'BackendsAvailable', message: '2 backends in rotation' },
        { type: 'Degraded', status: 'False', observedGeneration: 3, lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'AsExpected', message: 'the spec is fully served' },
      ],
    });
  });

  it('keeps lastTransitionTime while a condition holds, and moves it when it flips', () => {
    const plan = computeDesiredPool(pool(1), undefined, []);
    const first = computeStatus({ plan, reports: {}, generation: 3, now: t0 });
    const same = computeStatus({ plan, reports: {}, generation: 3, previous: first, now: t1 });
    expect(same.conditions).toEqual(first.conditions);
    const failed = computeStatus({ plan, reports: { proxy: { problem: { reason: 'ListenerFailed', message: 'EADDRINUSE' } } }, generation: 3, previous: first, now: t1 });
    expect(failed.conditions?.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime])).toEqual([
      ['Ready', 'False', 'ListenerFailed', '2026-01-01T00:05:00Z'],
      ['Degraded', 'True', 'ListenerFailed', '2026-01-01T00:05:00Z'],
    ]);
  });

  it('reports a rejected spec while the last good plan keeps serving', () => {
    const plan = computeDesiredPool(pool(1), undefined, []);
    const s = computeStatus({ plan, reports: {}, invalid: { generation: 4, message: 'spec rejected: spec.listener.port: must be <= 65535' }, generation: 3, now: t0 });
    expect(s.observedGeneration).toBe(4);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'BackendsAvailable'],
      ['Degraded', 'True', 'InvalidSpec'],
    ]);
  });

  it.each(['ListenerConflict', 'ListenerNotAllowed'] as const)('is not Ready with backends while its listener is refused (%s)', (reason) => {
    const plan = computeDesiredPool(pool(2), undefined, []);
    const refused = { ...plan, listener: undefined, problems: [{ reason, message: 'listener 0.0.0.0:8080 is taken' }] };
    const s = computeStatus({ plan: refused, reports: {}, generation: 1, now: t0 });
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['Ready', 'False', reason, 'listener 0.0.0.0:8080 is taken'],
      ['Degraded', 'True', reason, 'listener 0.0.0.0:8080 is taken'],
    ]);
  });

  it('is not Ready without endpoints', () => {
    const plan = computeDesiredPool(pool(0), undefined, []);
    const s = computeStatus({ plan, reports: {}, generation: 1, now: t0 });
    expect(s.conditions?.[0]).toEqual(expect.objectContaining({ status: 'False', reason: 'NoEndpoints' }));
    expect(s.backends).toEqual({ ready: 0, total: 0 });
  });
});

describe('eventsFor', () => {
  it('names the backends added and removed, a newly opened listener, and new problems once', () => {
    const before = computeDesiredPool(pool(2), undefined, []);
    const after = computeDesiredPool(pool(3), undefined, []);
    const status = computeStatus({ plan: after, reports: { proxy: { facts: { listener: '0.0.0.0:8080' } } }, now: t0 });
    expect(eventsFor({ plan: before }, { plan: after, status, problems: [] })).toEqual([
      { type: 'Normal', reason: 'BackendsChanged', message: 'added 10.0.0.3:80 (3 in rotation)' },
      { type: 'Normal', reason: 'ListenerOpened', message: 'listening on 0.0.0.0:8080' },
    ]);
    const empty = computeDesiredPool(pool(0), undefined, []);
    const degraded = computeStatus({ plan: empty, reports: {}, now: t0 });
    const problems = [{ reason: 'NoEndpoints' as const, message: 'the pool has no endpoints' }];
    expect(eventsFor({ plan: after, status }, { plan: empty, status: degraded, problems })).toEqual([
      { type: 'Normal', reason: 'BackendsChanged', message: 'removed 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80 (0 in rotation)' },
      { type: 'Warning', reason: 'NoEndpoints', message: 'the pool has no endpoints' },
    ]);
    expect(eventsFor({ plan: empty, status: degraded }, { plan: empty, status: degraded, problems })).toEqual([]);
  });
});
