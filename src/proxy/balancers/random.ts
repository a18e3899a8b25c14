import type { BalancedBackend, Balancer, PickContext } from './balancer.js';

/**
 * Power of two choices, NGINX `random two least_conn`: draw two backends at random in proportion to
 * their weights and take the one with fewer in-flight requests per unit of weight. Nearly as good as
 * least-connections at spreading load, without its herding when many proxies share stale counts.
 */
export class Random<B extends BalancedBackend> implements Balancer<B> {
  readonly #backends: readonly B[];
  /** Running sums of the weights, for drawing by weight with a binary search. */
  readonly #cumulative: Float64Array;
  readonly #random: () => number;

  /** `random` returns a number in [0, 1), as Math.random; injected so tests are deterministic. */
  constructor(backends: readonly B[], random: () => number = Math.random) {
    this.#backends = backends;
    this.#random = random;
    this.#cumulative = new Float64Array(backends.length);
    let sum = 0;
    backends.forEach((b, i) => (this.#cumulative[i] = sum += b.weight));
  }

  pick(ctx: PickContext<B>): B | undefined {
    const backends = this.#backends;
    if (backends.length <= 1) return ctx.tried?.has(backends[0]) ? undefined : backends[0];
    const a = this.#draw();
    let b = this.#draw();
    if (b === a) b = this.#draw();
    const tried = ctx.tried;
    if (tried && (tried.has(a) || tried.has(b))) {
      if (!tried.has(a)) return a;
      if (!tried.has(b)) return b;
      // A retry whose draws were both used up: any untried backend will do.
      return backends.find((x) => !tried.has(x));
    }
    return a.inFlight * b.weight <= b.inFlight * a.weight ? a : b;
  }

  #draw(): B {
    const cumulative = this.#cumulative;
    const r = this.#random() * cumulative[cumulative.length - 1];
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] <= r) lo = mid + 1;
      else hi = mid;
    }
    return this.#backends[lo];
  }
}
