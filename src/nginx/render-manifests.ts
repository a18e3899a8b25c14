// Offline NGINX output for `ballast render nginx`: the same objects the controller would apply, so
// they can be reviewed, diffed, or applied by GitOps tooling without running the controller.
import { stringify } from 'yaml';
import type { ObjectKey } from '../api/keys.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import { checkConfigMap, renderConfigMap, renderUpstream, type NginxProblem, type UpstreamRenderOptions } from '../plan/nginx-upstream.js';

export interface RenderNginxOptions extends UpstreamRenderOptions {
  /** `yaml`: one ConfigMap document per pool; `conf`: the raw upstream blocks, as nginx includes them. */
  format: 'yaml' | 'conf';
}

export interface RenderNginxResult {
  /** The rendered pools, in key order; empty when no pool could be rendered. */
  text: string;
  /** Pools left out, with why (no spec.nginx, invalid address, too large, ...). */
  problems: Array<NginxProblem & { key: ObjectKey }>;
}

/**
 * Renders every pool that has spec.nginx. Pools are ordered by key so the output is stable whatever
 * order the files were given in. Offline objects carry no ownerReferences: there is no pool uid yet.
 */
export function renderNginxManifests(pools: readonly DesiredPool[], { format, ...render }: RenderNginxOptions): RenderNginxResult {
  const problems: RenderNginxResult['problems'] = [];
  const parts: string[] = [];
  for (const plan of [...pools].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const problem = checkConfigMap(plan, undefined, render);
    if (problem) {
      problems.push({ key: plan.key, ...problem });
      continue;
    }
    parts.push(format === 'yaml' ? stringify(renderConfigMap(plan, undefined, render), { blockQuote: 'literal', lineWidth: 0 }) : renderUpstream(plan, render));
  }
  return { text: parts.join(format === 'yaml' ? '---\n' : '\n'), problems };
}
