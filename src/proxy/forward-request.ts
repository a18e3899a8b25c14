// The HTTP request path: one ForwardRequest per client request, which is also the engine's callback
// object, so forwarding allocates little beyond the header lists.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { sendError, type ProxyStatus } from './error-response.js';
import { classifyFailure } from './failure.js';
import { requestHeaders, responseHeaders } from './forwarded-headers.js';
import type { RoutedRequest } from './pool-listener.js';
import type { ClientSide, RouteScope } from './route-scope.js';
import type { ExchangeHandler, Upstream } from './upstream.js';

/** Whether the request carries a body: a Content-Length other than 0, or any Transfer-Encoding. */
function hasBody(raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 14 && name.toLowerCase() === 'content-length') return raw[i + 1] !== '0';
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/**
 * A first body chunk up to this size is held until the response completes or the current read is
 * handled, so that a small response leaves as one write of head and body (ADR 0001, "A leaner request path").
 */
const HOLD_MAX_BYTES = 16 * 1024;

/** Statuses whose responses never have a body, whatever their Content-Length says. */
const BODILESS = new Set([204, 304]);

/**
 * Passes an interim (1xx) response on to the client before the final one, as RFC 9110 §15.2 asks of
 * a proxy: 102 and 103 (with its headers, Link first) through node:http's own writers. 100 never
 * gets here (undici refuses an unsolicited 100 Continue); other 1xx codes have no writer in node:http
 * and are dropped.
 */
function forwardInterim(res: ServerResponse, statusCode: number, rawHeaders: Buffer[]): void {
  if (statusCode === 102) {
    res.writeProcessing();
  } else if (statusCode === 103) {
    const hints: Record<string, string | string[]> = {};
    const headers = responseHeaders(rawHeaders);
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i].toLowerCase();
      const seen = hints[name];
      hints[name] = seen === undefined ? headers[i + 1] : [...(Array.isArray(seen) ? seen : [seen]), headers[i + 1]];
    }
    try {
      res.writeEarlyHints(hints);
    } catch {
      // node:http refuses some Link values; hints are optional, the final response is not.
    }
  }
}

export class ForwardRequest implements ExchangeHandler, RoutedRequest {
  readonly #scope: RouteScope;
  readonly #client: ClientSide;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #started = performance.now();
  /** Read once: the engine detaches `req.socket` when it has consumed the request body. */
  #clientAddress = '';
  #headers: string[] = [];
  #upstream?: Upstream;
  /** Backends already tried, created on the first retry. */
  #tried?: Set<Upstream>;
  #abort?: (err?: Error) => void;
  #resume?: () => void;
  #connected = false;
  #bodySent = false;
  /** The backend's status once its headers were forwarded; 0 before. */
  #status = 0;
  #clientGone = false;
  /** The first body chunk, not written yet (see HOLD_MAX_BYTES). */
  #held?: Buffer;
  /** A body chunk has been handed on (held or written): later ones are written at once. */
  #bodyStarted = false;

  constructor(scope: RouteScope, client: ClientSide, req: IncomingMessage, res: ServerResponse) {
    this.#scope = scope;
    this.#client = client;
    this.#req = req;
    this.#res = res;
  }

  start(): void {
    this.#clientAddress = this.#req.socket.remoteAddress ?? '';
    const url = this.#req.url ?? '';
    const headers = url.charCodeAt(0) === 47 /* '/' */ ? requestHeaders(this.#req, this.#client.proto, false) : undefined;
    if (!headers) {
      this.#reply(400);
      return;
    }
    const upstream = this.#scope.pick(this.#clientAddress);
    if (!upstream) {
      this.#reply(503);
      return;
    }
    this.#headers = headers;
    this.#send(upstream);
  }

  #send(upstream: Upstream): void {
    const settings = this.#scope.settings;
    this.#upstream = upstream;
    this.#connected = false;
    this.#abort = undefined;
    upstream.acquire();
    upstream.dispatch(
      {
        method: this.#req.method ?? 'GET',
        path: this.#req.url ?? '/',
        headers: this.#headers,
        body: hasBody(this.#req.rawHeaders) ? this.#req : null,
        responseTimeoutMs: settings.responseTimeoutMs,
        idleTimeoutMs: settings.idleTimeoutMs,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#clientGone) {
      abort();
      return;
    }
    this.#abort = abort;
    this.#connected = true;
  }

  onBodySent(): void {
    this.#bodySent = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const res = this.#res;
    if (statusCode < 200) {
      forwardInterim(res, statusCode, rawHeaders);
      return true;
    }
    this.#resume = resume;
    if (this.#client.closing) res.shouldKeepAlive = false;
    // The engine stops its body timeout while paused by a client that does not read; the client
    // socket's own inactivity timeout bounds that instead (the server resets it after the response).
    res.socket?.setTimeout(this.#scope.settings.idleTimeoutMs);
    // May throw on a header value Node refuses to send; undici then aborts and onError answers 502.
    res.writeHead(statusCode, statusText, responseHeaders(rawHeaders));
    this.#status = statusCode;
    this.#scope.succeeded(this.#upstream!);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.#bodyStarted) {
      this.#bodyStarted = true;
      if (chunk.length <= HOLD_MAX_BYTES) {
        // The engine parses a whole read at once: when it held the whole response, onComplete comes
        // before this microtask, which otherwise sends the chunk without waiting for more.
        this.#held = chunk;
        queueMicrotask(this.#flushHeld);
        return true;
      }
    }
    this.#flushHeld();
    return this.#write(chunk);
  }

  #write(chunk: Buffer): boolean {
    if (this.#res.write(chunk)) return true;
    this.#res.once('drain', this.#resume!);
    return false;
  }

  readonly #flushHeld = (): void => {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    if (!this.#res.destroyed) this.#write(held);
  };

  onComplete(): void {
    const held = this.#held;
    this.#held = undefined;
    // A string, unlike a Buffer, is joined to the pending head by node:http: one write, not a writev
    // of two. latin1 maps bytes to characters one to one, so the body is sent unchanged.
    if (held === undefined) this.#res.end();
    else this.#res.end(held.toString('latin1'), 'latin1');
    this.#finish(this.#status);
  }

  onError(err: Error): void {
    const upstream = this.#upstream!;
    if (this.#clientGone) {
      this.#finish(499);
      return;
    }
    if (BODILESS.has(this.#status) && (err as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
      // RFC 9110 §8.6: a 204 or 304 may state a Content-Length and has no body. undici 7 takes the
      // missing body for a short one (undici 8 accepts it); the response is complete all the same.
      this.onComplete();
      return;
    }
    const failure = classifyFailure(err, { connected: this.#connected, bodySent: this.#bodySent, method: this.#req.method ?? 'GET' });
    if (failure.blame === 'backend') this.#scope.failed(upstream, failure.kind);
    else if (failure.blame === 'proxy') this.#scope.internalError(upstream, err);
    this.#held = undefined;
    if (this.#status !== 0) {
      // Mid-body: the client must see a broken response, not a complete-looking short one.
      this.#res.destroy();
      this.#finish(this.#status);
      return;
    }
    const next = failure.retryable ? this.#scope.retry(upstream, (this.#tried ??= new Set()), this.#clientAddress) : undefined;
    if (next) {
      upstream.release();
      this.#send(next);
      return;
    }
    this.#reply(failure.status);
  }

  /** Answers with the proxy's own status; the upstream (if any) is released by #finish. */
  #reply(status: ProxyStatus): void {
    sendError(this.#res, status, this.#client.closing);
    this.#finish(status);
  }

  #finish(code: number): void {
    this.#upstream?.release();
    this.#scope.responded(this.#upstream, code, (performance.now() - this.#started) / 1000);
  }

  /** From the listener, which holds the response's one 'close' listener: a client gone before the end aborts the exchange. */
  responseClosed(): void {
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    this.#abort?.();
  }
}
