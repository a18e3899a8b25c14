// GET /debug/pools: every pool, its backends, and why each discovered endpoint is in or out —
// the plan's view (ready, terminating fallback, not ready, duplicate) joined with the proxy's
// (active, ejected, unhealthy, draining), so one page answers "why is this backend (not) getting traffic".
// With proxy workers, the proxy's view is summed over them, and each worker's is listed under `workers`.
import { endpointId, type DesiredPool } from '../plan/desired-pool.js';
import type { BackendSnapshot } from '../proxy/live-pool.js';
import type { ProxyPoolState, ProxyView } from '../proxy/proxy-engine.js';

const id = (b: { address: string; port: number }) => endpointId(b.address, b.port);

/** Most telling first: a backend ejected by one worker's passive health shows as ejected. */
const SEVERITY: BackendSnapshot['state'][] = ['unhealthy', 'ejected', 'draining', 'active'];

/** One pool's state over every worker that holds it: counts summed, the worst backend state and panic. */
function merge(states: ProxyPoolState[]): ProxyPoolState | undefined {
  if (states.length <= 1) return states[0];
  const backends = new Map<string, BackendSnapshot>();
  for (const b of states.flatMap((s) => s.backends)) {
    const seen = backends.get(b.backend);
    if (!seen) backends.set(b.backend, { ...b });
    else {
      seen.inFlight += b.inFlight;
      seen.connections += b.connections;
      if (SEVERITY.indexOf(b.state) < SEVERITY.indexOf(seen.state)) seen.state = b.state;
    }
  }
  const sum = (f: (s: ProxyPoolState) => number) => states.reduce((n, s) => n + f(s), 0);
  return {
    ...states[0],
    listener: states.find((s) => s.listener)?.listener,
    listenerProblem: states.find((s) => s.listenerProblem)?.listenerProblem,
    panic: states.some((s) => s.panic),
    clientConnections: sum((s) => s.clientConnections),
    requests: sum((s) => s.requests),
    backends: [...backends.values()],
  };
}

export function debugPools(plans: readonly DesiredPool[], proxies: readonly ProxyView[]) {
  const perWorker = proxies.length > 1 || proxies.some((p) => p.worker !== undefined);
  return plans.map((plan) => {
    const held = proxies.filter((p) => p.pools[plan.key]);
    const live = merge(held.map((p) => p.pools[plan.key]));
    const endpointState = new Map(plan.backends.map((b) => [id(b), b.state]));
    return {
      pool: plan.key,
      generation: plan.generation,
      algorithm: plan.algorithm,
      listener: live?.listener,
      panic: live?.panic ?? false,
      // The plan's problems, and the proxy's: a listener that could not open (port in use).
      problems: live?.listenerProblem ? [...plan.problems, live.listenerProblem] : plan.problems,
      // Without a listener (an NGINX-only pool) the proxy holds nothing: the plan alone answers.
      backends: live
        ? live.backends.map((b) => ({ ...b, endpoint: endpointState.get(b.backend) ?? 'removed' }))
        : plan.backends.map((b) => ({ backend: id(b), weight: b.weight, state: 'planned', endpoint: b.state })),
      excluded: plan.excluded.map((e) => ({ backend: id(e), reason: e.reason })),
      ...(perWorker && live && {
        workers: held.map(({ worker, pid, pools }) => {
          const s = pools[plan.key];
          return { worker, pid, listener: s.listener, clientConnections: s.clientConnections, requests: s.requests, panic: s.panic, backends: s.backends.map(({ backend, state, inFlight, connections }) => ({ backend, state, inFlight, connections })) };
        }),
      }),
    };
  });
}
