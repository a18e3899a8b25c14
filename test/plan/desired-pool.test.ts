import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { keyOf } from '../../src/api/keys.js';
import type { BalancerPool, Service } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { ObjectStore } from '../../src/controller/store.js';
import { computeDesiredPool } from '../../src/plan/desired-pool.js';

interface Case {
  name: string;
  objects: unknown[];
  expect: { backends: string[]; excluded: string[]; problems: string[] };
}

const cases = parse(readFileSync(new URL('./fixtures/desired-pool.yaml', import.meta.url), 'utf8')) as Case[];

function typed(raw: unknown) {
  const r = parseObject(raw);
  if (!r.ok) throw new Error(`fixture does not validate: ${JSON.stringify(r.errors)}`);
  r.object.metadata.namespace ??= 'default';
  return r.object;
}

describe('computeDesiredPool', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const objects = c.objects.map(typed);
    const pool = objects.find((o) => o.kind === 'BalancerPool') as BalancerPool;
    const ns = pool.metadata.namespace!;
    const svcName = pool.spec.service?.name ?? '';
    const service = objects.find((o) => o.kind === 'Service' && keyOf(o) === `${ns}/${svcName}`) as Service | undefined;
    // The store's index picks the Service's slices, as in both modes: same namespace, service-name label.
    const store = new ObjectStore();
    for (const o of objects) store.forSource('files').upsert(o);
    const slices = store.slicesOf(`${ns}/${svcName}`);
    const plan = computeDesiredPool(pool, service, slices);
    expect(plan.backends.map((b) => `${b.address}:${b.port} ${b.weight} ${b.state}`)).toEqual(c.expect.backends);
    expect(plan.excluded.map((e) => `${e.address}:${e.port} ${e.reason}`)).toEqual(c.expect.excluded);
    expect(plan.problems.map((p) => p.reason)).toEqual(c.expect.problems);
  });

  it('is deterministic: slice order does not change the plan', () => {
    const c = cases.find((x) => x.name.startsWith('service port by name'))!;
    const objects = c.objects.map(typed);
    const pool = objects[0] as BalancerPool;
    const store = new ObjectStore();
    for (const o of objects) store.forSource('files').upsert(o);
    const slices = store.slicesOf('shop/web');
    expect(computeDesiredPool(pool, undefined, [...slices].reverse())).toEqual(computeDesiredPool(pool, undefined, slices));
  });
});
