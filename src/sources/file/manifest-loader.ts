// Reads manifest files (multi-document YAML, JSON, `kind: List`) into typed objects, one result per
// document, with errors that name the file, the document and the field.
import { parseAllDocuments } from 'yaml';
import { DEFAULT_NAMESPACE } from '../../api/keys.js';
import type { KubeObject } from '../../api/schema.js';
import { formatFieldErrors, isKnownKind, parseObject, type FieldError } from '../../api/validate.js';

export const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** Identifies an object across re-reads, so a broken document can keep its last good version. */
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
  /** Set when the file as a whole could not be read or parsed: no document can be trusted. */
  error?: string;
}

export function identityKey(i: Identity): string {
  return `${i.kind}/${i.namespace}/${i.name}`;
}

export function identityOf(raw: unknown): Identity | undefined {
  const doc = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
  const name = doc?.metadata?.name;
  if (typeof doc?.kind !== 'string' || typeof name !== 'string') return undefined;
  const ns = doc.metadata?.namespace;
  return { kind: doc.kind, namespace: typeof ns === 'string' && ns ? ns : DEFAULT_NAMESPACE, name };
}

function rawDocuments(file: string, text: string): unknown[] {
  if (file.endsWith('.json')) {
    const parsed: unknown = JSON.parse(text);
    return [parsed];
  }
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(doc.errors[0].message.split('\n')[0]);
    out.push(doc.toJS());
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
  const documents: LoadedDocument[] = [];
  raws.forEach((raw, i) => {
    const index = i + 1;
    if (raw === null || raw === undefined) return; // an empty document between `---` separators
    const kind = (raw as { kind?: unknown }).kind;
    if (typeof kind === 'string' && !isKnownKind(kind)) return;
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
