// NGINX's smooth weighted round robin (ngx_http_upstream_get_peer), shared by RoundRobin and the
// tie-break of LeastConnections, exactly as NGINX shares it.
import type { BalancedBackend } from './balancer.js';

/**
 * The running `current_weight` of each backend of a list. Every pick adds each candidate's weight to
 * its current weight, takes the largest (the first on ties, as NGINX), and subtracts the total of the
 * candidates from the winner: over any window of Σweight picks each backend is chosen weight times,
 * spread out rather than in bursts (weights 5,1,1 give a a b a c a a).
 */
export class SmoothWeights {
  readonly #current: Float64Array;

  constructor(size: number) {
    this.#current = new Float64Array(size);
  }

  /** Picks among the indexes of `backends` that `candidate` accepts; -1 when none does. */
  pick<B extends BalancedBackend>(backends: readonly B[], candidate: (b: B, i: number) => boolean): number {
    const current = this.#current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < backends.length; i++) {
      const b = backends[i];
      if (!candidate(b, i)) continue;
      current[i] += b.weight;
      total += b.weight;
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best >= 0) current[best] -= total;
    return best;
  }
}
