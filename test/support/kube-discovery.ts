import { createHash } from 'node:crypto';
import { StatusError } from './kube-status.js';
import type { ResourceRegistry, ResourceType, ServedGroup } from './resource-registry.js';

export interface DiscoveryResponse {
  contentType: string;
  body: unknown;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

/** Pins the kubectl dispatcher to its bundled 1.32 binary. */
const VERSION_INFO = {
  major: '1', minor: '32', gitVersion: 'v1.32.0', gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean', buildDate: '2024-12-11T00:00:00Z', goVersion: 'go1.23.3', compiler: 'gc', platform: 'linux/amd64',
};

function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function aggregatedResource(r: ResourceType): Record<string, unknown> {
  const responseKind = { group: r.group, version: r.version, kind: r.kind };
  return {
    resource: r.plural,
    responseKind,
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: VERBS,
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    ...(r.categories.length ? { categories: r.categories } : {}),
    ...(r.statusSubresource ? { subresources: [{ subresource: 'status', responseKind, verbs: STATUS_VERBS }] } : {}),
  };
}

/** KEP-3352 aggregated discovery; kubectl reads it as such only with this exact Content-Type. */
function aggregated(groups: ServedGroup[], version: string): DiscoveryResponse {
  return {
    contentType: `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`,
    body: {
      kind: 'APIGroupDiscoveryList',
      apiVersion: `apidiscovery.k8s.io/${version}`,
      metadata: {},
      items: groups.map((g) => ({
        metadata: { name: g.name },
        versions: g.versions.map((v) => ({ version: v.version, freshness: 'Current', resources: v.resources.map(aggregatedResource) })),
      })),
    },
  };
}

function apiGroup(g: ServedGroup): Record<string, unknown> {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.name}/${v.version}`, version: v.version }));
  return { name: g.name, versions, preferredVersion: versions[0] };
}

function resourceList(group: string, version: string, resources: ResourceType[]): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources: resources.flatMap((r) => [
      {
        name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS,
        ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
        ...(r.categories.length ? { categories: r.categories } : {}),
      },
      ...(r.statusSubresource
        ? [{ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: STATUS_VERBS }]
        : []),
    ]),
  };
}

function itemPath(r: ResourceType): string {
  const prefix = `/${gvPath(r.group, r.version)}`;
  return r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}/{name}` : `${prefix}/${r.plural}/{name}`;
}

/**
 * Just enough OpenAPI v3 for kubectl's field-validation probe: a PATCH operation per kind carrying
 * its GVK and a `fieldValidation` parameter. No schemas, so kubectl skips client-side validation.
 */
function openApiDocument(group: string, version: string, resources: ResourceType[]): Record<string, unknown> {
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion },
    components: { schemas: {} },
    paths: Object.fromEntries(resources.map((r) => [itemPath(r), {
      patch: {
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group, version, kind: r.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
        responses: { 200: { description: 'OK' } },
      },
    }])),
  };
}

function openApiIndex(groups: ServedGroup[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const g of groups) {
    for (const v of g.versions) {
      const hash = createHash('sha256').update(JSON.stringify(openApiDocument(g.name, v.version, v.resources))).digest('hex');
      paths[gvPath(g.name, v.version)] = { serverRelativeURL: `/openapi/v3/${gvPath(g.name, v.version)}?hash=${hash}` };
    }
  }
  return { paths };
}

/**
 * Answers /version, /api, /apis, /api/v1, /apis/<g>[/<v>] and /openapi/* from the registry, or
 * returns undefined when the path is not a discovery path. Aggregated discovery is served only when
 * the Accept header asks for it, because kubectl 1.20 and client-node read the legacy documents.
 */
export function discoveryResponse(registry: ResourceRegistry, pathname: string, accept: string): DiscoveryResponse | undefined {
  const json = (body: unknown): DiscoveryResponse => ({ contentType: 'application/json', body });
  const segments = pathname.split('/').filter(Boolean);
  const groups = registry.groups();
  const core = groups.filter((g) => g.name === '');
  const named = groups.filter((g) => g.name !== '');
  const aggregatedVersion = /as=APIGroupDiscoveryList/.test(accept)
    ? (/v=v2beta1/.test(accept) && !/v=v2(;|,|$)/.test(accept) ? 'v2beta1' : 'v2')
    : undefined;

  if (pathname === '/version') return json(VERSION_INFO);
  if (pathname === '/openapi/v2' || pathname === '/swagger-2.0.0.pb-v1') throw StatusError.pathNotFound();
  if (pathname === '/openapi/v3') return json(openApiIndex(groups));
  if (segments[0] === 'openapi' && segments[1] === 'v3') {
    const gv = segments.slice(2).join('/');
    for (const g of groups) {
      const served = g.versions.find((v) => gvPath(g.name, v.version) === gv);
      if (served) return json(openApiDocument(g.name, served.version, served.resources));
    }
    throw StatusError.pathNotFound();
  }

  if (segments[0] === 'api') {
    if (segments.length === 1) {
      if (aggregatedVersion) return aggregated(core, aggregatedVersion);
      return json({ kind: 'APIVersions', versions: core.flatMap((g) => g.versions.map((v) => v.version)), serverAddressByClientCIDRs: [] });
    }
    const served = core[0]?.versions.find((v) => v.version === segments[1]);
    if (segments.length === 2 && served) return json(resourceList('', served.version, served.resources));
    return undefined;
  }
  if (segments[0] === 'apis') {
    if (segments.length === 1) {
      if (aggregatedVersion) return aggregated(named, aggregatedVersion);
      return json({ kind: 'APIGroupList', apiVersion: 'v1', groups: named.map(apiGroup) });
    }
    const group = named.find((g) => g.name === segments[1]);
    if (segments.length === 2 && group) return json({ kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) });
    const served = group?.versions.find((v) => v.version === segments[2]);
    if (segments.length === 3 && served) return json(resourceList(group!.name, served.version, served.resources));
  }
  return undefined;
}
