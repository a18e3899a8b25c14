// The upgrade path (WebSocket and any other `Upgrade`): one dedicated backend connection per client
// connection, spliced byte for byte after the 101. Written on node:http rather than http-proxy-3's
// ws() because the tunnel must count as in-flight on its backend, be cut when that backend's drain
// runs out, share the HTTP path's retries and timeouts, and close both halves on any error
// (docs/adr/0001-proxy-engine.md).
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { writeRawError, type ProxyStatus } from './error-response.js';
import { classifyFailure } from './failure.js';
import { requestHeaders, responseHeaders } from './forwarded-headers.js';
import type { ClientSide, RouteScope } from './route-scope.js';
import type { Upstream } from './upstream.js';

/** Status line and headers of a raw response. */
function head(statusCode: number, statusMessage: string, headers: string[]): string {
  let out = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${out}\r\n`;
}

/** Errors for what node:http does not report itself, coded as the engine's, for classifyFailure. */
const CONNECT_TIMEOUT = Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
const RESPONSE_TIMEOUT = Object.assign(new Error('upgrade response timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
const CLOSED = Object.assign(new Error('closed before a response'), { code: 'ECONNRESET' });

export class ForwardUpgrade {
  readonly #scope: RouteScope;
  readonly #client: ClientSide;
  readonly #req: IncomingMessage;
  readonly #socket: Socket;
  readonly #head: Buffer;
  readonly #started = performance.now();
  #headers: string[] = [];
  #tried?: Set<Upstream>;
  #pending?: ClientRequest;
  #timer?: NodeJS.Timeout;
  #connected = false;
  #over = false;

  constructor(scope: RouteScope, client: ClientSide, req: IncomingMessage, socket: Socket, head: Buffer) {
    this.#scope = scope;
    this.#client = client;
    this.#req = req;
    this.#socket = socket;
    this.#head = head;
  }

  start(): void {
    const socket = this.#socket;
    // Until the tunnel exists, a client that goes away only cancels the pending backend request.
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.#pending?.destroy());
    const headers = requestHeaders(this.#req, this.#client.proto, true);
    if (!headers) {
      this.#reply(400, undefined);
      return;
    }
    const upstream = this.#scope.pick(this.#req.socket.remoteAddress ?? '');
    if (!upstream) {
      this.#reply(503, undefined);
      return;
    }
    this.#headers = headers;
    this.#send(upstream);
  }

  #send(upstream: Upstream): void {
    const settings = this.#scope.settings;
    upstream.acquire();
    this.#connected = false;
    let pending: ClientRequest;
    try {
      pending = request({
        host: upstream.address,
        port: upstream.port,
        method: this.#req.method,
        path: this.#req.url,
        headers: this.#headers,
        // A dedicated connection: after the 101 it belongs to this tunnel alone.
        agent: false,
      });
    } catch (err) {
      this.#failed(upstream, err as Error);
      return;
    }
    this.#pending = pending;
    const timeout = (err: Error) => pending.destroy(err);
    this.#timer = setTimeout(timeout, upstream.connectTimeoutMs, CONNECT_TIMEOUT);
    pending.once('socket', (s) =>
      s.once('connect', () => {
        this.#connected = true;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(timeout, settings.responseTimeoutMs, RESPONSE_TIMEOUT);
      }),
    );
    pending.once('upgrade', (res, upSocket, upHead) => this.#guard(upstream, upSocket, () => this.#splice(upstream, res, upSocket as Socket, upHead)));
    pending.once('response', (res) => this.#guard(upstream, res, () => this.#relay(upstream, res)));
    // Only the attempt still pending may fail; later errors belong to the tunnel. A close with no
    // outcome (no error, no response) counts as a reset, so the backend is always released.
    pending.on('error', (err) => this.#pending === pending && this.#failed(upstream, err));
    pending.once('close', () => this.#pending === pending && this.#failed(upstream, CLOSED));
    pending.end();
  }

  #failed(upstream: Upstream, err: Error): void {
    clearTimeout(this.#timer);
    this.#pending = undefined;
    if (this.#socket.destroyed) {
      this.#scope.responded(upstream, 499, this.#elapsed());
      this.#end(upstream);
      return;
    }
    const failure = classifyFailure(err, { connected: this.#connected, bodySent: false, method: this.#req.method ?? 'GET' });
    if (failure.blame === 'backend') this.#scope.failed(upstream, failure.kind);
    else if (failure.blame === 'proxy') this.#scope.internalError(upstream, err);
    const next = failure.retryable ? this.#scope.retry(upstream, (this.#tried ??= new Set()), this.#req.socket.remoteAddress ?? '') : undefined;
    if (next) {
      upstream.release();
      this.#send(next);
      return;
    }
    this.#reply(failure.status, upstream);
  }

  /** The backend switched protocols: answer the client and join the two connections. */
  #splice(upstream: Upstream, res: IncomingMessage, upSocket: Socket, upHead: Buffer): void {
    clearTimeout(this.#timer);
    this.#pending = undefined;
    const socket = this.#socket;
    this.#scope.succeeded(upstream);
    this.#scope.responded(upstream, 101, this.#elapsed());
    // A side that closes lets the other flush what it was sent, then closes it too; an error or an
    // idle timeout cuts both at once.
    let open = 2;
    const closed = () => --open === 0 && this.#end(upstream);
    const cut = () => {
      socket.destroy();
      upSocket.destroy();
    };
    socket.once('close', () => (upSocket.destroySoon(), closed()));
    upSocket.once('close', () => (socket.destroySoon(), closed()));
    socket.on('error', cut);
    upSocket.on('error', cut);
    if (socket.destroyed) {
      cut();
      return;
    }
    upstream.track(socket);
    upstream.track(upSocket);
    const idleMs = this.#scope.settings.idleTimeoutMs;
    for (const s of [socket, upSocket]) {
      s.setNoDelay(true);
      s.setTimeout(idleMs);
      s.once('timeout', cut);
    }
    socket.write(head(101, res.statusMessage ?? 'Switching Protocols', responseHeaders(res.rawHeaders, true)));
    if (upHead.length > 0) socket.write(upHead);
    if (this.#head.length > 0) upSocket.write(this.#head);
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  }

  /** The backend refused the upgrade with a plain response: pass it on, then close. */
  #relay(upstream: Upstream, res: IncomingMessage): void {
    clearTimeout(this.#timer);
    this.#pending = undefined;
    const socket = this.#socket;
    const status = res.statusCode ?? 502;
    this.#scope.succeeded(upstream);
    this.#scope.responded(upstream, status, this.#elapsed());
    socket.once('close', () => (res.destroy(), this.#end(upstream)));
    res.once('error', () => socket.destroy());
    socket.setTimeout(this.#scope.settings.idleTimeoutMs);
    socket.once('timeout', () => socket.destroy());
    // The body goes out decoded, delimited by closing the connection (RFC 9112 §6.3), so the
    // backend's framing headers do not apply.
    const headers = responseHeaders(res.rawHeaders).filter((_, i, all) => (i % 2 === 0 ? all[i] : all[i - 1]).toLowerCase() !== 'content-length');
    socket.write(head(status, res.statusMessage ?? '', [...headers, 'connection', 'close']));
    res.pipe(socket);
  }

  /** Runs an event handler of the exchange; an exception in it closes this connection, not the process. */
  #guard(upstream: Upstream, backendSide: { destroy(): void }, handler: () => void): void {
    try {
      handler();
    } catch (err) {
      this.#scope.internalError(upstream, err);
      backendSide.destroy();
      this.#socket.destroy();
      this.#end(upstream);
    }
  }

  #reply(status: ProxyStatus, upstream: Upstream | undefined): void {
    writeRawError(this.#socket, status);
    this.#scope.responded(upstream, status, this.#elapsed());
    this.#end(upstream);
  }

  #elapsed(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** Called once per client connection, when it is over: releases the backend. */
  #end(upstream: Upstream | undefined): void {
    if (this.#over) return;
    this.#over = true;
    upstream?.release();
  }
}
