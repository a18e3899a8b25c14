// What an upstream error means: which status the client gets, which metric kind it is, and whether a
// retry on another backend is safe.

/** Every value of the metric label `kind` of ballast_proxy_upstream_errors_total. */
export const FAILURE_KINDS = ['connect', 'connect_timeout', 'reset', 'response_timeout', 'protocol'] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

/**
 * What an error means. Only a backend's own failures (`blame: 'backend'`) count against its health,
 * and only they may be retried: a request refused for its own shape gets 400, and an error raised
 * inside the proxy gets 502 and a log line, so no client can eject a healthy backend.
 */
export type Failure =
  | {
      blame: 'backend';
      kind: FailureKind;
      /** The answer when no retry is made: 504 for a timeout, else 502. */
      status: 502 | 504;
      /** Whether the same request may go to another backend without risk of running twice. */
      retryable: boolean;
    }
  | { blame: 'request'; status: 400; retryable: false }
  | { blame: 'proxy'; status: 502; retryable: false };

/** How far an exchange got before it failed. */
export interface ExchangeProgress {
  /** A connection was established and the request started on it. */
  connected: boolean;
  /** Request body bytes were written to the backend. */
  bodySent: boolean;
  method: string;
}

/** RFC 9110 §9.2.2: repeating these has the same effect as sending them once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const TIMEOUTS: Record<string, FailureKind> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect_timeout',
  UND_ERR_HEADERS_TIMEOUT: 'response_timeout',
  UND_ERR_BODY_TIMEOUT: 'response_timeout',
};

const RESETS = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

/**
 * The engine refuses to send the request as it is (two Content-Length headers, a header value it
 * will not write, …): undici's codes, and node:http's on the upgrade path.
 */
const REFUSED_REQUESTS = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_UNESCAPED_CHARACTERS']);

const REFUSED: Failure = { blame: 'request', status: 400, retryable: false };
const INTERNAL: Failure = { blame: 'proxy', status: 502, retryable: false };

/** undici's SocketError says how much the connection had read before it broke. */
const reusedSocket = (err: Error) => ((err as { socket?: { bytesRead?: number } }).socket?.bytesRead ?? 0) > 0;

/**
 * Classifies an error that ended an exchange before any response byte reached the client.
 *
 * Retryable: any failure before a connection was made (nothing reached the backend), and a reset
 * before the response when no body byte was sent and either the connection had served earlier
 * responses (the backend closed an idle keep-alive connection as the request was written, so it never
 * saw it) or the method is idempotent (running it twice is harmless, as NGINX's `proxy_next_upstream
 * error` assumes). Never after body bytes were sent: the body cannot be replayed.
 */
export function classifyFailure(err: Error, progress: ExchangeProgress): Failure {
  const code = (err as { code?: string }).code ?? '';
  if (REFUSED_REQUESTS.has(code)) return REFUSED;
  // Network and engine errors carry an errno (`E…`) or an engine code (`UND_ERR_…`); Node's own
  // (`ERR_…`, such as ERR_INVALID_URL) and uncoded ones were raised by the proxy's code.
  if (code === '' || code.startsWith('ERR_')) return INTERNAL;
  const timeout = TIMEOUTS[code];
  if (!progress.connected) {
    // Covers refused, unreachable, connect timeouts and an upstream closed under the request.
    return { blame: 'backend', kind: timeout ?? 'connect', status: timeout ? 504 : 502, retryable: true };
  }
  if (timeout) return { blame: 'backend', kind: timeout, status: 504, retryable: false };
  if (RESETS.has(code)) {
    const retryable = !progress.bodySent && (IDEMPOTENT.has(progress.method) || reusedSocket(err));
    return { blame: 'backend', kind: 'reset', status: 502, retryable };
  }
  return { blame: 'backend', kind: 'protocol', status: 502, retryable: false };
}
