import path from 'node:path';
import { startBallast, type Ballast } from '../app.js';
import type { Source } from '../controller/source.js';
import type { Logger } from '../log.js';
import { NginxAgent, type NginxAgentMode } from '../nginx/nginx-agent.js';
import { NginxBinary } from '../nginx/nginx-binary.js';
import { NginxReloader } from '../nginx/reloader.js';
import { FileSource } from '../sources/file/file-source.js';
import { runUntilSignal } from './run-until-signal.js';

export interface NginxAgentCliOptions {
  /** Dev: pools from this folder of manifests; otherwise from the Kubernetes API. */
  manifests?: string;
  kubeconfig?: string;
  namespace?: string;
  resyncSeconds?: number;
  /** Plain mode without a source: reload when this folder of mounted upstream ConfigMaps changes. */
  watch?: string;
  outDir?: string;
  mode: NginxAgentMode | 'auto';
  socket?: string;
  nginxConf: string;
  nginxPrefix?: string;
  nginxBin?: string;
  /** --watch only: quiet time after a folder event. */
  debounceMs?: number;
  admin?: string;
  /** Probes-only listener (`--health-address`), reachable by the kubelet and Prometheus. */
  health?: string;
  emptyPoolListen?: string;
  logger: Logger;
}

export interface RunningNginxAgent {
  /** Absent with --watch, which has no source and no reconciler. */
  app?: Ballast;
  agent?: NginxAgent;
  reloader?: NginxReloader;
  stop(): Promise<void>;
}

async function sourceFor(o: NginxAgentCliOptions): Promise<Source> {
  const { logger } = o;
  if (o.manifests) return new FileSource({ dir: path.resolve(o.manifests), logger });
  // Loaded only in cluster mode: the Kubernetes client costs tens of MB.
  const { KubeClient, loadKubeConfig } = await import('../sources/kube/kube-client.js');
  const { KubeSource } = await import('../sources/kube/kube-source.js');
  return new KubeSource({ client: new KubeClient(loadKubeConfig(o.kubeconfig)), logger, namespace: o.namespace });
}

/**
 * `ballast nginx-agent`: the pools (from the API, or manifests in dev) feed the shared reconciler,
 * whose one actuator keeps NGINX in step; no in-process proxy runs. With `watch`, the agent only
 * validates and reloads a folder someone else writes (mounted ConfigMaps).
 */
export async function startNginxAgent(o: NginxAgentCliOptions): Promise<RunningNginxAgent> {
  const nginx = { conf: o.nginxConf, prefix: o.nginxPrefix, bin: o.nginxBin };
  if (o.watch) {
    const reloader = new NginxReloader({ watchDir: path.resolve(o.watch), nginxConf: nginx.conf, nginxPrefix: nginx.prefix, nginxBin: nginx.bin, debounceMs: o.debounceMs, logger: o.logger });
    await reloader.start();
    return { reloader, stop: () => reloader.stop() };
  }
  const agent = new NginxAgent({
    mode: o.mode,
    dir: path.resolve(o.outDir!),
    socket: o.socket && path.resolve(o.socket),
    nginx: new NginxBinary(nginx),
    emptyPoolListen: o.emptyPoolListen,
    logger: o.logger,
  });
  const app = await startBallast({ logger: o.logger, admin: o.admin, health: o.health, sources: [await sourceFor(o)], actuators: [{ actuator: agent }],
    proxy: false,
    resyncMs: (o.resyncSeconds ?? 300) * 1000,
    readyChecks: [() => ({ name: 'nginx', failure: agent.loaded ? undefined : 'first load not done yet' })],
  });
  await agent.start();
  o.logger.info({ mode: agent.status().mode, outDir: o.outDir }, 'nginx agent ready');
  return { app, agent, stop: () => app.stop() };
}

export async function runNginxAgent(o: NginxAgentCliOptions): Promise<number> {
  const running = await startNginxAgent(o);
  return runUntilSignal(running.stop, o.logger);
}
