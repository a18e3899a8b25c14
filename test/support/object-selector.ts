import type { KubeObject } from './kube-object.js';
import { StatusError } from './kube-status.js';

type Requirement = (values: Record<string, string | undefined>) => boolean;

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const EXISTS = new RegExp(String.raw`^(!?)\s*(${KEY})$`);

const SELECTABLE_FIELDS = ['metadata.name', 'metadata.namespace'];

/** Splits on commas that are not inside `in (a,b)` parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseLabelRequirement(text: string): Requirement {
  const eq = EQUALITY.exec(text);
  if (eq) {
    const [, key, op, value] = eq;
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  const set = SET.exec(text);
  if (set) {
    const [, key, op, list] = set;
    const values = new Set(list.split(',').map((v) => v.trim()));
    return op === 'in'
      ? (l) => l[key] !== undefined && values.has(l[key])
      : (l) => l[key] === undefined || !values.has(l[key]);
  }
  const exists = EXISTS.exec(text);
  if (exists) {
    const [, negate, key] = exists;
    return negate ? (l) => l[key] === undefined : (l) => l[key] !== undefined;
  }
  throw StatusError.badRequest(`unable to parse requirement: ${JSON.stringify(text)}`);
}

function parseFieldRequirement(text: string): Requirement {
  const eq = EQUALITY.exec(text);
  if (!eq) throw StatusError.badRequest(`invalid selector: '${text}'; can't understand '${text}'`);
  const [, field, op, value] = eq;
  if (!SELECTABLE_FIELDS.includes(field)) throw StatusError.badRequest(`field label not supported: ${field}`);
  return op === '!=' ? (f) => f[field] !== value : (f) => f[field] === value;
}

/**
 * `labelSelector` (equality, `!=`, `in`, `notin`, existence, `!key`) plus `fieldSelector`
 * (`metadata.name`, `metadata.namespace`) as list and watch accept them. Comma means AND.
 */
export class ObjectSelector {
  private constructor(
    private readonly labels: Requirement[],
    private readonly fields: Requirement[],
  ) {}

  static parse(labelSelector?: string | null, fieldSelector?: string | null): ObjectSelector {
    return new ObjectSelector(
      splitTopLevel(labelSelector ?? '').map(parseLabelRequirement),
      splitTopLevel(fieldSelector ?? '').map(parseFieldRequirement),
    );
  }

  matches(obj: KubeObject): boolean {
    const labels = obj.metadata.labels ?? {};
    const fields = { 'metadata.name': obj.metadata.name, 'metadata.namespace': obj.metadata.namespace ?? '' };
    return this.labels.every((r) => r(labels)) && this.fields.every((r) => r(fields));
  }
}
