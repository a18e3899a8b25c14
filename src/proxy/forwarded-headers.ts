// Header rewriting for the hop between client and backend (RFC 9110 §7.6.1): hop-by-hop headers stay
// on their hop, and the backend learns who the client was through X-Forwarded-*. Host passes through.
import type { IncomingMessage } from 'node:http';

/**
 * Hop-by-hop headers, plus `expect`: the server has already answered `100-continue`, and a second
 * `Expect` would make the backend wait for a continue the client will never see.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);
/** Connection options that name no header. */
const CONNECTION_OPTIONS = new Set(['close', 'keep-alive', 'upgrade']);

// Header bytes are latin1 on the wire (RFC 9110 §5.5); Node's server writes strings back as latin1.
const latin1 = (v: Buffer | string) => (typeof v === 'string' ? v : v.toString('latin1'));

const isHopByHop = (lower: string) => HOP_BY_HOP.has(lower) || lower.startsWith('proxy-');

/** Header names a `Connection` value lists besides its plain options: they are hop-by-hop too. */
function listedInConnection(value: string): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name && !CONNECTION_OPTIONS.has(name)) (listed ??= new Set()).add(name);
  }
  return listed;
}

/** Drops the `[name, value]` pairs of `headers` whose lower-cased name is in `names`. */
function without(headers: string[], names: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!names.has(headers[i].toLowerCase())) out.push(headers[i], headers[i + 1]);
  }
  return out;
}

/**
 * The headers to send to the backend, as a flat `[name, value, …]` list: hop-by-hop ones removed,
 * `X-Forwarded-For` extended with the client address, `X-Forwarded-Proto` and `-Host` set to what this
 * hop saw. For an upgrade, `Connection: upgrade` and the client's `Upgrade` are put back. The headers
 * Ballast sets are added after the client's `Connection` list is applied, so a client cannot name
 * them away (`Connection: close, X-Forwarded-For`; the class of CVE-2022-31813); a listed
 * `X-Forwarded-For` only drops the client's own value. Undefined when the request must not be
 * forwarded at all: more than one `Host` (RFC 9112 §3.2 wants a 400; backends would disagree on
 * which one counts).
 */
export function requestHeaders(req: IncomingMessage, proto: string, upgrade: boolean): string[] | undefined {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let host: string | undefined;
  let upgradeTo: string | undefined;
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) {
      if (lower === 'connection') listed = listedInConnection(raw[i + 1]);
      else if (lower === 'upgrade') upgradeTo = raw[i + 1];
      continue;
    }
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[i + 1] : `${forwardedFor}, ${raw[i + 1]}`;
    } else if (lower !== 'x-forwarded-proto' && lower !== 'x-forwarded-host') {
      if (lower === 'host') {
        if (host !== undefined) return undefined;
        host = raw[i + 1];
      }
      out.push(name, raw[i + 1]);
    }
  }
  const headers = listed ? without(out, listed) : out;
  if (listed?.has('x-forwarded-for')) forwardedFor = undefined;
  const client = req.socket.remoteAddress ?? '';
  headers.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`, 'x-forwarded-proto', proto);
  if (host !== undefined) headers.push('x-forwarded-host', host);
  if (upgrade && upgradeTo !== undefined) headers.push('connection', 'upgrade', 'upgrade', upgradeTo);
  return headers;
}

/**
 * The backend's response headers for the client, as a flat `[name, value, …]` list of strings:
 * hop-by-hop ones removed (the server sets its own framing and connection headers). For a 101
 * `Connection` and `Upgrade` are kept, since they are what the client's upgrade is waiting for.
 */
export function responseHeaders(raw: ReadonlyArray<Buffer | string>, upgrade = false): string[] {
  const out: string[] = [];
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]);
    const lower = name.toLowerCase();
    const value = latin1(raw[i + 1]);
    if (isHopByHop(lower) && !(upgrade && (lower === 'connection' || lower === 'upgrade'))) {
      if (lower === 'connection') listed = listedInConnection(value);
      continue;
    }
    out.push(name, value);
  }
  return listed ? without(out, listed) : out;
}
