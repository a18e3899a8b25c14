// Cluster mode end to end: the controller talks to the test API server only through
// @kubernetes/client-node over HTTP; kubectl applies the CRD and the pool; real backends on loopback.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startController, type Controller, type ControllerOptions } from '../../src/cli/controller.js';
import { parseListenerPolicy } from '../../src/plan/listener-policy.js';
import { KubeApiServer } from '../support/kube-apiserver.js';
import { servedBy, startDemoBackends } from '../support/demo-backends.js';
import { freePort, get, refused } from '../support/http-get.js';
import { captureLogs } from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);
const POOLS = '/apis/ballast.dev/v1alpha1/namespaces/default/balancerpools';
const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';

let work: string;
let kubeconfig: string;
let api: KubeApiServer;
let ports: number[] = [];
let closeBackends: () => Promise<void>;
const controllers: Controller[] = [];

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', path.join(work, 'cache'), ...args], { timeout: 20_000 });
  return stdout;
}

async function controller(extra: Partial<ControllerOptions> = {}): Promise<Controller> {
  const c = await startController({
    kubeconfig,
    admin: '127.0.0.1:0',
    leaderElect: false,
    leaderElectionNamespace: 'default',
    leaderElectionId: 'ballast-test',
    listenerNamespaces: parseListenerPolicy('default'),
    resyncSeconds: 0,
    shutdownDelaySeconds: 0,
    logger: captureLogs().logger,
    watchBackoff: { baseMs: 100, maxMs: 1000, jitter: 0.2 },
    ...extra,
  });
  controllers.push(c);
  return c;
}

function slice(name: string, endpoints: { port: number; ready?: boolean; serving?: boolean; terminating?: boolean }[], portName = 'http') {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    // One address, one port per backend would need one slice per port; loopback backends differ by port,
    // so each slice here carries one backend port.
    ports: [{ name: portName, port: endpoints[0]?.port ?? 1, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({ addresses: ['127.0.0.1'], conditions: { ready: e.ready ?? true, serving: e.serving, terminating: e.terminating } })),
  };
}

const pool = (listen: number, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: 'default' },
  spec: { service: { name: 'web', port: 'http' }, listener: { address: '127.0.0.1', port: listen }, ...extra },
});

const status = () => api.get(`${POOLS}/web`)?.status as
  | { observedGeneration?: number; backends?: { ready: number; total: number }; conditions?: { type: string; status: string; reason: string }[]; listener?: string }
  | undefined;
const condition = (type: string) => status()?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-cluster-'));
  ({ ports, close: closeBackends } = await startDemoBackends(3));
});

afterAll(async () => {
  await closeBackends();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  api = await KubeApiServer.start({ bookmarkIntervalMs: 60_000 });
  kubeconfig = path.join(work, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  await kubectl('apply', '-f', path.resolve('crds/balancerpool.yaml'));
});

afterEach(async () => {
  await Promise.all(controllers.splice(0).map((c) => c.stop()));
  await api.stop();
});

describe('ballast controller', () => {
  it('serves a pool applied with kubectl, follows endpoint changes, writes status and Events, and closes on delete', async () => {
    const listen = await freePort();
    // Two slices of one Service: one backend each (loopback backends differ by port).
    api.apply(slice('web-a', [{ port: ports[0] }]));
    api.apply(slice('web-b', [{ port: ports[1] }]));
    await writeFile(path.join(work, 'pool.yaml'), JSON.stringify(pool(listen)));
    await kubectl('apply', '-f', path.join(work, 'pool.yaml'));
    await controller();

    await waitFor(() => servedBy(listen, [ports[0], ports[1]]), 10_000);
    await waitFor(() => status()?.backends?.ready === 2 && condition('Ready')?.status === 'True', 5000);
    expect(status()).toEqual(expect.objectContaining({ observedGeneration: 1, backends: { ready: 2, total: 2 }, listener: `127.0.0.1:${listen}` }));
    expect(await kubectl('get', 'bp')).toMatch(new RegExp(`web\\s+RoundRobin\\s+2\\s+2\\s+127\\.0\\.0\\.1:${listen}\\s+BackendsAvailable`));

    // Scale up, then one not ready and one terminating: only the ready one serves.
    api.apply(slice('web-c', [{ port: ports[2] }]));
    await waitFor(() => servedBy(listen, ports), 10_000);
    api.apply(slice('web-a', [{ port: ports[0], ready: false }]));
    api.apply(slice('web-b', [{ port: ports[1], ready: false, serving: true, terminating: true }]));
    await waitFor(() => servedBy(listen, [ports[2]]), 10_000);
    await waitFor(() => status()?.backends?.ready === 1 && status()?.backends?.total === 3, 5000);
    // Nothing ready: the serving-but-terminating one takes the traffic (KEP-1669).
    api.apply(slice('web-c', [{ port: ports[2], ready: false }]));
    await waitFor(() => servedBy(listen, [ports[1]]), 10_000);
    await waitFor(() => condition('Ready')?.status === 'True' && status()?.backends?.ready === 0, 5000);

    const events = api.list('/api/v1/namespaces/default/events') as unknown as { reason: string; message: string; involvedObject: { name: string } }[];
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['BackendsChanged', 'ListenerOpened']));

    await kubectl('delete', 'bp', 'web');
    await waitFor(() => refused(listen), 10_000);
  });

  it('reports a service port that does not exist, and follows the port when it moves', async () => {
    const listen = await freePort();
    api.apply(slice('web-a', [{ port: ports[0] }], 'web'));
    api.apply(pool(listen));
    await controller();
    await waitFor(() => condition('Degraded')?.reason === 'ServicePortNotFound', 10_000);
    expect(condition('Ready')).toEqual(expect.objectContaining({ status: 'False', reason: 'ServicePortNotFound' }));

    api.apply(slice('web-a', [{ port: ports[0] }], 'http'));
    await waitFor(() => servedBy(listen, [ports[0]]), 10_000);
    await waitFor(() => condition('Degraded')?.status === 'False', 5000);
    api.apply(slice('web-a', [{ port: ports[1] }], 'http'));
    await waitFor(() => servedBy(listen, [ports[1]]), 10_000);
    // One backend swapped for another leaves status as it was, but is worth an Event.
    const events = () => api.list('/api/v1/namespaces/default/events') as unknown as { reason: string; message: string }[];
    await waitFor(() => events().some((e) => e.reason === 'BackendsChanged' && e.message === `added 127.0.0.1:${ports[1]}; removed 127.0.0.1:${ports[0]} (1 in rotation)`), 5000);
  });

  it('keeps following after dropped watches, a 410 Gone relist (with a delete during the gap) and an API outage', async () => {
    const listen = await freePort();
    api.apply(slice('web-a', [{ port: ports[0] }]));
    api.apply(slice('web-b', [{ port: ports[1] }]));
    api.apply(pool(listen));
    const c = await controller();
    await waitFor(() => servedBy(listen, [ports[0], ports[1]]), 10_000);

    api.dropWatches();
    api.apply(slice('web-c', [{ port: ports[2] }]));
    await waitFor(() => servedBy(listen, ports), 10_000);

    // History expires while the watches are down; web-a is deleted in the gap: the relist must drop it.
    await api.pause();
    api.expireHistory();
    api.delete(`${SLICES}/web-a`);
    await api.resume();
    await waitFor(() => servedBy(listen, [ports[1], ports[2]]), 15_000);
    expect(c.app.store.keys('EndpointSlice').sort()).toEqual(['default/web-b', 'default/web-c']);

    // The proxy kept serving the last known backends throughout the outage.
    await api.pause();
    expect(await servedBy(listen, [ports[1], ports[2]])).toBe(true);
    await api.resume();
    api.delete(`${SLICES}/web-c`);
    await waitFor(() => servedBy(listen, [ports[1]]), 15_000);
  });

  it('retries a status write refused with 409 Conflict', async () => {
    const listen = await freePort();
    api.apply(slice('web-a', [{ port: ports[0] }]));
    api.failNext({ method: 'PATCH', pathIncludes: '/balancerpools/web/status' }, 409, 2);
    api.apply(pool(listen));
    await controller();
    await waitFor(() => condition('Ready')?.status === 'True', 10_000);
    const patches = api.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/web/status'));
    expect(patches.length).toBeGreaterThanOrEqual(3);
  });

  it('lets only the Lease holder write; a stopped leader hands over within the lease duration while both proxies serve', async () => {
    const timings = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };
    const [l1, l2] = [await freePort(), await freePort()];
    api.apply(slice('web-a', [{ port: ports[0] }]));
    // One pool per replica's listener would conflict across processes on one host, so each replica
    // gets its own pool; both pools' statuses show which replica writes.
    api.apply(pool(l1));
    api.apply({ ...pool(l2), metadata: { name: 'web2', namespace: 'default' } });
    const a = await controller({ leaderElect: true, leaseTimings: timings, identity: 'replica-a', namespace: 'default', pool: 'web' });
    const b = await controller({ leaderElect: true, leaseTimings: timings, identity: 'replica-b', namespace: 'default', pool: 'web2' });
    await waitFor(() => a.elector!.isLeader !== b.elector!.isLeader, 5000);
    const [leader, follower] = a.elector!.isLeader ? [a, b] : [b, a];
    const leaderPool = leader === a ? 'web' : 'web2';
    const followerPool = leader === a ? 'web2' : 'web';
    await waitFor(() => api.get(`${POOLS}/${leaderPool}`)?.status, 10_000);
    // The follower serves its pool but writes nothing.
    await waitFor(() => servedBy(leader === a ? l2 : l1, [ports[0]]), 10_000);
    expect(api.get(`${POOLS}/${followerPool}`)?.status).toBeUndefined();
    expect(api.get('/apis/coordination.k8s.io/v1/namespaces/default/leases/ballast-test')?.spec).toEqual(
      expect.objectContaining({ holderIdentity: leader === a ? 'replica-a' : 'replica-b' }),
    );

    // Traffic through the follower's proxy runs across the handover and must not fail once.
    const followerPort = leader === a ? l2 : l1;
    let sent = 0;
    let failed = 0;
    let handedOver = false;
    const load = (async () => {
      while (!handedOver) {
        sent++;
        const r = await get(`http://127.0.0.1:${followerPort}/`).catch(() => undefined);
        if (r?.status !== 200) failed++;
      }
    })();
    const stoppedAt = Date.now();
    await leader.stop();
    controllers.splice(controllers.indexOf(leader), 1);
    await waitFor(() => follower.elector!.isLeader, timings.leaseDurationMs + 2000);
    expect(Date.now() - stoppedAt).toBeLessThan(timings.leaseDurationMs + 2000);
    await waitFor(() => api.get(`${POOLS}/${followerPool}`)?.status, 10_000);
    handedOver = true;
    await load;
    expect(sent).toBeGreaterThan(0);
    expect(failed).toBe(0);
  });
});
