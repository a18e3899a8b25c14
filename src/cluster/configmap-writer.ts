// Cluster mode's NGINX output: one ConfigMap per pool with spec.nginx, owned by the BalancerPool
// (garbage-collected with it), labelled as Ballast's, written only when the content hash changed.
// Runs on the leader only. A new leader first finds the labelled ConfigMaps (adoptOrphans): those no
// pool wants any more (spec.nginx removed or renamed while no controller ran) are deleted.
import { objectKey, type ObjectKey } from '../api/keys.js';
import { API_VERSION, KIND, type BalancerPool } from '../api/schema.js';
import type { Logger } from '../log.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import { checkConfigMap, CONFIG_HASH_ANNOTATION, MANAGED_BY_LABEL, POOL_LABEL, renderConfigMap } from '../plan/nginx-upstream.js';
import { absentIfNotFound, type CallOptions, type KubeClient } from '../sources/kube/kube-client.js';

export type ConfigMapClient = Pick<KubeClient, 'getConfigMap' | 'listConfigMaps' | 'createConfigMap' | 'replaceConfigMap' | 'deleteConfigMap'>;

// Deleting a ConfigMap that is gone already, reading one not written yet, replacing one deleted
// since it was read (the retry creates it): answers, not failures. A 404 on a create is the
// namespace missing, and is reported.
const NOT_FOUND_IS_OK: CallOptions = { notFoundIsOk: true };

export interface ConfigMapWriterOptions {
  client: ConfigMapClient;
  logger: Logger;
  /** The namespace Ballast manages (default: all), where it looks for its ConfigMaps. */
  namespace?: string;
}
import type { Actuator, ActuatorReport } from '../controller/actuator.js';

export class ConfigMapWriter implements Actuator {
  readonly name = 'nginx-configmap';
  /** A write the API refused (RBAC, quota, outage) is the pool's problem too: its status says so. */
  readonly failureReason = 'ConfigMapWriteFailed';
  /** What this process wrote, by pool key, to delete it when the pool drops spec.nginx or renames it. */
  private readonly written = new Map<ObjectKey, { namespace: string; name: string }>();

  constructor(private readonly opts: ConfigMapWriterOptions) {}

  /**
   * Finds the ConfigMaps Ballast labelled (list with a label selector, in the namespaces it manages),
   * deletes those no pool wants (`pool` reads the synced store), and remembers the rest as written.
   * Call on becoming the writer.
   */
  async adoptOrphans(pool: (key: ObjectKey) => BalancerPool | undefined): Promise<void> {
    const { client, logger, namespace } = this.opts;
    for (const cm of await client.listConfigMaps(`${MANAGED_BY_LABEL}=ballast`, namespace)) {
      const meta = cm.metadata as { namespace: string; name: string; labels?: Record<string, string> };
      const poolName = meta.labels?.[POOL_LABEL];
      const key = poolName ? objectKey(meta.namespace, poolName) : undefined;
      const owner = key ? pool(key) : undefined;
      const wanted = owner?.spec.nginx && (owner.spec.nginx.configMap ?? `${owner.metadata.name}-nginx`) === meta.name;
      if (wanted) {
        this.written.set(key!, { namespace: meta.namespace, name: meta.name });
        continue;
      }
      await client.deleteConfigMap(meta.namespace, meta.name, NOT_FOUND_IS_OK).catch(absentIfNotFound);
      logger.info({ pool: key, configMap: `${meta.namespace}/${meta.name}` }, 'NGINX ConfigMap no pool wants any more deleted');
    }
  }

  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    const { client, logger } = this.opts;
    const before = this.written.get(key);
    if (!plan?.nginx) {
      if (before) {
        // The ownerReference covers a deleted pool in a real cluster; a pool that only drops spec.nginx needs this.
        await client.deleteConfigMap(before.namespace, before.name, NOT_FOUND_IS_OK).catch(absentIfNotFound);
        this.written.delete(key);
        logger.info({ pool: key, configMap: before.name }, 'NGINX ConfigMap deleted');
      }
      return {};
    }
    const owner = plan.uid ? { apiVersion: API_VERSION, kind: KIND, name: plan.name, uid: plan.uid } : undefined;
    const problem = checkConfigMap(plan, owner);
    if (problem) return { problem };
    const desired = renderConfigMap(plan, owner);
    const { name, namespace, annotations } = desired.metadata;
    const hash = annotations[CONFIG_HASH_ANNOTATION];
    const existing = (await client.getConfigMap(namespace, name, NOT_FOUND_IS_OK).catch(absentIfNotFound)) as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string } } | undefined;
    if (existing && existing.metadata.labels?.[MANAGED_BY_LABEL] !== 'ballast') {
      return { problem: { reason: 'ConfigMapConflict', message: `ConfigMap ${namespace}/${name} exists and is not managed by Ballast; refusing to overwrite it` } };
    }
    if (!existing) {
      await client.createConfigMap(namespace, desired as unknown as Record<string, unknown>);
    } else if (existing.metadata.annotations?.[CONFIG_HASH_ANNOTATION] !== hash) {
      // Conditional on the version read: a 409 means someone wrote meanwhile, and the reconcile retries.
      await client.replaceConfigMap(namespace, name, { ...desired, metadata: { ...desired.metadata, resourceVersion: existing.metadata.resourceVersion } }, NOT_FOUND_IS_OK);
    }
    if (!existing || existing.metadata.annotations?.[CONFIG_HASH_ANNOTATION] !== hash) {
      logger.info({ pool: key, configMap: name, hash, backends: plan.backends.length }, 'NGINX ConfigMap written');
    }
    if (before && before.name !== name) await client.deleteConfigMap(before.namespace, before.name, NOT_FOUND_IS_OK).catch(absentIfNotFound);
    this.written.set(key, { namespace, name });
    return { facts: { configMap: name, hash } };
  }

  async close(): Promise<void> {}
}
