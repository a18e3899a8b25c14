// Benchmark 2a: reconcile latency in dev mode, from a file save (an editor's atomic rename of the
// manifest, switching the pool to a second backend) to the first request served by that backend.
//   npx tsx bench/reconcile-dev.ts [--changes 100]
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { startBallastCli, type BallastProcess } from './lib/ballast.js';
import { freePort, metric, waitForHttp } from './lib/http.js';
import { startNginxBackend } from './lib/nginx.js';
import { placement, stopAll } from './lib/proc.js';
import { measureSwitches, type SwitchStats } from './lib/switch-timer.js';
import { fmtMs, table } from './lib/table.js';
import { poolManifest } from './lib/targets.js';

export interface ReconcileResult {
  source: string;
  changes: number;
  stats: SwitchStats;
  /** Ballast's own `ballast_sync_latency_seconds` over the run: source change → pool live (mean). */
  internalSyncMeanMs?: number;
  internalSyncCount?: number;
  /** API server runs only: requests the controller made, per change, by method and path. */
  apiRequestsPerChange?: Record<string, number>;
  markdown: string;
}

export function reconcileTable(results: ReconcileResult[]): string {
  return table(
    ['source of the change', 'changes', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms', 'failures', 'Ballast sync metric mean ms'],
    results.map((r) => [
      r.source,
      String(r.stats.samplesMs.length),
      fmtMs(r.stats.p50Ms, 1),
      fmtMs(r.stats.p90Ms, 1),
      fmtMs(r.stats.p99Ms, 1),
      fmtMs(r.stats.maxMs, 1),
      fmtMs(r.stats.meanMs, 1),
      String(r.stats.failures),
      fmtMs(r.internalSyncMeanMs, 2),
    ]),
  );
}

export async function syncMetric(b: BallastProcess): Promise<{ sum: number; count: number }> {
  const text = await b.metrics();
  return { sum: metric(text, 'ballast_sync_latency_seconds_sum') ?? 0, count: metric(text, 'ballast_sync_latency_seconds_count') ?? 0 };
}

export async function runReconcileDev({ changes, log = () => {} }: { changes: number; log?: (l: string) => void }): Promise<ReconcileResult> {
  const pl = placement();
  const [a, b, listen] = [await freePort(), await freePort(), await freePort()];
  const backend = await startNginxBackend([a, b], pl.backend);
  const dir = await mkdtemp(path.join(tmpdir(), 'ballast-bench-reconcile-'));
  const file = path.join(dir, 'pool.yaml');
  let ballast: BallastProcess | undefined;
  try {
    await writeFile(file, poolManifest('web', listen, [a]));
    ballast = await startBallastCli({ args: ['dev', '--manifests', dir, '--admin', '127.0.0.1:0'], cpu: pl.proxy });
    await waitForHttp(`http://127.0.0.1:${listen}/`, 20_000, 200, `port ${a}`);
    const before = await syncMetric(ballast);
    let n = 0;
    const stats = await measureSwitches({
      listenerUrl: `http://127.0.0.1:${listen}/`,
      ports: [a, b],
      changes,
      log,
      async change(port) {
        // An editor's save: write a temporary file beside it, then rename over the manifest.
        const tmp = path.join(dir, `.pool.yaml.${n++}.tmp`);
        await writeFile(tmp, poolManifest('web', listen, [port]));
        await rename(tmp, file);
      },
    });
    const after = await syncMetric(ballast);
    const count = after.count - before.count;
    const result: ReconcileResult = {
      source: 'file save (dev mode, atomic rename)',
      changes,
      stats,
      internalSyncCount: count,
      internalSyncMeanMs: count > 0 ? ((after.sum - before.sum) * 1000) / count : undefined,
      markdown: '',
    };
    result.markdown = reconcileTable([result]);
    return result;
  } finally {
    await ballast?.stop();
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { changes: { type: 'string', default: '100' } } });
  runReconcileDev({ changes: Number(values.changes), log: (l) => console.error(l) })
    .then((r) => console.log(r.markdown))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => void stopAll());
}
