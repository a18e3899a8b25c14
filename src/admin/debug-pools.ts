// GET /debug/pools: every pool, its backends, and why each discovered endpoint is in or out —
// the plan's view (ready, terminating fallback, not ready, duplicate) joined with the proxy's
// (active, ejected, unhealthy, draining), so one page answers "why is this backend (not) getting traffic".
import type { ObjectKey } from '../api/keys.js';
import { endpointId, type DesiredPool } from '../plan/desired-pool.js';
import type { ProxyPoolState } from '../proxy/proxy-pools.js';

const id = (b: { address: string; port: number }) => endpointId(b.address, b.port);

export function debugPools(plans: readonly DesiredPool[], proxy: Record<ObjectKey, ProxyPoolState>) {
  return plans.map((plan) => {
    const live = proxy[plan.key];
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
    };
  });
}
