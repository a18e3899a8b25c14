// Parses manifest text (multi-document YAML, JSON, `kind: List`) into typed objects, one result per
// document, with errors that name the file, the document and the field. Pure and bounded, so it can
// run in a worker thread (manifest-parser.ts) and in the offline commands alike.
import { isCollection, isMap, isScalar, parseAllDocuments, visit, type Document, type YAMLError } from 'yaml';
import { DEFAULT_NAMESPACE } from '../../api/keys.js';
import type { KubeObject } from '../../api/schema.js';
import { classifyDocument, formatFieldErrors, parseObject, type FieldError } from '../../api/validate.js';

/** Documents read from one file (`kind: List` items count one each). */
const MAX_DOCUMENTS = 1000;
/** Keys in one mapping of a document Ballast reads. */
const MAX_KEYS = 10_000;

/** Names an object in messages. */
export interface Identity {
  kind: string;
  namespace: string;
  name: string;
}

export type LoadedDocument =
  | { file: string; index: number; ok: true; object: KubeObject }
  | { file: string; index: number; ok: false; identity?: Identity; errors: FieldError[] };

export interface LoadedFile {
  file: string;
  documents: LoadedDocument[];
  /** Set when the file as a whole could not be parsed: no document can be trusted. */
  error?: string;
}

function identityOf(raw: unknown): Identity | undefined {
  const doc = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  const name = doc?.metadata?.name;
  if (typeof doc?.kind !== 'string' || typeof name !== 'string') return undefined;
  const ns = doc.metadata?.namespace;
  return { kind: doc.kind, namespace: typeof ns === 'string' && ns ? ns : DEFAULT_NAMESPACE, name };
}

class ParseError extends Error {}

/** `<message> at line L, column C:` then the line and a caret under the column. */
function pointAt(text: string, at: number, message: string): ParseError {
  // At the end of the input (an unclosed quote or bracket), point after the last thing written instead.
  const offset = text.slice(at).trim() === '' ? text.trimEnd().length : at;
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  const end = text.indexOf('\n', offset);
  const line = text.slice(start, end < 0 ? undefined : end).replace(/\r$/, '');
  const lineNo = text.slice(0, start).split('\n').length;
  const col = offset - start;
  // A very long line (minified JSON-in-YAML) is cut to a window around the column.
  const from = Math.max(0, col - 60);
  const shown = (from > 0 ? '…' : '') + line.slice(from, from + 120) + (line.length > from + 120 ? '…' : '');
  const caret = ' '.repeat(col - from + (from > 0 ? 1 : 0)) + '^';
  return new ParseError(`${message} at line ${lineNo}, column ${col + 1}:\n${shown}\n${caret}`);
}

/** V8's JSON errors, on one line: its own text may quote the input, newlines and all. */
function jsonError(err: Error, text: string): ParseError {
  const message = err.message
    .replace(/, (?:\.\.\.)?"[\s\S]*" is not valid JSON$/, '')
    .replace(/ in JSON at position \d+[\s\S]*$/, '')
    .replace(/\s+/g, ' ');
  const at = /at position (\d+)/.exec(err.message); // not every V8 message has one
  if (!at) return new ParseError(`invalid JSON: ${message}`);
  const offset = Number(at[1]);
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return new ParseError(`invalid JSON: ${message} at line ${text.slice(0, start).split('\n').length}, column ${offset - start + 1}`);
}

// A document starts at a `---` line; YAML forbids that marker inside any scalar, so splitting on it is
// exact for valid YAML. A directive (`%YAML`) belongs to the next document: such files are not split.
const DOCUMENT_START = /^---(?=[ \t\r]|$)/gm;
// In a document that is a block mapping at column 0, a `kind:` or `apiVersion:` line at column 0 is a
// top-level key; a quoted or flow scalar cannot continue at column 0.
const FIRST_KEY = /^(?:[ \t]*(?:#.*)?\r?\n)*[A-Za-z0-9_][^:\n]*:(?:[ \t]|\r?$)/;
const KIND_LINE = /^kind:[ \t]*(["']?)([A-Za-z0-9]+)\1[ \t]*(?:#.*)?\r?$/gm;
const API_VERSION_LINE = /^apiVersion:[ \t]*(["']?)([A-Za-z0-9./-]+)\1[ \t]*(?:#.*)?\r?$/gm;

function chunksOf(text: string): { offset: number; text: string }[] {
  if (/^%/m.test(text)) return [{ offset: 0, text }];
  const starts = [0, ...[...text.matchAll(DOCUMENT_START)].map((m) => m.index!).filter((i) => i > 0)];
  return starts.map((offset, i) => ({ offset, text: text.slice(offset, starts[i + 1]) }));
}

/** Whether a document is surely of a kind Ballast does not read, from its text alone (no parse at all). */
function surelySkipped(chunk: string): boolean {
  const body = chunk.startsWith('---') ? chunk.slice(chunk.indexOf('\n') + 1) : chunk;
  if (chunk.startsWith('---') && /^---[ \t]*[^ \t\r\n#]/.test(chunk)) return false; // `--- {…}`, `--- !tag`
  if (!FIRST_KEY.test(body)) return false;
  const kinds = [...body.matchAll(KIND_LINE)];
  const versions = [...body.matchAll(API_VERSION_LINE)];
  if (kinds.length !== 1 || versions.length !== 1) return false;
  return skipped(versions[0][2], kinds[0][2]);
}

// `kind: List` (kubectl get -o yaml) is no kind of its own: its items are read.
const skipped = (apiVersion: unknown, kind: unknown) => kind !== 'List' && 'skip' in classifyDocument(apiVersion, kind);

/**
 * Duplicate keys, keys that are collections, and oversized mappings, in one pass. (The yaml package's
 * own `uniqueKeys` check compares each key with every earlier one: a 40,000-key map took 7 s.)
 */
function checkMappings(doc: Document, text: string, offset: number): void {
  visit(doc, {
    Map(_, map) {
      if (map.items.length > MAX_KEYS) throw pointAt(text, offset + (map.range?.[0] ?? 0), `a mapping has ${map.items.length} keys; at most ${MAX_KEYS} are read`);
      const seen = new Set<string>();
      for (const { key } of map.items) {
        const at = offset + ((key as { range?: [number] } | null)?.range?.[0] ?? map.range?.[0] ?? 0);
        if (isCollection(key)) throw pointAt(text, at, 'a mapping key must be a string or a number, not a collection');
        const value: unknown = isScalar(key) ? key.value : key;
        const id = `${typeof value}:${String(value)}`;
        if (seen.has(id)) throw pointAt(text, at, 'Map keys must be unique');
        seen.add(id);
      }
    },
  });
}

function yamlError(err: YAMLError, text: string, offset: number): ParseError {
  return pointAt(text, offset + err.pos[0], err.message.replace(/ at line \d+, column \d+[\s\S]*$/, ''));
}

function rawDocuments(file: string, text: string): unknown[] {
  if (file.endsWith('.json')) {
    try {
      return [JSON.parse(text)];
    } catch (err) {
      throw jsonError(err as Error, text);
    }
  }
  const chunks = chunksOf(text);
  if (chunks.length > MAX_DOCUMENTS) throw new ParseError(`has ${chunks.length} documents; at most ${MAX_DOCUMENTS} are read from one file`);
  const out: unknown[] = [];
  for (const chunk of chunks) {
    if (surelySkipped(chunk.text)) {
      out.push(undefined); // keeps the numbering of the documents after it
      continue;
    }
    // logLevel 'error': the yaml package would print its warnings on stderr (process.emitWarning).
    for (const doc of parseAllDocuments(chunk.text, { uniqueKeys: false, prettyErrors: false, logLevel: 'error' }) as Document[]) {
      if (doc.errors.length > 0) throw yamlError(doc.errors[0], text, chunk.offset);
      if (isMap(doc.contents) && skipped(doc.contents.get('apiVersion'), doc.contents.get('kind'))) {
        out.push(undefined);
        continue;
      }
      checkMappings(doc, text, chunk.offset);
      out.push(doc.toJS({ maxAliasCount: 100 }));
    }
  }
  return out;
}

/** Kinds Ballast does not read (a Deployment next to the pool, say) are skipped, not errors. */
export function loadManifest(file: string, text: string): LoadedFile {
  let raws: unknown[];
  try {
    raws = rawDocuments(file, text);
  } catch (err) {
    return { file, documents: [], error: (err as Error).message };
  }
  // `kind: List` (kubectl get -o yaml) holds its objects in `items`.
  raws = raws.flatMap((r) => {
    const list = r as { kind?: unknown; items?: unknown };
    return list && list.kind === 'List' && Array.isArray(list.items) ? list.items : [r];
  });
  if (raws.length > MAX_DOCUMENTS) return { file, documents: [], error: `has ${raws.length} documents; at most ${MAX_DOCUMENTS} are read from one file` };
  const documents: LoadedDocument[] = [];
  raws.forEach((raw, i) => {
    const index = i + 1;
    if (raw === null || raw === undefined) return; // an empty document between `---` separators, or a skipped one
    const doc = raw as { apiVersion?: unknown; kind?: unknown };
    if (typeof raw === 'object' && !Array.isArray(raw) && skipped(doc.apiVersion, doc.kind)) return;
    const result = parseObject(raw);
    if (result.ok) {
      result.object.metadata.namespace ??= DEFAULT_NAMESPACE;
      documents.push({ file, index, ok: true, object: result.object });
    } else {
      documents.push({ file, index, ok: false, identity: identityOf(raw), errors: result.errors });
    }
  });
  return { file, documents };
}

/** `manifests/dev/web.yaml#1 spec.listener.port: must be <= 65535` */
export function describeDocumentError(displayFile: string, doc: Extract<LoadedDocument, { ok: false }>): string {
  const who = doc.identity ? ` (${doc.identity.kind} ${doc.identity.namespace}/${doc.identity.name})` : '';
  return `${displayFile}#${doc.index} ${formatFieldErrors(doc.errors)}${who}`;
}

/** What a set of files declares, in file order: the first declaration of an object wins, and every later one is an error. */
export function mergeDeclarations(files: readonly { file: string; display: string; objects: readonly KubeObject[] }[]): {
  objects: KubeObject[];
  errors: Map<string, string[]>;
  /** The file (as displayed) that declares each object kept, by `declarationId`. */
  origins: Map<string, string>;
} {
  const first = new Map<string, string>();
  const objects: KubeObject[] = [];
  const errors = new Map<string, string[]>();
  for (const { file, display, objects: declared } of files) {
    for (const o of declared) {
      const id = declarationId(o.kind, o.metadata.namespace, o.metadata.name);
      const other = first.get(id);
      if (other === undefined) {
        first.set(id, display);
        objects.push(o);
      } else {
        errors.set(file, [...(errors.get(file) ?? []), `${display}: ${id} is already declared in ${other}; this one is ignored`]);
      }
    }
  }
  return { objects, errors, origins: first };
}

/** How an object is named in duplicate-declaration errors and origins: `BalancerPool default/web`. */
export const declarationId = (kind: string, namespace: string | undefined, name: string) => `${kind} ${namespace}/${name}`;
