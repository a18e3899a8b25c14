import type { BalancedBackend, Balancer, PickContext } from './balancer.js';
import { SmoothWeights } from './smooth-weighted.js';

/** Smooth weighted round robin, NGINX's default `upstream` method. */
export class RoundRobin<B extends BalancedBackend> implements Balancer<B> {
  readonly #backends: readonly B[];
  readonly #weights: SmoothWeights;

  constructor(backends: readonly B[]) {
    this.#backends = backends;
    this.#weights = new SmoothWeights(backends.length);
  }

  pick(ctx: PickContext<B>): B | undefined {
    const tried = ctx.tried;
    const i = this.#weights.pick(this.#backends, tried ? (b) => !tried.has(b) : always);
    return i < 0 ? undefined : this.#backends[i];
  }
}

const always = () => true;
