// Turns raw manifest documents into typed objects, or into field errors phrased as the Kubernetes
// API phrases them ("spec.listener.port: must be <= 65535"), so every caller reports the same way.
import type { z } from 'zod';
import { SCHEMAS, type KubeObject, type ObjectKind } from './schema.js';

export interface FieldError {
  /** Dotted field path, e.g. `spec.endpoints[1].port`; empty for the whole document. */
  path: string;
  message: string;
}

export type ParseResult = { ok: true; object: KubeObject } | { ok: false; kind?: string; name?: string; errors: FieldError[] };

export const KINDS = Object.keys(SCHEMAS) as ObjectKind[];

export function isKnownKind(kind: unknown): kind is ObjectKind {
  return typeof kind === 'string' && kind in SCHEMAS;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `must have at most ${issue.maximum} ${issue.origin === 'array' ? 'items' : 'characters'}`
        : `must be ${issue.inclusive === false ? '<' : '<='} ${issue.maximum}`;
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `must have at least ${issue.minimum} ${issue.origin === 'array' ? 'item' : 'character'}${Number(issue.minimum) === 1 ? '' : 's'}`
        : `must be ${issue.inclusive === false ? '>' : '>='} ${issue.minimum}`;
    case 'invalid_type':
      return valueAt(input, issue.path) === undefined ? 'Required value' : `must be ${article(issue.expected)}, got ${typeName(valueAt(input, issue.path))}`;
    case 'invalid_value':
      return `Unsupported value ${JSON.stringify(valueAt(input, issue.path))}: supported values: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_union':
      return 'must be an integer port (1-65535) or a port name';
    default:
      return issue.message;
  }
}

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Validates one document of any kind Ballast reads. Unknown kinds are the caller's business. */
export function parseObject(raw: unknown): ParseResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, errors: [{ path: '', message: `must be an object, got ${typeName(raw)}` }] };
  }
  const doc = raw as { kind?: unknown; metadata?: { name?: unknown } };
  const name = typeof doc.metadata?.name === 'string' ? doc.metadata.name : undefined;
  if (!isKnownKind(doc.kind)) {
    return { ok: false, name, errors: [{ path: 'kind', message: `Unsupported value ${JSON.stringify(doc.kind)}: supported values: ${KINDS.join(', ')}` }] };
  }
  const result = SCHEMAS[doc.kind].safeParse(raw);
  if (result.success) return { ok: true, object: result.data as KubeObject };
  return {
    ok: false,
    kind: doc.kind,
    name,
    errors: result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue, raw) })),
  };
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
}
