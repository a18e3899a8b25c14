// Pure: the answer of /readyz, in kube-apiserver's verbose format (one `[+]check ok` or
// `[-]check failed: why` line per check, then `readyz check passed|failed`).
//
// The listener rule: the process is not ready while pools ask for listeners and none of them is
// open, as for a sidecar whose only listener failed. Once at least one is open, a failed one is
// listed but does not fail readiness: failing it would take the Pod out of its Service and stop the
// traffic of every other pool (one tenant's busy port is that pool's problem, on its status).
import type { ObjectKey } from '../api/keys.js';

/**
 * A check of one component (e.g. `nginx`): its failure, or undefined when it is ready; `ok` words a
 * passing line, `details` are listed beneath it (what is wrong without failing readiness).
 */
export interface ReadinessCheck {
  name: string;
  failure?: string;
  ok?: string;
  details?: readonly string[];
}

export interface ReadinessInput {
  stopping: boolean;
  /** Every source has synced. */
  synced: boolean;
  /** Pools present at sync without a successful reconcile yet. */
  unreconciled: readonly ObjectKey[];
  /** Each pool the proxy serves: whether its listener is open, and why the planned one is not. */
  listeners: readonly { pool: ObjectKey; open: boolean; problem?: string }[];
  checks?: readonly ReadinessCheck[];
}

export interface Readiness {
  ready: boolean;
  body: string;
}

const MAX_LISTED = 10;

function list(keys: readonly string[]): string {
  const more = keys.length - MAX_LISTED;
  return keys.slice(0, MAX_LISTED).join(', ') + (more > 0 ? ` and ${more} more` : '');
}

export function readiness(input: ReadinessInput): Readiness {
  const lines: string[] = [];
  let ready = true;
  const check = (name: string, failure: string | undefined, ok = 'ok', details: readonly string[] = []) => {
    if (failure) ready = false;
    lines.push(failure ? `[-]${name} failed: ${failure}` : `[+]${name} ${ok}`, ...details.map((d) => `    ${d}`));
  };
  check('shutdown', input.stopping ? 'shutting down' : undefined);
  check('sources', input.synced ? undefined : 'not synced yet');
  check('reconcile', input.unreconciled.length > 0 ? `no successful reconcile yet for ${list(input.unreconciled)}` : undefined);
  const open = input.listeners.filter((l) => l.open).length;
  const failed = input.listeners.filter((l) => l.problem).map((l) => `${l.pool}: ${l.problem}`);
  const total = input.listeners.length;
  for (const c of input.checks ?? []) check(c.name, c.failure, c.ok, c.details);
  check('listeners', total > 0 && open === 0 ? `0 of ${total} open` : undefined, total === 0 ? 'ok: none planned' : `ok: ${open} of ${total} open`, failed);
  lines.push(ready ? 'readyz check passed' : 'readyz check failed');
  return { ready, body: lines.join('\n') + '\n' };
}
