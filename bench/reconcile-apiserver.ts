// Benchmark 2b: reconcile latency through the Kubernetes API: the test API server
// (test/support/kube-apiserver.ts) runs in this process, `ballast controller` runs as a child process
// talking to it through @kubernetes/client-node; each change rewrites the EndpointSlice's port to the
// other backend, and the clock runs until the first request served by that backend.
//   npx tsx bench/reconcile-apiserver.ts [--changes 100]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import type { KubeObject } from '../test/support/kube-object.js';
import { ROOT, startBallastCli, type BallastProcess } from './lib/ballast.js';
import { freePort, waitForHttp } from './lib/http.js';
import { startNginxBackend } from './lib/nginx.js';
import { placement, stopAll } from './lib/proc.js';
import { measureSwitches } from './lib/switch-timer.js';
import { reconcileTable, syncMetric, type ReconcileResult } from './reconcile-dev.js';

const slice = (port: number): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc12', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }],
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
});

const pool = (listen: number): KubeObject => ({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: 'default' },
  spec: { service: { name: 'web', port: 'http' }, listener: { address: '127.0.0.1', port: listen } },
});

export async function runReconcileApiServer({ changes, log = () => {} }: { changes: number; log?: (l: string) => void }): Promise<ReconcileResult> {
  const pl = placement();
  const [a, b, listen] = [await freePort(), await freePort(), await freePort()];
  const backend = await startNginxBackend([a, b], pl.backend);
  const work = await mkdtemp(path.join(tmpdir(), 'ballast-bench-kube-'));
  const api = await KubeApiServer.start({ bookmarkIntervalMs: 60_000 });
  let ballast: BallastProcess | undefined;
  try {
    const kubeconfig = path.join(work, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);
    api.apply(parse(await readFile(path.join(ROOT, 'crds/balancerpool.yaml'), 'utf8')) as KubeObject);
    api.apply(slice(a));
    api.apply(pool(listen));
    ballast = await startBallastCli({
      args: ['controller', '--kubeconfig', kubeconfig, '--leader-elect=false', '--admin', '127.0.0.1:0', '--shutdown-delay', '0'],
      cpu: pl.proxy,
    });
    await waitForHttp(`http://127.0.0.1:${listen}/`, 30_000, 200, `port ${a}`);
    const before = await syncMetric(ballast);
    const firstRequest = api.requests.length;
    const stats = await measureSwitches({ listenerUrl: `http://127.0.0.1:${listen}/`, ports: [a, b], changes, log, change: (port) => void api.apply(slice(port)) });
    const after = await syncMetric(ballast);
    const count = after.count - before.count;
    // What the controller sent to the API server per change (status writes and Events hold the key in flight).
    const perChange = new Map<string, number>();
    for (const r of api.requests.slice(firstRequest)) {
      if (r.path.includes('watch=')) continue;
      const what = `${r.method} ${r.path.replace(/\?.*$/, '').replace(/\/namespaces\/[^/]+/, '/namespaces/*').replace(/\/(events|balancerpools)\/[^/]+/, '/$1/NAME')}`;
      perChange.set(what, (perChange.get(what) ?? 0) + 1);
    }
    const result: ReconcileResult = {
      apiRequestsPerChange: Object.fromEntries([...perChange].sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, Number((v / changes).toFixed(2))])),
      source: 'EndpointSlice update via the API server (controller)',
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
    await api.stop();
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
