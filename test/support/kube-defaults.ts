import { isRecord } from './kube-object.js';

/**
 * Structural-schema defaulting, as the API server applies it to custom resources on every write:
 * a missing property with a `default` gets it, inside every object that is present (defaults do not
 * create absent parent objects unless the parent itself has a default).
 */
export function applyDefaults(schema: unknown, value: unknown): unknown {
  if (!isRecord(schema)) return value;
  if (Array.isArray(value) && isRecord(schema.items)) return value.map((v) => applyDefaults(schema.items, v));
  if (!isRecord(value) || !isRecord(schema.properties)) return value;
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (value[key] === undefined && isRecord(sub) && sub.default !== undefined) value[key] = structuredClone(sub.default);
    if (value[key] !== undefined) value[key] = applyDefaults(sub, value[key]);
  }
  return value;
}
