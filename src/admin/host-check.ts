// DNS-rebinding defence for the admin listener. A web page can make a browser send requests to a
// loopback or Pod address under a name the page's author controls (the name is re-pointed at that
// address after the page loaded); the request then carries that name in Host. Refusing unknown names
// closes the hole: an IP literal cannot be re-pointed, so probes and scrapers that use the Pod IP or
// 127.0.0.1 keep working. The same rule as webpack-dev-server's and Vite's `allowedHosts`.
import { isIP } from 'node:net';

/** The host part of a Host header (`name`, `name:port`, `[v6]:port`), lower case, trailing dot dropped. */
function hostName(header: string): string {
  const name = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d*$/, '');
  return name.toLowerCase().replace(/\.$/, '');
}

/**
 * Whether a request with this Host header may be answered: no Host (no browser omits it), an IP
 * literal, `localhost` or a name under `.localhost` (RFC 6761: always loopback), the host the admin
 * listener was configured with (without port), or one of `allowed`: an exact name, or `.example.com` for that name
 * and every name under it.
 */
export function hostAllowed(adminHost: string, allowed: readonly string[]): (host: string | undefined) => boolean {
  // The listener's host as configured: already without brackets and port.
  const own = adminHost.toLowerCase();
  const exact = new Set(allowed.filter((a) => !a.startsWith('.')).map(hostName));
  const suffixes = allowed.filter((a) => a.startsWith('.')).map((a) => hostName(a));
  return (header) => {
    if (header === undefined) return true;
    const name = hostName(header);
    if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || name === own || exact.has(name)) return true;
    return suffixes.some((s) => name.endsWith(s) || name === s.slice(1));
  };
}
