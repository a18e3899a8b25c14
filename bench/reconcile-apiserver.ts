// Benchmark 2b: reconcile latency through the Kubernetes API: the tests' real control plane
// (test/support/control-plane.ts: etcd, kube-apiserver, kube-controller-manager), `ballast controller`
// as a child process, authenticated as the ServiceAccount manifests/ ships. Each change rewrites the
// pool's static endpoint to the other backend (EndpointSlices may not name loopback addresses), and
// the clock runs until the first request served by that backend.
//   npx tsx bench/reconcile-apiserver.ts [--changes 100]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { auditedRequests, controllerIdentity, createNamespace, KubeAdmin, startTestControlPlane, type KubeObject } from '../test/support/cluster.js';
import { startBallastCli, type BallastProcess } from './lib/ballast.js';
import { freePort, waitForHttp } from './lib/http.js';
import { startNginxBackend } from './lib/nginx.js';
import { placement, stopAll } from './lib/proc.js';
import { measureSwitches } from './lib/switch-timer.js';
import { reconcileTable, syncMetric, type ReconcileResult } from './reconcile-dev.js';

const pool = (namespace: string, listen: number, port: number): KubeObject => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace },
  spec: { endpoints: [{ address: '127.0.0.1', port }], listener: { address: '127.0.0.1', port: listen } },
});

export async function runReconcileApiServer({ changes, log = () => {} }: { changes: number; log?: (l: string) => void }): Promise<ReconcileResult> {
  const pl = placement();
  const [a, b, listen] = [await freePort(), await freePort(), await freePort()];
  const backend = await startNginxBackend([a, b], pl.backend);
  const work = await mkdtemp(path.join(tmpdir(), 'ballast-bench-kube-'));
  const cp = await startTestControlPlane();
  let ballast: BallastProcess | undefined;
  try {
    const admin = new KubeAdmin(cp.info);
    const ns = await createNamespace(admin, 'bench');
    const { kubeconfig, user } = await controllerIdentity(admin, ns, work);
    await admin.apply(pool(ns, listen, a));
    ballast = await startBallastCli({
      args: ['controller', '--kubeconfig', kubeconfig, '--namespace', ns, '--leader-elect=false', '--admin', '127.0.0.1:0', '--shutdown-delay', '0'],
      cpu: pl.proxy,
    });
    await waitForHttp(`http://127.0.0.1:${listen}/`, 30_000, 200, `port ${a}`);
    const before = await syncMetric(ballast);
    const firstRequest = auditedRequests(user, cp.info.auditLog).length;
    const stats = await measureSwitches({ listenerUrl: `http://127.0.0.1:${listen}/`, ports: [a, b], changes, log, change: (port) => void admin.apply(pool(ns, listen, port)) });
    const after = await syncMetric(ballast);
    const count = after.count - before.count;
    // What the controller sent to the API server per change (status writes and Events hold the key
    // in flight), from the API server's audit log.
    const perChange = new Map<string, number>();
    for (const r of auditedRequests(user, cp.info.auditLog).slice(firstRequest)) {
      if (r.verb === 'watch') continue;
      const what = `${r.verb} ${r.apiGroup ? `${r.apiGroup}/` : ''}${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
      perChange.set(what, (perChange.get(what) ?? 0) + 1);
    }
    const result: ReconcileResult = {
      apiRequestsPerChange: Object.fromEntries([...perChange].sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Number((v / changes).toFixed(2))])),
      source: 'BalancerPool update via kube-apiserver (controller)',
      changes,
      stats,
      internalSyncCount: count,
      internalSyncMeanMs: count > 0 ? ((after.sum - before.sum) * 1000) / count : undefined,
      markdown: '',
    };
    result.markdown = `${reconcileTable([result])}\n\nAPI requests from the controller per change: ${Object.entries(result.apiRequestsPerChange!)
      .map(([k, v]) => `\`${k}\` ${v}`)
      .join(', ')}`;
    return result;
  } finally {
    await ballast?.stop();
    await cp.stop();
    await backend.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { changes: { type: 'string', default: '100' } } });
  runReconcileApiServer({ changes: Number(values.changes), log: (l) => console.error(l) })
    .then((r) => console.log(r.markdown))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => void stopAll());
}
