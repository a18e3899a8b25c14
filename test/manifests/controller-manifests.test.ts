// What `kubectl apply -k crds/`, `-k manifests/` and `-k manifests/sidecar` would install, rendered by
// the real kubectl, checked for what the controller needs: least-privilege RBAC that still covers
// every call, probes on the admin port, non-root and a read-only root filesystem. The CRD is also
// applied both ways the README shows, by the real kubectl against the test API server.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { balancerPoolCrd } from '../../src/api/crd.js';
import { parseObject } from '../../src/api/validate.js';
import { KubeApiServer } from '../support/kube-apiserver.js';

const run = promisify(execFile);
type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { timeout: 20_000 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const allows = (rules: Rule[], group: string, resource: string, verb: string) =>
  rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

describe('install manifests', () => {
  it('crds/ is the generated CRD', async () => {
    expect(await kustomize('crds')).toEqual([balancerPoolCrd()]);
  });

  it.each([['-f'], ['-k']])('kubectl apply %s crds/ installs the CRD and nothing else', async (how) => {
    const api = await KubeApiServer.start();
    const dir = await mkdtemp(path.join(tmpdir(), 'ballast-crds-'));
    try {
      const kubeconfig = path.join(dir, 'kubeconfig');
      await api.writeKubeconfig(kubeconfig);
      // HOME too: kubectl caches its server version probe under $HOME/.kube.
      const kubectl = (...args: string[]) =>
        run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args], { timeout: 20_000, env: { ...process.env, HOME: dir } });
      const { stdout } = await kubectl('apply', how, 'crds/');
      expect(stdout).toBe('customresourcedefinition.apiextensions.k8s.io/balancerpools.ballast.dev created\n');
      const crd = api.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/balancerpools.ballast.dev');
      expect(crd?.spec).toEqual(balancerPoolCrd().spec);
    } finally {
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('manifests/ installs the controller with RBAC covering exactly what it calls', async () => {
    const objects = await kustomize('manifests');
    const cluster: Rule[] = objects.find((o) => o.kind === 'ClusterRole')!.rules;
    const leases: Rule[] = objects.find((o) => o.kind === 'Role')!.rules;
    // Informers (list, watch), status patches, Events, ConfigMaps (get/create/update/delete), the Lease.
    for (const [group, resource] of [['ballast.dev', 'balancerpools'], ['', 'services'], ['discovery.k8s.io', 'endpointslices']]) {
      for (const verb of ['list', 'watch']) expect(allows(cluster, group, resource, verb)).toBe(true);
      for (const verb of ['create', 'update', 'patch', 'delete']) expect(allows(cluster, group, resource, verb)).toBe(false);
    }
    expect(allows(cluster, 'ballast.dev', 'balancerpools/status', 'patch')).toBe(true);
    expect(allows(cluster, '', 'events', 'create')).toBe(true);
    for (const verb of ['get', 'create', 'update', 'delete']) expect(allows(cluster, '', 'configmaps', verb)).toBe(true);
    expect(allows(cluster, '', 'configmaps', 'list')).toBe(false);
    expect(allows(cluster, 'coordination.k8s.io', 'leases', 'update')).toBe(false);
    for (const verb of ['get', 'create', 'update']) expect(allows(leases, 'coordination.k8s.io', 'leases', verb)).toBe(true);

    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(container.args).toEqual(expect.arrayContaining(['controller', '--admin=0.0.0.0:9901']));
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toEqual(expect.objectContaining({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }));
    expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(pod.serviceAccountName).toBe(objects.find((o) => o.kind === 'ServiceAccount')!.metadata.name);
  });

  it('manifests/sidecar runs one pool beside an app, over localhost, without leader election', async () => {
    const objects = await kustomize('manifests/sidecar');
    const pool = objects.find((o) => o.kind === 'BalancerPool')!;
    const parsed = parseObject(pool);
    expect(parsed.ok).toBe(true);
    expect(pool.spec.listener.address).toBe('127.0.0.1');
    const sidecar = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.initContainers[0];
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.args).toEqual(expect.arrayContaining(['controller', '--pool=api', '--leader-elect=false']));
    expect(objects.find((o) => o.kind === 'Role')).toBeDefined();
    expect(objects.find((o) => o.kind === 'ClusterRole')).toBeUndefined();
  });

  it('the example Service and pool validate', () => {
    const docs = parseAllDocuments(readFileSync('manifests/examples/web.yaml', 'utf8')).map((d) => parseObject(d.toJS()));
    expect(docs.map((r) => r.ok && r.object.kind)).toEqual(['Service', 'BalancerPool']);
  });
});
