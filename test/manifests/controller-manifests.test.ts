// What `kubectl apply -k crds/`, `-k manifests/` and each overlay would install, rendered by the
// release's kubectl, checked for what the controller needs (least-privilege RBAC, probes on the
// admin port, non-root, a read-only root filesystem) and dry-run on the real API server, so every
// field of every object is validated by it. That the RBAC covers every call, and no more, is shown
// by the cluster suite (test/cluster/controller.test.ts) from the API server's audit log.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { balancerPoolCrd } from '../../src/api/crd.js';
import { parseObject } from '../../src/api/validate.js';
import { KubeAdmin, kubectl } from '../support/cluster.js';

type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

async function kustomize(dir: string): Promise<Obj[]> {
  return parseAllDocuments(await kubectl(['kustomize', dir])).map((d) => d.toJS() as Obj);
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const allows = (rules: Rule[], group: string, resource: string, verb: string) =>
  rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

describe('install manifests', () => {
  it('crds/ is the generated CRD', async () => {
    expect(await kustomize('crds')).toEqual([balancerPoolCrd()]);
  });

  it.each([['-f'], ['-k']])('kubectl apply %s crds/ installs the CRD and nothing else', async (how) => {
    // A server-side dry run: the run's control plane has the CRD installed already.
    const out = await kubectl(['apply', how, 'crds/', '--dry-run=server']);
    expect(out).toMatch(/^customresourcedefinition\.apiextensions\.k8s\.io\/balancerpools\.ballast\.dev (created|configured|unchanged) \(server dry run\)\n$/);
    const crd = await new KubeAdmin().get<{ spec: ReturnType<typeof balancerPoolCrd>['spec'] }>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/balancerpools.ballast.dev');
    expect(crd?.spec.versions).toEqual(balancerPoolCrd().spec.versions);
  });

  it('manifests/ installs the controller with RBAC that reads only and writes only its own objects', async () => {
    const objects = await kustomize('manifests');
    const cluster: Rule[] = objects.find((o) => o.kind === 'ClusterRole')!.rules;
    const leases: Rule[] = objects.find((o) => o.kind === 'Role')!.rules;
    for (const [group, resource] of [['ballast.dev', 'balancerpools'], ['', 'services'], ['discovery.k8s.io', 'endpointslices']]) {
      for (const verb of ['create', 'update', 'patch', 'delete']) expect(allows(cluster, group, resource, verb)).toBe(false);
    }
    expect(allows(cluster, 'ballast.dev', 'balancerpools/status', 'update')).toBe(true);
    expect(allows(cluster, '', 'events', 'create')).toBe(true);
    for (const verb of ['get', 'list', 'create', 'update', 'delete']) expect(allows(cluster, '', 'configmaps', verb)).toBe(true);
    // Leases only in its own namespace (a Role), never cluster-wide.
    expect(cluster.some((r) => r.resources.includes('leases'))).toBe(false);
    for (const verb of ['get', 'create', 'update']) expect(allows(leases, 'coordination.k8s.io', 'leases', verb)).toBe(true);

    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    // Probes and /metrics on the health port; the admin (debug) listener on loopback (test/manifests/probes.test.ts).
    expect(container.args).toEqual(expect.arrayContaining(['controller', '--admin=127.0.0.1:9901', '--health-address=0.0.0.0:9902']));
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toEqual(expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }));
    expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(pod.serviceAccountName).toBe(objects.find((o) => o.kind === 'ServiceAccount')!.metadata.name);
  });

  it('manifests/sidecar runs one pool beside an app, over localhost, its replicas electing one status writer', async () => {
    const objects = await kustomize('manifests/sidecar');
    const pool = objects.find((o) => o.kind === 'BalancerPool')!;
    const parsed = parseObject(pool);
    expect(parsed.ok).toBe(true);
    expect(pool.spec.listener.address).toBe('127.0.0.1');
    const sidecar = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.initContainers[0];
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.args).toEqual(expect.arrayContaining(['controller', '--pool=api']));
    expect(sidecar.args.some((a: string) => a.startsWith('--leader-elect='))).toBe(false);
    expect(objects.find((o) => o.kind === 'Role')).toBeDefined();
    expect(objects.find((o) => o.kind === 'ClusterRole')).toBeUndefined();
  });

  describe('on kube-apiserver', () => {
    beforeAll(async () => {
      // Namespaced objects are dry-run into ballast-system, which `kubectl apply -k manifests/` creates first.
      await new KubeAdmin().apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ballast-system' } });
    });

    it.each(['crds', 'manifests', 'manifests/controller', 'manifests/nginx', 'manifests/sidecar'])('every object of %s passes a server-side dry run', async (dir) => {
      const rendered = await kubectl(['kustomize', dir]);
      // --force-conflicts: the README smoke test may already have applied these objects client-side in
      // the shared control plane; this checks every field against the server, not who owns it.
      const out = await kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '--field-manager=ballast-test', '-f', '-'], { input: rendered });
      // One line per object, each "(server dry run)".
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(parseAllDocuments(rendered).length);
      for (const line of lines) expect(line).toMatch(/ serverside-applied \(server dry run\)$/);
    });

    it('the example Service and pool pass a server-side dry run', async () => {
      const out = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=ballast-test', '-f', 'manifests/examples/web.yaml']);
      expect(out.trim().split('\n')).toEqual(['service/web serverside-applied (server dry run)', 'balancerpool.ballast.dev/web serverside-applied (server dry run)']);
    });
  });

  it('the example Service and pool validate', () => {
    const docs = parseAllDocuments(readFileSync('manifests/examples/web.yaml', 'utf8')).map((d) => parseObject(d.toJS()));
    expect(docs.map((r) => r.ok && r.object.kind)).toEqual(['Service', 'BalancerPool']);
  });
});
