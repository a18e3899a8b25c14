import type { BalancedBackend, Balancer, PickContext } from './balancer.js';
import { SmoothWeights } from './smooth-weighted.js';

/**
 * NGINX `least_conn`: the backend with the fewest in-flight requests per unit of weight; backends tied
 * on that ratio share the load by smooth weighted round robin (so an idle pool still honours weights).
 */
export class LeastConnections<B extends BalancedBackend> implements Balancer<B> {
  readonly #backends: readonly B[];
  readonly #weights: SmoothWeights;

  constructor(backends: readonly B[]) {
    this.#backends = backends;
    this.#weights = new SmoothWeights(backends.length);
  }

  pick(ctx: PickContext<B>): B | undefined {
    const backends = this.#backends;
    const tried = ctx.tried;
    let best: B | undefined;
    let ties = 0;
    for (const b of backends) {
      if (tried?.has(b)) continue;
      // a/wa < b/wb without division: in-flight counts and weights are small integers.
      const order = best === undefined ? -1 : b.inFlight * best.weight - best.inFlight * b.weight;
      if (order < 0) {
        best = b;
        ties = 1;
      } else if (order === 0) {
        ties++;
      }
    }
    if (best === undefined || ties === 1) return best;
    const min = best;
    const i = this.#weights.pick(backends, (b) => !tried?.has(b) && b.inFlight * min.weight === min.inFlight * b.weight);
    return backends[i];
  }
}
