import { valueAtPath, type KubeObject } from './kube-object.js';
import type { PrinterColumn, ResourceType } from './resource-registry.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

const NAME_COLUMN = {
  name: 'Name', type: 'string', format: 'name', priority: 0,
  description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
};

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration, which is what AGE columns print. */
function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

function cell(column: PrinterColumn, obj: KubeObject, now: number): unknown {
  if (column.cell) return column.cell(obj) ?? null;
  const value = valueAtPath(obj, column.jsonPath ?? '');
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'date':
      return typeof value === 'string' ? humanDuration(now - Date.parse(value)) : null;
    case 'integer':
    case 'number':
    case 'boolean':
      return value;
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

function rowObject(obj: KubeObject, includeObject: IncludeObject): Record<string, unknown> {
  if (includeObject === 'None') return {};
  if (includeObject === 'Object') return { object: obj };
  return { object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata } };
}

/**
 * A `meta.k8s.io/v1 Table` as `kubectl get` requests it: Name, then the resource's printer
 * columns; each row carries the object's metadata so kubectl can print the NAMESPACE column.
 */
export function toTable(rt: ResourceType, objects: KubeObject[], resourceVersion: string, includeObject: IncludeObject, now = Date.now()): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: [NAME_COLUMN, ...rt.columns.map((c) => ({
      name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0,
    }))],
    rows: objects.map((obj) => ({
      cells: [obj.metadata.name, ...rt.columns.map((c) => cell(c, obj, now))],
      ...rowObject(obj, includeObject),
    })),
  };
}
