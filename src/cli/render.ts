import { keyOf } from '../api/keys.js';
import { PoolReconciler } from '../controller/pool-reconciler.js';
import { ObjectStore } from '../controller/store.js';
import { silentLogger } from '../log.js';
import { renderNginxManifests } from '../nginx/render-manifests.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import { loadFiles } from './load-files.js';

/**
 * `ballast render nginx -f FILE…`: plans the pools in the files exactly as dev mode would (Service
 * pools resolve through the Services and EndpointSlices in the same files) and prints their NGINX
 * ConfigMaps or raw upstream blocks. Exit 1 when a file is invalid or a pool cannot be rendered.
 */
export async function runRenderNginx(targets: string[], format: 'yaml' | 'conf', out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { objects, errors } = await loadFiles(targets);
  const store = new ObjectStore();
  const files = store.forSource('files');
  for (const o of objects) files.upsert(o);
  const planner = new PoolReconciler(store, [], [], silentLogger);
  const plans = store.list('BalancerPool').map((p) => planner.plan(keyOf(p)).plan as DesiredPool);
  const { text, problems } = renderNginxManifests(plans, { format });
  for (const e of errors) err.write(`${e}\n`);
  for (const p of problems) err.write(`BalancerPool ${p.key}: ${p.reason}: ${p.message}\n`);
  out.write(text);
  return errors.length > 0 || problems.length > 0 ? 1 : 0;
}
