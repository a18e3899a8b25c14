// Which namespaces may open proxy listeners, and on which ports: the operator's answer to "a tenant
// who can create a BalancerPool can open a port on the controller's Pods". Parsed from
// `--listener-namespaces`, e.g. `ballast-system,shop=8080-8089,shop=9000,*=10000-10099`.

export interface ListenerRule {
  /** A namespace, or `*` for any. */
  namespace: string;
  /** Inclusive; absent: any port. */
  ports?: { from: number; to: number };
}

export interface ListenerPolicy {
  rules: readonly ListenerRule[];
  /** The policy as the operator wrote it, quoted in the reason a pool is refused. */
  text: string;
}

/** Dev mode: the manifests are the user's own, every pool may listen anywhere. */
export const ANY_NAMESPACE: ListenerPolicy = { rules: [{ namespace: '*' }], text: '*' };

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function parsePort(text: string, entry: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new Error(`"${entry}": port "${text}" must be a number from 1 to 65535`);
  return n;
}

/** Parses `NAMESPACE[=PORT|=LOW-HIGH]` entries separated by commas; throws naming the bad entry. */
export function parseListenerPolicy(text: string): ListenerPolicy {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.some((e) => e === '')) throw new Error(`"${text}": expected NAMESPACE[=PORT|=LOW-HIGH] entries separated by commas`);
  const rules = entries.map((entry): ListenerRule => {
    const [namespace, ports, extra] = entry.split('=');
    if (extra !== undefined) throw new Error(`"${entry}": expected NAMESPACE[=PORT|=LOW-HIGH]`);
    if (namespace !== '*' && !NAMESPACE.test(namespace)) throw new Error(`"${entry}": "${namespace}" is not a namespace name (a DNS label) or *`);
    if (ports === undefined) return { namespace };
    const [low, high = low] = ports.split('-');
    const range = { from: parsePort(low, entry), to: parsePort(high, entry) };
    if (range.from > range.to) throw new Error(`"${entry}": the range ${ports} is empty`);
    return { namespace, ports: range };
  });
  return { rules, text: rules.map((r) => (r.ports ? `${r.namespace}=${r.ports.from === r.ports.to ? r.ports.from : `${r.ports.from}-${r.ports.to}`}` : r.namespace)).join(',') };
}

/** Whether a pool in `namespace` may listen on `port`. */
export function listenerAllowed(policy: ListenerPolicy, namespace: string, port: number): boolean {
  return policy.rules.some((r) => (r.namespace === '*' || r.namespace === namespace) && (!r.ports || (port >= r.ports.from && port <= r.ports.to)));
}
