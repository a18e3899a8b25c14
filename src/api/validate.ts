// Turns raw manifest documents into typed objects, or into field errors phrased as the Kubernetes
// API phrases them ("spec.listener.port: must be <= 65535"), so every caller reports the same way.
import type { z } from 'zod';
import { GROUP, SCHEMAS, type KubeObject, type ObjectKind } from './schema.js';

export interface FieldError {
  /** Dotted field path, e.g. `spec.endpoints[1].port`; empty for the whole document. */
  path: string;
  message: string;
}

export type ParseResult = { ok: true; object: KubeObject } | { ok: false; kind?: string; name?: string; errors: FieldError[] };

/** The registry of the kinds Ballast reads, each at the one apiVersion it reads it at. */
export const KINDS = Object.keys(SCHEMAS) as ObjectKind[];
export const API_VERSIONS = Object.fromEntries(KINDS.map((k) => [k, SCHEMAS[k].shape.apiVersion.value])) as Record<ObjectKind, string>;

export function isKnownKind(kind: unknown): kind is ObjectKind {
  return typeof kind === 'string' && Object.hasOwn(SCHEMAS, kind);
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

/**
 * What to do with a manifest document of this apiVersion and kind: read it, skip it (a kind Ballast
 * does not read, such as a Deployment or a Knative `serving.knative.dev` Service), or refuse it. A
 * document that names our group, or a group and kind we read at another version, is a mistake rather
 * than someone else's object.
 */
export function classifyDocument(apiVersion: unknown, kind: unknown): { read: ObjectKind } | { skip: true } | { errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (typeof apiVersion !== 'string' || apiVersion === '') errors.push({ path: 'apiVersion', message: 'apiVersion is required' });
  if (typeof kind !== 'string' || kind === '') errors.push({ path: 'kind', message: 'kind is required' });
  if (errors.length > 0) return { errors };
  const [v, k] = [apiVersion as string, kind as string];
  if (isKnownKind(k)) {
    if (API_VERSIONS[k] === v) return { read: k };
    if (groupOf(API_VERSIONS[k]) !== groupOf(v)) return { skip: true };
    return { errors: [{ path: 'apiVersion', message: `Unsupported value ${JSON.stringify(v)}: supported values: ${JSON.stringify(API_VERSIONS[k])}` }] };
  }
  if (groupOf(v) !== GROUP) return { skip: true };
  const ours = KINDS.filter((known) => groupOf(API_VERSIONS[known]) === GROUP);
  return { errors: [{ path: 'kind', message: `Unsupported value ${JSON.stringify(k)}: supported values: ${ours.map((o) => JSON.stringify(o)).join(', ')}` }] };
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'too_big':
      if (issue.origin === 'string') return `must be no more than ${issue.maximum} characters`; // the API server's words
      return issue.origin === 'array' ? `must have at most ${issue.maximum} items` : `must be ${issue.inclusive === false ? '<' : '<='} ${issue.maximum}`;
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `must have at least ${issue.minimum} ${issue.origin === 'array' ? 'item' : 'character'}${Number(issue.minimum) === 1 ? '' : 's'}`
        : `must be ${issue.inclusive === false ? '>' : '>='} ${issue.minimum}`;
    case 'invalid_type': {
      const value = valueAt(input, issue.path);
      if (value === undefined) return 'Required value';
      // YAML's .nan and .inf, and 1e400, are numbers to JavaScript; JSON and the API server have no such thing.
      if (typeof value === 'number' && !Number.isFinite(value)) return 'must be a finite number';
      return `must be ${article(issue.expected)}, got ${typeName(value)}`;
    }
    case 'invalid_format':
      return `Invalid value: ${JSON.stringify(valueAt(input, issue.path))}: ${issue.message}`;
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
  const doc = raw as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  const name = typeof doc.metadata?.name === 'string' ? doc.metadata.name : undefined;
  const kind = classifyDocument(doc.apiVersion, doc.kind);
  if ('errors' in kind) return { ok: false, name, errors: kind.errors };
  if ('skip' in kind) {
    return { ok: false, name, errors: [{ path: 'kind', message: `Unsupported value ${JSON.stringify(doc.kind)}: supported values: ${KINDS.join(', ')}` }] };
  }
  const result = SCHEMAS[kind.read].safeParse(raw);
  if (result.success) return { ok: true, object: result.data as KubeObject };
  return {
    ok: false,
    kind: kind.read,
    name,
    errors: result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue, raw) })),
  };
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
}
