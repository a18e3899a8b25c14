import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { assignListeners, type ListenerAddress, type ListenerClaim } from '../../src/plan/listener-claims.js';
import { ANY_NAMESPACE, parseListenerPolicy } from '../../src/plan/listener-policy.js';

interface Case {
  name: string;
  policy?: string;
  claims: Omit<ListenerClaim, 'namespace'>[];
  open: Record<string, ListenerAddress>;
  expect: { granted: string[]; refused: Record<string, string> };
}

const cases = parse(readFileSync(new URL('./fixtures/listener-claims.yaml', import.meta.url), 'utf8')) as Case[];
const inputsOf = (c: Case) => ({
  claims: c.claims.map((claim) => ({ ...claim, namespace: claim.key.split('/')[0] })),
  open: new Map(Object.entries(c.open)),
  policy: c.policy ? parseListenerPolicy(c.policy) : ANY_NAMESPACE,
});

describe('assignListeners', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { claims, open, policy } = inputsOf(c);
    const { granted, refused } = assignListeners(claims, open, policy);
    expect([...granted].sort()).toEqual([...c.expect.granted].sort());
    expect(Object.fromEntries([...refused].map(([key, p]) => [key, `${p.reason}: ${p.message}`]))).toEqual(c.expect.refused);
  });

  it('does not depend on the order of the claims', () => {
    for (const c of cases) {
      const { claims, open, policy } = inputsOf(c);
      const forward = assignListeners(claims, open, policy);
      const backward = assignListeners([...claims].reverse(), open, policy);
      expect([...backward.granted].sort()).toEqual([...forward.granted].sort());
      expect(new Map([...backward.refused].sort())).toEqual(new Map([...forward.refused].sort()));
    }
  });

  it('decides the claims of one port alone as it does among all (the reconciler assigns port by port)', () => {
    for (const c of cases) {
      const { claims, open, policy } = inputsOf(c);
      const all = assignListeners(claims, open, policy);
      for (const port of new Set(claims.map((claim) => claim.port))) {
        const alone = assignListeners(
          claims.filter((claim) => claim.port === port),
          new Map([...open].filter(([, l]) => l.port === port)),
          policy,
        );
        const onPort = new Set(claims.filter((claim) => claim.port === port).map((claim) => claim.key));
        expect([...alone.granted].sort()).toEqual([...all.granted].filter((k) => onPort.has(k)).sort());
        expect(new Map([...alone.refused].sort())).toEqual(new Map([...all.refused].filter(([k]) => onPort.has(k)).sort()));
      }
    }
  });
});

describe('parseListenerPolicy', () => {
  it.each([
    ['ballast-system', 'ballast-system'],
    [' shop=8080 , shop=9000-9009,* ', 'shop=8080,shop=9000-9009,*'],
    ['*=8080-8080', '*=8080'],
  ])('accepts %j', (text, normal) => {
    expect(parseListenerPolicy(text).text).toBe(normal);
  });

  it.each([
    ['', '"": expected NAMESPACE[=PORT|=LOW-HIGH] entries separated by commas'],
    ['shop,,ops', '"shop,,ops": expected NAMESPACE[=PORT|=LOW-HIGH] entries separated by commas'],
    ['Shop', '"Shop": "Shop" is not a namespace name (a DNS label) or *'],
    ['shop=80=81', '"shop=80=81": expected NAMESPACE[=PORT|=LOW-HIGH]'],
    ['shop=0', '"shop=0": port "0" must be a number from 1 to 65535'],
    ['shop=http', '"shop=http": port "http" must be a number from 1 to 65535'],
    ['shop=9000-8000', '"shop=9000-8000": the range 9000-8000 is empty'],
    ['shop=8080-', '"shop=8080-": port "" must be a number from 1 to 65535'],
  ])('refuses %j', (text, message) => {
    expect(() => parseListenerPolicy(text)).toThrow(message);
  });
});
