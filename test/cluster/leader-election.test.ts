// Leader election on the real API server when the leader's path to it freezes (our HTTP proxy takes
// requests and never answers, nothing is reset): the leader must give up at its renew deadline,
// before a follower can take the Lease, so two replicas never both believe they lead.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { clusterInfo, controllerIdentity, createNamespace, deleteNamespace, KubeAdmin } from '../support/cluster.js';
import { startTestController, stopControllers } from '../support/cluster-controller.js';
import { ApiHttpProxy } from '../support/api-http-proxy.js';
import { waitFor } from '../support/wait-for.js';

const admin = new KubeAdmin();
let work: string;
let ns: string;
let proxy: ApiHttpProxy | undefined;

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-lease-'));
  ns = await createNamespace(admin, 'lease');
});

afterEach(async () => {
  if (proxy) proxy.frozen = false;
  await stopControllers();
  await proxy?.close();
  proxy = undefined;
  await deleteNamespace(admin, ns);
  await rm(work, { recursive: true, force: true });
});

describe('leader election on a real API server', () => {
  it('a leader whose connection freezes steps down at its renew deadline, before a follower takes over', async () => {
    const info = clusterInfo();
    const identity = await controllerIdentity(admin, ns, work);
    proxy = await ApiHttpProxy.start(info);
    const frozenKubeconfig = path.join(work, 'through-proxy.kubeconfig');
    await proxy.writeKubeconfig(frozenKubeconfig, identity.token, ns);
    const leaseTimings = { leaseDurationMs: 4000, renewDeadlineMs: 2500, retryPeriodMs: 300 };

    const a = await startTestController(frozenKubeconfig, ns, { leaderElect: true, leaseTimings, identity: 'replica-a' });
    await waitFor(() => a.elector!.isLeader, 5000);
    const b = await startTestController(identity.kubeconfig, ns, { leaderElect: true, leaseTimings, identity: 'replica-b' });

    let bothLed = false;
    const unwatch = setInterval(() => (bothLed ||= a.elector!.isLeader && b.elector!.isLeader), 10);
    proxy.frozen = true;
    await waitFor(() => b.elector!.isLeader, leaseTimings.leaseDurationMs + 5000);
    clearInterval(unwatch);
    expect(bothLed).toBe(false);
    expect(a.elector!.isLeader).toBe(false);
    expect(a.logs.messages()).toContain('failed to renew the lease within the renew deadline; stepping down');
    const lease = await admin.get<{ spec: { holderIdentity: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/ballast-test`);
    expect(lease?.spec.holderIdentity).toBe('replica-b');
  });
});
