/** Loose JSON shape of any Kubernetes object as the test API server stores it. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with sorted keys, so two values can be compared for semantic equality. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v);
}

/** Value at a dotted path with optional `[N]` indices (`.status.backends.ready`, `.spec.ports[0].port`). */
export function valueAtPath(obj: unknown, path: string): unknown {
  // Keys, `[N]` indexes, and the `[?(@.field=="value")]` filter that printer columns use for conditions.
  const tokens = path.match(/\[\?\(@\.\w+=="[^"]*"\)\]|[^.[\]]+|\[\d+\]/g) ?? [];
  let cur: unknown = obj;
  for (const token of tokens) {
    const filter = /^\[\?\(@\.(\w+)=="([^"]*)"\)\]$/.exec(token);
    if (filter) {
      cur = Array.isArray(cur) ? cur.find((item) => isRecord(item) && item[filter[1]] === filter[2]) : undefined;
    } else if (token.startsWith('[')) {
      cur = Array.isArray(cur) ? cur[Number(token.slice(1, -1))] : undefined;
    } else {
      cur = isRecord(cur) ? cur[token] : undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}
