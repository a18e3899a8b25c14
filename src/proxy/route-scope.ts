// The two sides a forwarded request sees: the pool it is routed in, and the listener it came from.
import type { FailureKind } from './failure.js';
import type { Upstream } from './upstream.js';

/** A pool's per-request settings, from its plan. */
export interface RouteSettings {
  /** Other backends a failed request may be sent to. */
  readonly retries: number;
  readonly responseTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** What a forwarded request needs from its pool. Every method is synchronous and cheap. */
export interface RouteScope {
  readonly settings: RouteSettings;
  /** A backend from the pool's current snapshot, never one of `tried`; undefined when none is left. */
  pick(clientAddress: string, tried?: ReadonlySet<Upstream>): Upstream | undefined;
  /** The backend answered with response headers. */
  succeeded(upstream: Upstream): void;
  /** An exchange with the backend failed (whether or not it is retried). */
  failed(upstream: Upstream, kind: FailureKind): void;
  /**
   * Where to send again a request that failed on `failed` in a retryable way: another backend, never
   * one of `tried` (to which `failed` is added), while the pool's retry budget lasts. Counts the retry.
   */
  retry(failed: Upstream, tried: Set<Upstream>, clientAddress: string): Upstream | undefined;
  /**
   * An exchange failed inside the proxy (a bug, or a backend address the engine cannot use): the
   * client gets 502, the error is logged, and the backend is not blamed.
   */
  internalError(upstream: Upstream | undefined, err: unknown): void;
  /** The client got its answer (or went away, 499) after `seconds`; `upstream` is the last one tried. */
  responded(upstream: Upstream | undefined, code: number, seconds: number): void;
}

/** What a forwarded request needs from the listener that accepted it. */
export interface ClientSide {
  /** `X-Forwarded-Proto` for requests on this listener. */
  readonly proto: string;
  /** The listener is closing: responses carry `Connection: close`. */
  readonly closing: boolean;
}
