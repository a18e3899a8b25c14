import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import type { BalancerPool, EndpointSlice } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { computeDesiredPool } from '../../src/plan/desired-pool.js';
import { diffPlans } from '../../src/plan/plan-diff.js';

interface Case {
  name: string;
  before: unknown;
  after: unknown;
  changes: string[];
}

const cases = parse(readFileSync(new URL('./fixtures/plan-diff.yaml', import.meta.url), 'utf8')) as Case[];

function typed<T>(raw: unknown): T {
  const r = parseObject(raw);
  if (!r.ok) throw new Error(`fixture does not validate: ${JSON.stringify(r.errors)}`);
  r.object.metadata.namespace ??= 'default';
  return r.object as T;
}

const planOf = (spec: unknown, slices: EndpointSlice[] = []) =>
  spec === null ? undefined : computeDesiredPool(typed<BalancerPool>({ apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name: 'web' }, spec }), undefined, slices);

describe('diffPlans', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(diffPlans(planOf(c.before), planOf(c.after)).changes).toEqual(c.changes);
  });

  it('reports a backend that turned terminating (kept as the fallback) as a state change', () => {
    const slice = (terminating: boolean) =>
      typed<EndpointSlice>({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 3000 }],
        endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: !terminating, serving: true, terminating } }],
      });
    const spec = { service: { name: 'web', port: 'http' } };
    const diff = diffPlans(planOf(spec, [slice(false)]), planOf(spec, [slice(true)]));
    expect(diff).toEqual(expect.objectContaining({ added: [], removed: [], states: [{ backend: '10.0.0.1:3000', from: 'ready', to: 'terminating' }] }));
    expect(diff.changes).toEqual(['10.0.0.1:3000 ready→terminating']);
  });
});
