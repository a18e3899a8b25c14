// Plans for driving ProxyPools.apply directly, as the reconciler would.
import type { Backend, DesiredPool } from '../../src/plan/desired-pool.js';

export type BackendSpec = number | (Partial<Backend> & { port: number });

/** A pool plan routing to loopback `backends` (ports, or partial backends), listening on 127.0.0.1:0. */
export function poolPlan(backends: BackendSpec[], overrides: Partial<DesiredPool> = {}): DesiredPool {
  const list: Backend[] = backends.map((b) => {
    const spec = typeof b === 'number' ? { port: b } : b;
    return { address: '127.0.0.1', weight: 1, state: 'ready', ...spec };
  });
  return {
    key: 'test/web',
    namespace: 'test',
    name: 'web',
    algorithm: 'RoundRobin',
    listener: { address: '127.0.0.1', port: 0 },
    backends: list,
    excluded: [],
    total: list.length,
    retries: 1,
    terminating: 'Fallback',
    outlierDetection: { maxFails: 1, failTimeoutSeconds: 10 },
    timeouts: { connectSeconds: 5, responseSeconds: 60, idleSeconds: 60, requestSeconds: 60 },
    drainTimeoutSeconds: 30,
    problems: [],
    ...overrides,
  };
}

/** The port of a `facts.listener` (`address:port`). */
export function listenerPort(facts: Record<string, string> | undefined): number {
  const listener = facts?.listener;
  if (!listener) throw new Error(`no listener in report facts ${JSON.stringify(facts)}`);
  return Number(listener.slice(listener.lastIndexOf(':') + 1));
}
