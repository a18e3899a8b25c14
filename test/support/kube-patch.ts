import { canonicalJson, isRecord } from './kube-object.js';
import { StatusError } from './kube-status.js';

export type PatchType = 'merge' | 'json' | 'strategic';

/** RFC 7386: objects merge recursively, `null` deletes a key, everything else (arrays too) replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/**
 * Strategic merge reduced to what EndpointSlice/ConfigMap/Lease need: their lists carry no
 * `patchStrategy:"merge"` tag, so SMP equals a merge patch once the `$`-directives are dropped.
 */
function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value)
    .filter(([key]) => !key.startsWith('$'))
    .map(([key, v]) => [key, stripDirectives(v)]));
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw StatusError.badRequest(`invalid JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function patchFailure(op: string, pointer: string, why: string): StatusError {
  return new StatusError(422, 'Invalid', `${op} operation does not apply: doc is missing path: "${pointer}": ${why}`);
}

function arrayIndex(arr: unknown[], token: string, forInsert: boolean): number | undefined {
  if (forInsert && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
  const index = Number(token);
  return index < arr.length || (forInsert && index === arr.length) ? index : undefined;
}

/** The container that holds the last token of `pointer`, which must exist. */
function parentOf(doc: unknown, tokens: string[], op: string, pointer: string): unknown {
  let cur = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) {
      const index = arrayIndex(cur, token, false);
      if (index === undefined) throw patchFailure(op, pointer, 'missing value');
      cur = cur[index];
    } else if (isRecord(cur) && token in cur) {
      cur = cur[token];
    } else {
      throw patchFailure(op, pointer, 'missing value');
    }
  }
  return cur;
}

function getAt(doc: unknown, pointer: string, op: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, false);
    if (index !== undefined) return parent[index];
  } else if (isRecord(parent) && last in parent) {
    return parent[last];
  }
  throw patchFailure(op, pointer, 'missing value');
}

function addAt(doc: unknown, pointer: string, value: unknown, op: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, true);
    if (index === undefined) throw patchFailure(op, pointer, 'index out of range');
    parent.splice(index, 0, value);
  } else if (isRecord(parent)) {
    parent[last] = value;
  } else {
    throw patchFailure(op, pointer, 'parent is not a container');
  }
  return doc;
}

function removeAt(doc: unknown, pointer: string, op: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return null;
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, false);
    if (index === undefined) throw patchFailure(op, pointer, 'missing value');
    parent.splice(index, 1);
  } else if (isRecord(parent) && last in parent) {
    delete parent[last];
  } else {
    throw patchFailure(op, pointer, 'missing value');
  }
  return doc;
}

/** RFC 6902 JSON Patch. */
function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) {
    throw StatusError.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  }
  let doc = structuredClone(target);
  for (const operation of operations) {
    if (!isRecord(operation) || typeof operation.op !== 'string' || typeof operation.path !== 'string') {
      throw StatusError.badRequest(`invalid JSON patch operation: ${JSON.stringify(operation)}`);
    }
    const { op, path } = operation;
    const from = typeof operation.from === 'string' ? operation.from : '';
    switch (op) {
      case 'add':
        doc = addAt(doc, path, structuredClone(operation.value), op);
        break;
      case 'remove':
        doc = removeAt(doc, path, op);
        break;
      case 'replace':
        getAt(doc, path, op);
        doc = addAt(removeAt(doc, path, op), path, structuredClone(operation.value), op);
        break;
      case 'move': {
        const value = getAt(doc, from, op);
        doc = addAt(removeAt(doc, from, op), path, value, op);
        break;
      }
      case 'copy':
        doc = addAt(doc, path, structuredClone(getAt(doc, from, op)), op);
        break;
      case 'test':
        if (canonicalJson(getAt(doc, path, op)) !== canonicalJson(operation.value)) {
          throw new StatusError(422, 'Invalid', `testing value ${path} failed: test failed`);
        }
        break;
      default:
        throw StatusError.badRequest(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}

/** Applies a parsed patch body to a copy of `target`; failures are StatusErrors as the apiserver returns them. */
export function applyPatch(type: PatchType, target: unknown, patch: unknown): unknown {
  switch (type) {
    case 'merge':
      return mergePatch(target, patch);
    case 'strategic':
      return mergePatch(target, stripDirectives(patch));
    case 'json':
      return jsonPatch(target, patch);
  }
}
