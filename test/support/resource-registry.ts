import { isRecord, type KubeObject } from './kube-object.js';
import type { ResourceRef } from './kube-status.js';

/**
 * A Table column. Cells come from `jsonPath` (CRD additionalPrinterColumns; `date` cells are
 * humanised like the real CRD table convertor) or from `cell` (built-in printers).
 */
export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath?: string;
  cell?: (obj: KubeObject) => unknown;
}

/** One resource as served at one group/version. */
export interface ResourceType extends ResourceRef {
  version: string;
  singular: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  statusSubresource: boolean;
  /** Custom resource: no strategic merge patch, PUT requires a resourceVersion. */
  custom: boolean;
  tracksGeneration: boolean;
  /** Fields decoded as metav1.MicroTime, which demands exactly 6 fractional digits. */
  microTimeFields: string[];
  columns: PrinterColumn[];
  /** A CRD version's openAPIV3Schema, for defaulting. */
  schema?: unknown;
}

export interface ServedGroup {
  name: string;
  /** Preferred version first. */
  versions: { version: string; resources: ResourceType[] }[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function listOrUnset(values: unknown[]): string {
  if (values.length === 0) return '<unset>';
  const shown = values.slice(0, 3).join(',');
  return values.length > 3 ? `${shown} + ${values.length - 3} more...` : shown;
}

function builtin(
  group: string, version: string, plural: string, kind: string,
  extra: Partial<ResourceType> & { columns: PrinterColumn[] },
): ResourceType {
  return {
    group, version, plural, kind,
    singular: kind.toLowerCase(),
    listKind: `${kind}List`,
    namespaced: true,
    shortNames: [],
    categories: [],
    statusSubresource: false,
    custom: false,
    tracksGeneration: false,
    microTimeFields: [],
    ...extra,
  };
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

const BUILTINS: ResourceType[] = [
  builtin('', 'v1', 'namespaces', 'Namespace', {
    namespaced: false, shortNames: ['ns'],
    columns: [{ name: 'Status', type: 'string', cell: (o) => (isRecord(o.status) && o.status.phase) || 'Active' }, AGE],
  }),
  builtin('', 'v1', 'services', 'Service', {
    shortNames: ['svc'], statusSubresource: true,
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Cluster-IP', type: 'string', jsonPath: '.spec.clusterIP' },
      { name: 'Port(s)', type: 'string', cell: (o) => listOrUnset(records(isRecord(o.spec) && o.spec.ports)
        .map((p) => `${String(p.port)}/${String(p.protocol ?? 'TCP')}`)) },
      AGE,
    ],
  }),
  builtin('', 'v1', 'configmaps', 'ConfigMap', {
    shortNames: ['cm'],
    columns: [{ name: 'Data', type: 'integer',
      cell: (o) => Object.keys(isRecord(o.data) ? o.data : {}).length + Object.keys(isRecord(o.binaryData) ? o.binaryData : {}).length },
    AGE],
  }),
  builtin('', 'v1', 'events', 'Event', {
    shortNames: ['ev'], microTimeFields: ['eventTime'],
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.type' },
      { name: 'Reason', type: 'string', jsonPath: '.reason' },
      { name: 'Object', type: 'string', cell: (o) => isRecord(o.involvedObject)
        ? `${String(o.involvedObject.kind ?? '').toLowerCase()}/${String(o.involvedObject.name ?? '')}` : '' },
      { name: 'Message', type: 'string', jsonPath: '.message' },
    ],
  }),
  builtin('', 'v1', 'pods', 'Pod', {
    shortNames: ['po'], statusSubresource: true,
    columns: [{ name: 'Status', type: 'string', jsonPath: '.status.phase' }, AGE],
  }),
  builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
    namespaced: false, shortNames: ['crd', 'crds'], statusSubresource: true, tracksGeneration: true,
    columns: [{ name: 'Created At', type: 'date', cell: (o) => o.metadata.creationTimestamp }],
  }),
  builtin('coordination.k8s.io', 'v1', 'leases', 'Lease', {
    microTimeFields: ['spec.acquireTime', 'spec.renewTime'],
    columns: [{ name: 'Holder', type: 'string', cell: (o) => (isRecord(o.spec) && o.spec.holderIdentity) || '' }, AGE],
  }),
  builtin('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', {
    tracksGeneration: true,
    columns: [
      { name: 'AddressType', type: 'string', jsonPath: '.addressType' },
      { name: 'Ports', type: 'string', cell: (o) => listOrUnset(records(o.ports).map((p) => p.port ?? '<unset>')) },
      { name: 'Endpoints', type: 'string', cell: (o) => listOrUnset(records(o.endpoints).flatMap((e) => (Array.isArray(e.addresses) ? e.addresses : []))) },
      AGE,
    ],
  }),
];

/** Orders versions as Kubernetes does: GA before beta before alpha, higher numbers first. */
function versionPriority(a: string, b: string): number {
  const rank = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0];
    return [m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [ra, rb] = [rank(a), rank(b)];
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
  return a < b ? -1 : a > b ? 1 : 0;
}

function crdColumns(version: Record<string, unknown>): PrinterColumn[] {
  const columns = records(version.additionalPrinterColumns);
  if (columns.length === 0) return [AGE];
  return columns.map((c) => ({
    name: String(c.name),
    type: String(c.type ?? 'string'),
    format: typeof c.format === 'string' ? c.format : '',
    description: typeof c.description === 'string' ? c.description
      : `Custom resource definition column (in JSONPath format): ${String(c.jsonPath)}`,
    priority: typeof c.priority === 'number' ? c.priority : 0,
    jsonPath: String(c.jsonPath),
  }));
}

/** The resource types served right now: the built-ins plus one entry per served version of each CRD. */
export class ResourceRegistry {
  private readonly crds = new Map<string, ResourceType[]>();

  /** Registers (or re-registers, after an update) the resources a CRD object declares. */
  addCrd(crd: KubeObject): void {
    const spec = isRecord(crd.spec) ? crd.spec : {};
    const names = isRecord(spec.names) ? spec.names : {};
    const kind = String(names.kind);
    this.crds.set(crd.metadata.name ?? '', records(spec.versions)
      .filter((v) => v.served !== false)
      .map((v) => ({
        group: String(spec.group),
        version: String(v.name),
        plural: String(names.plural),
        singular: typeof names.singular === 'string' ? names.singular : kind.toLowerCase(),
        kind,
        listKind: typeof names.listKind === 'string' ? names.listKind : `${kind}List`,
        namespaced: spec.scope !== 'Cluster',
        shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
        categories: Array.isArray(names.categories) ? names.categories.map(String) : [],
        statusSubresource: isRecord(v.subresources) && isRecord(v.subresources.status),
        custom: true,
        tracksGeneration: true,
        microTimeFields: [],
        columns: crdColumns(v),
        schema: isRecord(v.schema) ? v.schema.openAPIV3Schema : undefined,
      })));
  }

  removeCrd(name: string): void {
    this.crds.delete(name);
  }

  all(): ResourceType[] {
    return [...BUILTINS, ...[...this.crds.values()].flat()];
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.all().find((r) => r.group === group && r.version === version && r.plural === plural);
  }

  findKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all().find((r) => (r.group ? `${r.group}/${r.version}` : r.version) === apiVersion && r.kind === kind);
  }

  groups(): ServedGroup[] {
    const byGroup = new Map<string, Map<string, ResourceType[]>>();
    for (const r of this.all()) {
      const versions = byGroup.get(r.group) ?? new Map<string, ResourceType[]>();
      versions.set(r.version, [...(versions.get(r.version) ?? []), r]);
      byGroup.set(r.group, versions);
    }
    return [...byGroup].map(([name, versions]) => ({
      name,
      versions: [...versions.keys()].sort(versionPriority).map((version) => ({ version, resources: versions.get(version)! })),
    }));
  }
}
