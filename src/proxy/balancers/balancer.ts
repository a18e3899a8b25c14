// The load-balancing contract. A balancer is built from one immutable backend list (a pool snapshot)
// and only chooses; health, draining and retries are decided outside it, by what goes into the list.

/** What a balancer reads from a backend. */
export interface BalancedBackend {
  readonly address: string;
  readonly port: number;
  /** Relative share of requests, ≥ 1. */
  readonly weight: number;
  /** Requests and WebSockets currently forwarded to it; read at pick time by load-aware balancers. */
  readonly inFlight: number;
}

export interface PickContext<B> {
  /** The client's address; IPHash keys on it. */
  readonly clientAddress: string;
  /** Backends this request already tried; a retry must not pick them again. */
  readonly tried?: ReadonlySet<B>;
}

/**
 * Chooses the backend for one request. Returns `undefined` only when the list is empty or every
 * backend is in `ctx.tried`. A balancer may keep selection state (round-robin weights), but never
 * changes its list: a new list means a new balancer.
 */
export interface Balancer<B extends BalancedBackend> {
  pick(ctx: PickContext<B>): B | undefined;
}
