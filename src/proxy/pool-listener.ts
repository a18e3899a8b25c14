// One pool's HTTP listener. It only accepts and bounds client connections; routing is the pool's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.js';
import { sendError, writeRawError } from './error-response.js';
import type { ClientSide } from './route-scope.js';

/** Limits on what clients may do, the same for every listener. */
export interface ServerLimits {
  /** Time for a client to send its request headers: slowloris gets 408 after it. */
  headersTimeoutMs: number;
  /** Largest request header block, in bytes: 431 above it. */
  maxHeaderSize: number;
  /** Most request header fields: 431 above it (Envoy's and Apache's default, 100). */
  maxHeaderFields: number;
}

export const DEFAULT_LIMITS: ServerLimits = { headersTimeoutMs: 10_000, maxHeaderSize: 16 * 1024, maxHeaderFields: 100 };

/** What a router keeps for one request it took. */
export interface RoutedRequest {
  /** The response closed: answered, failed, or abandoned by the client. Called once. */
  responseClosed(): void;
}

/** Where a listener sends what it accepts. */
export interface RequestRouter {
  handleRequest(req: IncomingMessage, res: ServerResponse, client: ClientSide): RoutedRequest | undefined;
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, client: ClientSide): void;
}

export interface ListenerOptions {
  address: string;
  port: number;
  router: RequestRouter;
  limits: ServerLimits;
  /** How long an idle client keep-alive connection is kept. */
  idleTimeoutMs: number;
  /** Time for a client to send the whole request, body included (the pool's timeouts.requestSeconds). */
  requestTimeoutMs: number;
  logger: Logger;
}

export class PoolListener implements ClientSide {
  readonly proto = 'http';
  closing = false;
  /** The bound `address:port` (the real port when 0 was asked for). */
  readonly address: string;
  readonly #server: Server;
  /** HTTP requests in progress (upgraded connections are the pool's to drain). */
  #active = 0;
  /** Open client connections, upgraded ones included. */
  connections = 0;
  /** HTTP requests taken so far, upgrades excluded: which worker serves what, in /debug/pools. */
  requests = 0;
  #closed?: Promise<void>;
  #resolveClosed?: () => void;
  #deadline = Number.POSITIVE_INFINITY;
  #forceTimer?: NodeJS.Timeout;

  private constructor(server: Server) {
    this.#server = server;
    const bound = server.address() as AddressInfo;
    this.address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  }

  /** Opens a listener; rejects with the listen error (EADDRINUSE, EACCES, …). */
  static open(options: ListenerOptions): Promise<PoolListener> {
    const { limits, router, logger } = options;
    // node:http refuses a headers timeout above the request timeout; the shorter one bounds both.
    const headersTimeout = Math.min(limits.headersTimeoutMs, options.requestTimeoutMs);
    const server = createServer({
      headersTimeout,
      requestTimeout: options.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderSize,
      // The two timeouts above are only enforced at this interval (Node's default is 30 s).
      connectionsCheckingInterval: Math.min(1000, headersTimeout / 2),
      keepAliveTimeout: options.idleTimeoutMs,
      noDelay: true,
    });
    // No silent cut: node:http would drop the fields past its count; maxHeaderFields answers 431 instead.
    server.maxHeadersCount = 0;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.address, () => {
        server.off('error', reject);
        server.on('error', (err) => logger.error({ err }, 'listener error'));
        const listener = new PoolListener(server);
        const maxRawHeaders = limits.maxHeaderFields * 2;
        // Last line of defence: an exception while routing one request must end that request, never
        // reach the server's parser and with it the process.
        server.on('request', (req: IncomingMessage, res: ServerResponse) => {
          listener.#active++;
          listener.requests++;
          let routed: RoutedRequest | undefined;
          // The request's only 'close' listener (node:http emits it once), added before anything can
          // throw: the count is kept here rather than by the router, so no exit path leaks it.
          res.on('close', () => {
            listener.#requestDone();
            routed?.responseClosed();
          });
          if (req.rawHeaders.length > maxRawHeaders) {
            sendError(res, 431, true);
            return;
          }
          try {
            routed = router.handleRequest(req, res, listener);
          } catch (err) {
            logger.error({ err }, 'request failed inside the proxy; answered 502');
            sendError(res, 502, true);
          }
        });
        server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
          if (req.rawHeaders.length > maxRawHeaders) {
            writeRawError(socket, 431);
            return;
          }
          try {
            router.handleUpgrade(req, socket, head, listener);
          } catch (err) {
            logger.error({ err }, 'upgrade failed inside the proxy; answered 502');
            writeRawError(socket, 502);
          }
        });
        server.on('connection', (socket: Socket) => {
          listener.connections++;
          socket.once('close', () => listener.connections--);
        });
        resolve(listener);
      });
    });
  }

  set idleTimeoutMs(ms: number) {
    this.#server.keepAliveTimeout = ms;
  }

  set requestTimeoutMs(ms: number) {
    this.#server.requestTimeout = ms;
  }

  /** An HTTP request is over (answered, failed, or abandoned by the client); not for upgrades. */
  readonly #requestDone = (): void => {
    if (--this.#active === 0 && this.closing) setImmediate(() => this.#drained());
  };

  /**
   * Stops accepting now. Requests in progress get until `graceMs` and their responses carry
   * `Connection: close`; idle keep-alive connections are closed at once, the rest as they finish,
   * and whatever is left at the deadline is cut. Resolves when no request is left. Calling it again
   * can only bring the deadline closer. Upgraded connections are left to their pool's drain.
   */
  close(graceMs: number): Promise<void> {
    if (!this.#closed) {
      this.closing = true;
      this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
      this.#server.close();
      if (this.#active === 0) this.#drained();
      else this.#server.closeIdleConnections();
    }
    const deadline = Date.now() + graceMs;
    if (deadline < this.#deadline && this.#active > 0) {
      this.#deadline = deadline;
      clearTimeout(this.#forceTimer);
      this.#forceTimer = setTimeout(() => this.#server.closeAllConnections(), graceMs).unref();
    }
    return this.#closed;
  }

  #drained(): void {
    clearTimeout(this.#forceTimer);
    this.#server.closeIdleConnections();
    this.#resolveClosed?.();
  }
}
