// One backend (address:port) of one pool: its keep-alive connection pool, its load, and its drain.
// This is the only file that knows the HTTP engine (undici 7, see
// docs/adr/0001-proxy-engine.md); the rest of the proxy speaks ExchangeHandler.
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { Pool } from 'undici';
import { endpointId } from '../plan/desired-pool.js';
import type { BalancedBackend } from './balancers/balancer.js';
import { BackendHealth } from './backend-health.js';
import type { BackendMetrics } from './proxy-metrics.js';

/**
 * Node's default server `keepAliveTimeout` is 5 s. An idle upstream socket must be dropped by us before
 * the backend drops it, or a request written at that moment meets a reset (the keep-alive reuse race).
 * A backend that advertises `Keep-Alive: timeout=N` gets N minus 2 s instead.
 */
const UPSTREAM_IDLE_MS = 4_000;

/** One request to forward. */
export interface Exchange {
  method: string;
  /** Origin-form path and query, as received. */
  path: string;
  /** Flat `[name, value, …]` list, already rewritten for the hop to the backend. */
  headers: string[];
  /** The client's request when it has a body, else null. */
  body: IncomingMessage | null;
  /** Time to the response headers, from the request being written. */
  responseTimeoutMs: number;
  /** Longest pause between response body chunks. */
  idleTimeoutMs: number;
}

/**
 * The callbacks of one forwarded exchange, in order: `onConnect` once the request has a connection
 * (never called when connecting failed), `onBodySent` per request body chunk, `onHeaders` once,
 * `onData` per body chunk (return false to pause until `resume`), then exactly one of `onComplete`
 * or `onError`. These are undici 7's native dispatch callbacks, so nothing is adapted per request.
 */
export interface ExchangeHandler {
  onConnect(abort: (err?: Error) => void): void;
  onBodySent(chunk: unknown): void;
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(err: Error): void;
}


export type UpstreamState = 'active' | 'draining' | 'closed';

export interface UpstreamOptions {
  address: string;
  port: number;
  weight: number;
  connectTimeoutMs: number;
  metrics: BackendMetrics;
}

export class Upstream implements BalancedBackend {
  readonly address: string;
  readonly port: number;
  /** See endpointId. */
  readonly id: string;
  readonly connectTimeoutMs: number;
  readonly metrics: BackendMetrics;
  readonly health = new BackendHealth();
  weight: number;
  /** HTTP requests and upgraded connections in progress. */
  inFlight = 0;
  #state: UpstreamState = 'active';
  /** Created on first use: an idle undici Pool costs ~19 kB, which is 1.9 GB for 100,000 endpoints. */
  #pool?: Pool;
  /** Both halves of every upgraded connection, destroyed when a drain runs out of time. */
  readonly #tunnels = new Set<Duplex>();
  #drainTimer?: NodeJS.Timeout;
  #drainDeadline = Number.POSITIVE_INFINITY;
  #drained?: () => void;
  readonly #closed: Promise<void>;

  constructor({ address, port, weight, connectTimeoutMs, metrics }: UpstreamOptions) {
    this.address = address;
    this.port = port;
    this.weight = weight;
    this.connectTimeoutMs = connectTimeoutMs;
    this.metrics = metrics;
    this.id = endpointId(address, port);
    this.#closed = new Promise((resolve) => (this.#drained = resolve));
  }

  get state(): UpstreamState {
    return this.#state;
  }

  /** Epoch ms when a drain cuts what is left; Infinity unless draining with work in flight. */
  get drainDeadline(): number {
    return this.#drainDeadline;
  }

  get #connectionPool(): Pool {
    this.#pool ??= new Pool(`http://${this.id}`, {
      connect: { timeout: this.connectTimeoutMs },
      keepAliveTimeout: UPSTREAM_IDLE_MS,
      // Forward bodies as they come: no pipelining, so a reset can only hit the request it belongs to.
      pipelining: 1,
    });
    return this.#pool;
  }

  /** Forwards one exchange; the outcome arrives through `handler`, never as a throw. */
  dispatch(exchange: Exchange, handler: ExchangeHandler): void {
    try {
      this.#connectionPool.dispatch(
        {
          path: exchange.path,
          method: exchange.method,
          headers: exchange.headers,
          body: exchange.body,
          headersTimeout: exchange.responseTimeoutMs,
          bodyTimeout: exchange.idleTimeoutMs,
        },
        handler,
      );
    } catch (err) {
      // The engine throws for an origin it cannot parse (an address that slipped past validation).
      handler.onError(err as Error);
    }
  }

  /** A health probe: GET `path` and drain the body; resolves to the status code, rejects on failure. */
  async probe(path: string, timeoutMs: number): Promise<number> {
    const res = await this.#connectionPool.request({ path, method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
    return res.statusCode;
  }

  /** Counts a request or upgraded connection until the matching `release`. */
  acquire(): void {
    this.inFlight++;
  }

  release(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.#state === 'draining') this.#close();
  }

  /** Registers both halves of an upgraded connection; each is forgotten when it closes. */
  track(socket: Duplex): void {
    this.#tunnels.add(socket);
    socket.once('close', () => this.#tunnels.delete(socket));
  }

  /**
   * Takes no new work from now on (callers stop picking it); in-flight requests and upgraded
   * connections continue for up to `timeoutMs`, then are cut. Resolves once everything is closed.
   * Calling it again while draining can only bring the deadline closer.
   */
  drain(timeoutMs: number): Promise<void> {
    if (this.#state === 'closed') return this.#closed;
    this.#state = 'draining';
    if (this.inFlight === 0) {
      this.#close();
    } else {
      const deadline = Date.now() + timeoutMs;
      if (deadline < this.#drainDeadline) {
        this.#drainDeadline = deadline;
        clearTimeout(this.#drainTimer);
        this.#drainTimer = setTimeout(() => this.#close(), timeoutMs).unref();
      }
    }
    return this.#closed;
  }

  /** Takes a draining upstream back (its endpoint returned before it finished draining). */
  reactivate(): boolean {
    if (this.#state !== 'draining') return this.#state === 'active';
    clearTimeout(this.#drainTimer);
    this.#drainDeadline = Number.POSITIVE_INFINITY;
    this.#state = 'active';
    return true;
  }

  /** Cuts everything now. */
  close(): Promise<void> {
    this.#close();
    return this.#closed;
  }

  #close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#drainTimer);
    for (const socket of this.#tunnels) socket.destroy();
    // destroy() rather than close(): whatever is still running has had its drain time.
    if (this.#pool) this.#pool.destroy().then(this.#drained, this.#drained);
    else this.#drained!();
  }

  /** Open upstream connections, for tests and /debug/pools. */
  get connections(): number {
    return this.#pool?.stats.connected ?? 0;
  }
}
