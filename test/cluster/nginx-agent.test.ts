// `ballast nginx-agent` in cluster mode on the real control plane, as the ServiceAccount
// manifests/nginx ships: the controller's KubeSource (list + watch) feeds the agent, which keeps a
// real nginx in step; a write reaches NGINX as fast as the watch delivers it, without a reload.
// kube-apiserver refuses loopback addresses in EndpointSlices, so the writes change a pool's
// static endpoints (the same watch path, the same rendering).
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { startNginxAgent, type RunningNginxAgent } from '../../src/cli/nginx-agent.js';
import { createLogger } from '../../src/log.js';
import { controllerIdentity, createNamespace, deleteNamespace, KubeAdmin } from '../support/cluster.js';
import { freePort } from '../support/http-get.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { createNginxPrefix, NGINX_BIN, startNginx, stopAllNginx, type NginxPrefix, type RunningNginx } from '../support/nginx.js';
import { waitFor } from '../support/wait-for.js';

const api = new KubeAdmin();
let ns: string;
let kubeconfig: string;
let work: string;
let prefix: NginxPrefix;
let agent: RunningNginxAgent;
let nginx: RunningNginx;
const servers: http.Server[] = [];

const pool = (addresses: string[], port: number) => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: ns },
  spec: { endpoints: addresses.map((address) => ({ address, port })), nginx: {} },
});

/** One backend per loopback address on the same port, as Pods behind one Service port are. */
async function backendsOn(addresses: string[], port: number): Promise<void> {
  for (const address of addresses) {
    const server = http.createServer((_req, res) => res.end(address));
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(port, address, resolve));
    servers.push(server);
  }
}

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-agent-cluster-'));
  ns = await createNamespace(api, 'agent');
  ({ kubeconfig } = await controllerIdentity(api, ns, work, 'manifests/nginx'));
});

afterEach(async () => {
  await nginx?.stop();
  await agent?.stop();
  await deleteNamespace(api, ns);
  await prefix?.remove();
  for (const s of servers.splice(0)) await new Promise((resolve) => (s.closeAllConnections(), s.close(resolve)));
  await rm(work, { recursive: true, force: true });
});
afterAll(stopAllNginx);

describe('nginx-agent with the Kubernetes API', () => {
  it('follows pool writes without a reload: time from the write to NGINX serving, over 100 writes', async () => {
    const port = await freePort();
    await backendsOn(['127.0.0.2', '127.0.0.3'], port);
    await api.apply(pool(['127.0.0.2'], port));
    const outDir = path.join(work, 'out');
    prefix = await createNginxPrefix({ include: `${outDir}/*.conf`, upstream: `${ns.replace(/-/g, '_')}_web`, lua: true });
    agent = await startNginxAgent({
      kubeconfig,
      namespace: ns,
      outDir,
      mode: 'dynamic',
      nginxConf: prefix.conf,
      nginxPrefix: prefix.prefix,
      nginxBin: NGINX_BIN,
      emptyPoolListen: `127.0.0.1:${await freePort()}`,
      logger: createLogger('silent'),
    });
    nginx = await startNginx(prefix);
    const load = new KeepAliveLoad(nginx.url(), { concurrency: 1, maxMs: 120_000 });
    try {
      await waitFor(() => load.replies.some((r) => r.body === '127.0.0.2'));
      const reloads = agent.agent!.status().reloads;
      const latencies: number[] = [];
      for (let k = 1; k <= 100; k++) {
        const target = k % 2 === 1 ? '127.0.0.3' : '127.0.0.2';
        const t0 = performance.now();
        void api.apply(pool([target], port));
        const first = await waitFor(() => load.replies.find((r) => r.at >= t0 && r.body === target), 10_000);
        latencies.push(first.at - t0);
      }
      expect(agent.agent!.status().reloads).toBe(reloads);
      expect(load.failures).toEqual([]);
      expect(load.retriedResets).toBe(0);
      const sorted = latencies.sort((a, b) => a - b);
      const p = (q: number) => sorted[Math.ceil((q / 100) * sorted.length) - 1].toFixed(1);
      console.log(`[nginx-agent] cluster mode (kube-apiserver watch), BalancerPool write -> new set served over 100 writes: p50 ${p(50)} ms, p99 ${p(99)} ms, 0 reloads`);
    } finally {
      await load.stop();
    }
  }, 120_000);
});
