import { balancerPoolCrd } from '../../src/api/crd.js';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KubeApiServer } from './kube-apiserver.js';
import type { KubeObject } from './kube-object.js';
import { applyPatch } from './kube-patch.js';
import { ObjectSelector } from './object-selector.js';
import { waitFor } from './wait-for.js';

const BP = '/apis/ballast.dev/v1alpha1/namespaces/default/balancerpools';
const EPS = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
const CM = '/api/v1/namespaces/default/configmaps';
const KUBECTL_DISCOVERY_ACCEPT = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,'
  + 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

// The real BalancerPool CRD, as `kubectl apply -f crds/` installs it.
const CRD = balancerPoolCrd() as unknown as KubeObject;

function pool(name: string, algorithm: string): KubeObject {
  return { apiVersion: 'ballast.dev/v1alpha1', kind: 'BalancerPool', metadata: { name, namespace: 'default' },
    spec: { algorithm, listener: { port: 8080 } } };
}

function slice(name: string, addresses: string[], labels: Record<string, string> = { 'kubernetes.io/service-name': 'web' }): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: 'default', labels },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
  };
}

function configMap(name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data };
}

interface Harness {
  server: KubeApiServer;
  dir: string;
  kubeconfigFile: string;
  kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  manifest(name: string, obj: KubeObject): Promise<string>;
}

async function startHarness(options: { bookmarkIntervalMs?: number } = {}): Promise<Harness> {
  const server = await KubeApiServer.start(options);
  const dir = await mkdtemp(join(tmpdir(), 'kube-apiserver-test-'));
  const kubeconfigFile = join(dir, 'kubeconfig');
  await server.writeKubeconfig(kubeconfigFile);
  // The kubectl dispatcher caches its /version probe under $HOME/.kube, outside --cache-dir.
  await mkdir(join(dir, 'home'));
  return {
    server, dir, kubeconfigFile,
    kubectl: (...args) => new Promise((resolve) => {
      execFile('kubectl', ['--kubeconfig', kubeconfigFile, '--cache-dir', join(dir, 'cache'), ...args],
        { timeout: 20_000, env: { ...process.env, HOME: join(dir, 'home') } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    }),
    manifest: async (name, obj) => {
      const file = join(dir, name);
      await writeFile(file, stringify(obj));
      return file;
    },
  };
}

interface WatchEvent {
  type: string;
  object: KubeObject & { code?: number; reason?: string };
}

/**
 * Reads a watch stream until `until(events)` holds (the side effects it performs drive the test) or
 * the server ends the stream; fails after `timeoutMs`.
 */
async function readWatch(url: string, until: (events: WatchEvent[]) => boolean, timeoutMs = 5000): Promise<{ events: WatchEvent[]; ended: boolean }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: WatchEvent[] = [];
  try {
    const res = await fetch(url, { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { events, ended: true };
      buffered += decoder.decode(value, { stream: true });
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        events.push(JSON.parse(buffered.slice(0, i)) as WatchEvent);
        buffered = buffered.slice(i + 1);
      }
      if (until(events)) return { events, ended: false };
    }
  } catch (err) {
    throw new Error(`watch ${url} failed after events ${JSON.stringify(events.map((e) => e.type))}: ${String(err)}`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; contentType: string | null; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  return { status: res.status, contentType: res.headers.get('content-type'), body: await res.json() as Record<string, unknown> };
}

async function apiError(call: Promise<unknown>): Promise<k8s.ApiException<string>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof k8s.ApiException) return err as k8s.ApiException<string>;
    throw err;
  }
  throw new Error('expected the API call to fail');
}

function clientConfig(server: KubeApiServer): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfig());
  return kc;
}

describe('KubeApiServer with real kubectl', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.server.stop();
    await rm(h.dir, { recursive: true, force: true });
  });

  it('applies a CRD and a BalancerPool, prints its columns, patches status and deletes it', async () => {
    const crd = await h.kubectl('apply', '-f', await h.manifest('crd.yaml', CRD));
    expect(crd).toMatchObject({ code: 0, stdout: 'customresourcedefinition.apiextensions.k8s.io/balancerpools.ballast.dev created\n' });
    // fieldValidation=Strict shows kubectl validated through /openapi/v3 rather than giving up on it.
    expect(h.server.requests).toContainEqual(expect.objectContaining({ method: 'POST',
      path: expect.stringMatching(/^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\?.*fieldValidation=Strict/) }));

    const web = await h.manifest('web.yaml', pool('web', 'RoundRobin'));
    expect(await h.kubectl('apply', '-f', web)).toMatchObject({ code: 0, stdout: 'balancerpool.ballast.dev/web created\n' });
    expect(h.server.get(`${BP}/web`)?.metadata.generation).toBe(1);

    const table = await h.kubectl('get', 'bp');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+ALGORITHM\s+READY\s+TOTAL\s+LISTENER\s+STATUS\s+AGE\nweb\s+RoundRobin\s+\d+s\n$/);

    const changed = await h.manifest('web.yaml', pool('web', 'LeastConnections'));
    expect(await h.kubectl('apply', '-f', changed)).toMatchObject({ code: 0, stdout: 'balancerpool.ballast.dev/web configured\n' });
    expect(h.server.requests).toContainEqual(expect.objectContaining({ method: 'PATCH',
      path: expect.stringContaining(`${BP}/web?`), contentType: 'application/merge-patch+json' }));
    expect((await h.kubectl('get', 'bp', 'web', '-o', 'jsonpath={.metadata.generation} {.spec.algorithm}')).stdout)
      .toBe('2 LeastConnections');

    const status = await h.kubectl('patch', 'bp', 'web', '--subresource=status', '--type=merge',
      '-p', '{"status":{"backends":{"ready":2,"total":3},"conditions":[{"type":"Ready","status":"True","reason":"BackendsAvailable","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]},"spec":{"algorithm":"Random"}}');
    expect(status).toMatchObject({ code: 0, stdout: 'balancerpool.ballast.dev/web patched\n' });
    expect((await h.kubectl('get', 'bp', 'web', '-o', 'jsonpath={.status.backends.ready} {.spec.algorithm} {.metadata.generation}')).stdout)
      .toBe('2 LeastConnections 2');
    expect((await h.kubectl('get', 'bp', '-A')).stdout).toMatch(/\ndefault\s+web\s+LeastConnections\s+2\s+3\s+BackendsAvailable\s+\d+s\n$/);

    const smp = await h.kubectl('patch', 'bp', 'web', '-p', '{"spec":{"retries":1}}');
    expect(smp.code).not.toBe(0);
    expect(smp.stderr).toContain('application/strategic-merge-patch+json is not supported by ballast.dev/v1alpha1, Kind=BalancerPool: '
      + 'the body of the request was in an unknown format - accepted media types include: '
      + 'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');

    expect(await h.kubectl('delete', 'bp', 'web')).toMatchObject({ code: 0, stdout: 'balancerpool.ballast.dev "web" deleted\n' });
    expect(h.server.get(`${BP}/web`)).toBeUndefined();
    const again = await h.kubectl('delete', 'bp', 'web');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('Error from server (NotFound): balancerpools.ballast.dev "web" not found');

    expect((await h.kubectl('delete', 'crd', 'balancerpools.ballast.dev')).code).toBe(0);
    // kubectl still maps `bp` from its discovery cache; the collection itself is gone.
    const gone = await h.kubectl('get', 'bp');
    expect(gone.stderr).toContain('Error from server (NotFound): Unable to list "ballast.dev/v1alpha1, Resource=balancerpools": '
      + 'the server could not find the requested resource');
  });

  it('applies EndpointSlices with a strategic merge patch and selects them by label', async () => {
    const file = await h.manifest('eps.yaml', slice('web-abc', ['10.0.0.1']));
    expect(await h.kubectl('apply', '-f', file)).toMatchObject({ code: 0, stdout: 'endpointslice.discovery.k8s.io/web-abc created\n' });
    await h.manifest('eps.yaml', slice('web-abc', ['10.0.0.1', '10.0.0.3']));
    expect(await h.kubectl('apply', '-f', file)).toMatchObject({ code: 0, stdout: 'endpointslice.discovery.k8s.io/web-abc configured\n' });
    expect(h.server.requests).toContainEqual(expect.objectContaining({ method: 'PATCH',
      path: expect.stringContaining(`${EPS}/web-abc?`), contentType: 'application/strategic-merge-patch+json' }));
    const stored = h.server.get(`${EPS}/web-abc`)!;
    expect(stored.endpoints).toEqual([
      { addresses: ['10.0.0.1'], conditions: { ready: true } },
      { addresses: ['10.0.0.3'], conditions: { ready: true } },
    ]);
    expect(stored.metadata.generation).toBe(2);

    const writes = h.server.requests.filter((r) => r.method !== 'GET').length;
    expect(await h.kubectl('apply', '-f', file)).toMatchObject({ code: 0, stdout: 'endpointslice.discovery.k8s.io/web-abc unchanged\n' });
    expect(h.server.requests.filter((r) => r.method !== 'GET')).toHaveLength(writes);

    h.server.apply(slice('api-xyz', ['10.0.1.1'], { 'kubernetes.io/service-name': 'api' }));
    expect((await h.kubectl('get', 'endpointslices', '-o', 'name', '-l', 'kubernetes.io/service-name in (web,db)')).stdout)
      .toBe('endpointslice.discovery.k8s.io/web-abc\n');
    expect((await h.kubectl('get', 'endpointslices', '-o', 'name', '-l', 'kubernetes.io/service-name!=web')).stdout)
      .toBe('endpointslice.discovery.k8s.io/api-xyz\n');
    const table = await h.kubectl('get', 'endpointslices', 'web-abc');
    expect(table.stdout).toMatch(/^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\nweb-abc\s+IPv4\s+8080\s+10\.0\.0\.1,10\.0\.0\.3\s+\d+s\n$/);
  });

  it('lets kubectl delete wait on a field-selected watch until finalizers are removed', async () => {
    h.server.apply({ ...configMap('fin'), metadata: { name: 'fin', finalizers: ['ballast.dev/cleanup'] } });
    const deletion = h.kubectl('delete', 'configmap', 'fin');
    await waitFor(() => h.server.requests.some((r) => r.path.startsWith(`${CM}?`)
      && r.path.includes('watch=true') && r.path.includes('fieldSelector=metadata.name%3Dfin')), 15_000);
    const terminating = h.server.get(`${CM}/fin`)!;
    expect(terminating.metadata.deletionTimestamp).toEqual(expect.any(String));

    h.server.apply({ ...terminating, metadata: { ...terminating.metadata, finalizers: [] } });
    expect(await deletion).toMatchObject({ code: 0, stdout: 'configmap "fin" deleted\n' });
    expect(h.server.get(`${CM}/fin`)).toBeUndefined();
  });

  it('runs standalone through `npm run test-apiserver`', async () => {
    const out = join(h.dir, 'standalone-kubeconfig');
    const child = spawn('npm', ['run', '--silent', 'test-apiserver', '--', '--port', '0', '--kubeconfig-out', out],
      { detached: true, stdio: 'ignore' });
    try {
      await waitFor(async () => (await readFile(out, 'utf8')).includes('current-context'), 15_000);
      const version = await new Promise<string>((resolve, reject) => {
        execFile('kubectl', ['--kubeconfig', out, '--cache-dir', join(h.dir, 'cache2'), 'version', '-o', 'json'],
          { timeout: 20_000, env: { ...process.env, HOME: join(h.dir, 'home') } },
          (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      expect(JSON.parse(version)).toMatchObject({ serverVersion: { major: '1', minor: '32' } });
    } finally {
      // npm, its shell, tsx and node share the detached child's process group.
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // Already exited: the assertions above report why.
      }
    }
  });
});

describe('KubeApiServer with @kubernetes/client-node', () => {
  let server: KubeApiServer;
  let kc: k8s.KubeConfig;
  const cleanups: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    server = await KubeApiServer.start();
    kc = clientConfig(server);
  });
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
    await server.stop();
  });

  function sliceInformer(restartOnError: boolean) {
    const api = kc.makeApiClient(k8s.DiscoveryV1Api);
    const informer = k8s.makeInformer(kc, EPS, () => api.listNamespacedEndpointSlice({ namespace: 'default' }));
    const seen: string[] = [];
    const rvs: string[] = [];
    for (const verb of ['add', 'update', 'delete'] as const) {
      informer.on(verb, (o) => {
        seen.push(`${verb}:${o.metadata?.name}`);
        rvs.push(o.metadata?.resourceVersion ?? '');
      });
    }
    // client-node stops an informer on any non-410 error; a controller restarts it, and so do we.
    let stopped = false;
    let restart: NodeJS.Timeout | undefined;
    informer.on('error', () => {
      if (restartOnError && !stopped) restart = setTimeout(() => void informer.start(), 100);
    });
    cleanups.push(async () => {
      stopped = true;
      clearTimeout(restart);
      await informer.stop();
    });
    return { informer, seen, rvs };
  }

  const lists = () => server.requests.filter((r) => r.method === 'GET' && (r.path === EPS || r.path.startsWith(`${EPS}?`)) && !r.path.includes('watch=')).length;
  const watches = () => server.requests.filter((r) => r.path.startsWith(`${EPS}?`) && r.path.includes('watch=true'));

  it('feeds an informer ADD/UPDATE/DELETE and keeps it in sync across dropped watches without a relist', async () => {
    server.apply(slice('a', ['10.0.0.1']));
    const { informer, seen, rvs } = sliceInformer(false);
    await informer.start();
    await waitFor(() => seen.includes('add:a'));

    const api = kc.makeApiClient(k8s.DiscoveryV1Api);
    await api.createNamespacedEndpointSlice({ namespace: 'default', body: slice('b', ['10.0.0.2']) as unknown as k8s.V1EndpointSlice });
    await api.patchNamespacedEndpointSlice({ namespace: 'default', name: 'a', body: { endpoints: [{ addresses: ['10.0.0.9'] }] } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await api.deleteNamespacedEndpointSlice({ namespace: 'default', name: 'b' });
    await waitFor(() => seen.includes('delete:b'));
    expect(seen).toEqual(['add:a', 'add:b', 'update:a', 'delete:b']);

    const watchesBefore = watches().length;
    server.dropWatches();
    await waitFor(() => watches().length > watchesBefore);
    // The re-watch resumes from the last event the informer saw (b's deletion) instead of relisting.
    expect(new URL(watches().at(-1)!.path, server.url).searchParams.get('resourceVersion')).toBe(rvs.at(-1));
    server.apply(slice('a', ['10.0.0.10']));
    await waitFor(() => informer.get('a', 'default')?.endpoints?.[0]?.addresses[0] === '10.0.0.10');
    expect(seen.at(-1)).toBe('update:a');
    expect(lists()).toBe(1);
  });

  it('relists after a gap longer than the watch history and ends with an exact cache', async () => {
    server.apply(slice('a', ['10.0.0.1']));
    server.apply(slice('b', ['10.0.0.2']));
    const { informer, seen } = sliceInformer(true);
    await informer.start();
    await waitFor(() => seen.length === 2);

    await server.pause();
    server.delete(`${EPS}/a`);
    server.apply(slice('b', ['10.0.0.22']));
    server.apply(slice('c', ['10.0.0.3']));
    server.expireHistory();
    await server.resume();

    await waitFor(() => informer.list('default').map((o) => o.metadata?.name).sort().join() === 'b,c', 10_000);
    expect(informer.get('b', 'default')?.endpoints?.[0]?.addresses).toEqual(['10.0.0.22']);
    expect(seen).toEqual(expect.arrayContaining(['delete:a', 'update:b', 'add:c']));
    expect(lists()).toBe(2);
  });

  it('rejects a stale Lease write with 409 and a 3-digit MicroTime with 400', async () => {
    const leases = kc.makeApiClient(k8s.CoordinationV1Api);
    const spec = { holderIdentity: 'replica-a', leaseDurationSeconds: 15 };
    const plainDate = await apiError(leases.createNamespacedLease({ namespace: 'default',
      body: { metadata: { name: 'ballast-leader' }, spec: { ...spec, renewTime: new Date() } } }));
    expect(plainDate.code).toBe(400);
    expect(JSON.parse(plainDate.body)).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });

    await leases.createNamespacedLease({ namespace: 'default',
      body: { metadata: { name: 'ballast-leader' }, spec: { ...spec, renewTime: new k8s.V1MicroTime(Date.now()) } } });
    const read = await leases.readNamespacedLease({ namespace: 'default', name: 'ballast-leader' });
    expect(String(read.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const renewed = await leases.replaceNamespacedLease({ namespace: 'default', name: 'ballast-leader',
      body: { ...read, spec: { ...read.spec, renewTime: new k8s.V1MicroTime(Date.now()) } } });
    expect(renewed.metadata?.resourceVersion).not.toBe(read.metadata?.resourceVersion);
    const stale = await apiError(leases.replaceNamespacedLease({ namespace: 'default', name: 'ballast-leader',
      body: { ...read, spec: { ...read.spec, holderIdentity: 'replica-b', renewTime: new k8s.V1MicroTime(Date.now()) } } }));
    expect(stale.code).toBe(409);
    expect(JSON.parse(stale.body)).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'Operation cannot be fulfilled on leases.coordination.k8s.io "ballast-leader": the object has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict', details: { name: 'ballast-leader', group: 'coordination.k8s.io', kind: 'leases' }, code: 409,
    });
  });

  it('separates spec and status through the status subresource', async () => {
    server.apply(CRD);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const ref = { group: 'ballast.dev', version: 'v1alpha1', namespace: 'default', plural: 'balancerpools' };
    const created = await api.createNamespacedCustomObject({ ...ref,
      body: { ...pool('web', 'RoundRobin'), status: { backends: { ready: 9 } } } }) as KubeObject;
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);

    const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const withStatus = await api.patchNamespacedCustomObjectStatus({ ...ref, name: 'web',
      body: { spec: { algorithm: 'Random' }, status: { observedGeneration: 1, backends: { ready: 2, total: 3 } } } }, mergePatch) as KubeObject;
    expect(withStatus).toMatchObject({ spec: { algorithm: 'RoundRobin' }, status: { backends: { ready: 2, total: 3 } }, metadata: { generation: 1 } });

    const withSpec = await api.patchNamespacedCustomObject({ ...ref, name: 'web',
      body: { spec: { algorithm: 'IPHash' }, status: { backends: { ready: 0 } } } }, mergePatch) as KubeObject;
    expect(withSpec).toMatchObject({ spec: { algorithm: 'IPHash' }, status: { backends: { ready: 2 } }, metadata: { generation: 2 } });

    const jsonPatched = await api.patchNamespacedCustomObject({ ...ref, name: 'web',
      body: [{ op: 'test', path: '/spec/algorithm', value: 'IPHash' }, { op: 'replace', path: '/spec/algorithm', value: 'Random' }] }) as KubeObject;
    expect(jsonPatched).toMatchObject({ spec: { algorithm: 'Random' }, metadata: { generation: 3 } });

    const noRv = await apiError(api.replaceNamespacedCustomObject({ ...ref, name: 'web', body: pool('web', 'RoundRobin') }));
    expect(noRv.code).toBe(422);
    expect(JSON.parse(noRv.body)).toMatchObject({ reason: 'Invalid',
      message: 'BalancerPool.ballast.dev "web" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update' });
    const stale = await apiError(api.replaceNamespacedCustomObject({ ...ref, name: 'web', body: created }));
    expect(stale.code).toBe(409);
  });
});

describe('KubeApiServer on the wire', () => {
  let server: KubeApiServer;
  beforeEach(async () => {
    server = await KubeApiServer.start({ bookmarkIntervalMs: 100 });
  });
  afterEach(async () => {
    await server.stop();
  });

  it('serves aggregated discovery only when asked and registers CRD resources immediately', async () => {
    const legacy = await getJson(`${server.url}/apis`);
    expect(legacy).toMatchObject({ status: 200, contentType: 'application/json', body: { kind: 'APIGroupList' } });

    server.apply(CRD);
    const aggregated = await getJson(`${server.url}/apis`, { headers: { Accept: KUBECTL_DISCOVERY_ACCEPT } });
    expect(aggregated.contentType).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    expect(aggregated.body.items).toContainEqual({ metadata: { name: 'ballast.dev' }, versions: [{ version: 'v1alpha1', freshness: 'Current',
      resources: [expect.objectContaining({ resource: 'balancerpools', scope: 'Namespaced', shortNames: ['bp'],
        subresources: [expect.objectContaining({ subresource: 'status' })] })] }] });
    const resources = await getJson(`${server.url}/apis/ballast.dev/v1alpha1`);
    expect((resources.body.resources as { name: string }[]).map((r) => r.name)).toEqual(['balancerpools', 'balancerpools/status']);

    server.delete('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/balancerpools.ballast.dev');
    expect((await getJson(`${server.url}/apis/ballast.dev/v1alpha1`)).status).toBe(404);
    expect(await getJson(`${server.url}/openapi/v2`)).toMatchObject({ status: 404, body: { kind: 'Status', reason: 'NotFound' } });
    expect((await getJson(`${server.url}/version`)).body).toMatchObject({ major: '1', minor: '32' });
  });

  it('streams selector-filtered watch events with bookmarks and ends at timeoutSeconds', async () => {
    server.apply(configMap('web-1', { app: 'web', tier: 'front' }));
    server.apply(configMap('db-1', { app: 'db' }));
    const selector = encodeURIComponent('app in (web),tier,!canary');
    const started = Date.now();
    const { events, ended } = await readWatch(`${server.url}${CM}?watch=1&labelSelector=${selector}&allowWatchBookmarks=true&timeoutSeconds=1`, (seen) => {
      if (seen.length === 1) {
        server.apply(configMap('web-2', { app: 'web', tier: 'front' }));
        server.apply(configMap('web-1', { app: 'web', tier: 'front', canary: 'yes' }));
        server.apply(configMap('db-1', { app: 'db', tier: 'back' }));
      }
      return false;
    });
    expect(ended).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const changes = events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type}:${e.object.metadata.name}`);
    expect(changes).toEqual(['ADDED:web-1', 'ADDED:web-2', 'DELETED:web-1']);
    const bookmark = events.find((e) => e.type === 'BOOKMARK');
    expect(bookmark?.object).toEqual({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } });
  });

  it('replays history from a resourceVersion and reports an expired one inside the stream', async () => {
    const first = server.apply(configMap('one'));
    const rv = first.metadata.resourceVersion!;
    server.apply(configMap('one', {}, { k: 'v' }));
    server.delete(`${CM}/one`);
    const replay = await readWatch(`${server.url}${CM}?watch=true&resourceVersion=${rv}`, (seen) => seen.length === 2);
    expect(replay.events.map((e) => `${e.type}:${JSON.stringify(e.object.data)}`)).toEqual(['MODIFIED:{"k":"v"}', 'DELETED:{"k":"v"}']);

    server.expireHistory();
    const expired = await readWatch(`${server.url}${CM}?watch=true&resourceVersion=${rv}`, () => false);
    expect(expired.ended).toBe(true);
    expect(expired.events).toEqual([{ type: 'ERROR', object: {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410,
      message: expect.stringMatching(new RegExp(`^too old resource version: ${rv} \\(\\d+\\)$`)) } }]);
  });

  it('answers errors as Status objects, including injected ones', async () => {
    const post = (body: unknown) => getJson(`${server.url}${CM}`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const generated = await post({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } });
    expect(generated.status).toBe(201);
    expect(generated.body.metadata).toMatchObject({ name: expect.stringMatching(/^gen-[a-z0-9]{5}$/), namespace: 'default',
      uid: expect.any(String), resourceVersion: expect.any(String), creationTimestamp: expect.stringMatching(/:\d\dZ$/) });

    server.apply(configMap('taken'));
    expect(await post(configMap('taken'))).toMatchObject({ status: 409, body: {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'configmaps "taken" already exists',
      reason: 'AlreadyExists', details: { name: 'taken', group: '', kind: 'configmaps' }, code: 409 } });

    server.failNext({ method: 'GET', pathIncludes: '/configmaps/taken' }, 500, 2);
    expect((await getJson(`${server.url}${CM}/taken`)).body).toMatchObject({ kind: 'Status', reason: 'InternalError', code: 500 });
    expect((await getJson(`${server.url}${CM}/taken`)).status).toBe(500);
    expect((await getJson(`${server.url}${CM}/taken`)).status).toBe(200);

    const removed = await getJson(`${server.url}${CM}/taken`, { method: 'DELETE' });
    expect(removed.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'taken', kind: 'configmaps' } });
    expect(await getJson(`${server.url}${CM}/taken`)).toMatchObject({ status: 404, body: { reason: 'NotFound', message: 'configmaps "taken" not found' } });
  });
});

describe('ObjectSelector', () => {
  const obj = (labels: Record<string, string>): KubeObject => ({ metadata: { name: 'x', namespace: 'ns', labels } });

  it.each([
    ['app=web', { app: 'web' }, true],
    ['app==web,tier', { app: 'web' }, false],
    ['app!=web', {}, true],
    ['app in (web, db),!canary', { app: 'db' }, true],
    ['app notin (web)', { app: 'web' }, false],
    ['tier', { tier: '' }, true],
  ])('label selector %s on %j is %s', (selector, labels, expected) => {
    expect(ObjectSelector.parse(selector).matches(obj(labels))).toBe(expected);
  });

  it('matches metadata fields and rejects unsupported ones', () => {
    expect(ObjectSelector.parse('', 'metadata.name=x,metadata.namespace!=other').matches(obj({}))).toBe(true);
    expect(() => ObjectSelector.parse('', 'spec.port=80')).toThrow('field label not supported: spec.port');
  });
});

describe('applyPatch', () => {
  it('merges per RFC 7386 and strips strategic-merge directives', () => {
    expect(applyPatch('merge', { a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({ a: { c: 2, d: 3 }, l: [3] });
    expect(applyPatch('strategic', { a: [1] }, { $setElementOrder: [], a: [2], m: { $patch: 'merge', k: 1 } })).toEqual({ a: [2], m: { k: 1 } });
  });

  it('applies RFC 6902 operations and fails on a failed test', () => {
    const doc = { list: ['a', 'b'], m: { 'x/y': 1 } };
    expect(applyPatch('json', doc, [
      { op: 'add', path: '/list/-', value: 'c' },
      { op: 'move', from: '/list/0', path: '/first' },
      { op: 'copy', from: '/m/x~1y', path: '/n' },
      { op: 'remove', path: '/m' },
    ])).toEqual({ list: ['b', 'c'], first: 'a', n: 1 });
    expect(() => applyPatch('json', doc, [{ op: 'test', path: '/list/0', value: 'z' }])).toThrow('test failed');
    expect(doc).toEqual({ list: ['a', 'b'], m: { 'x/y': 1 } });
  });
});
