// `ballast nginx-agent` in dev mode beside a real nginx: a manifests folder, the agent's output folder
// included by nginx's main config, the agent (in process, as the CLI starts it), then nginx, in the
// Pod's order (the agent writes the config before nginx starts).
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startNginxAgent, type RunningNginxAgent } from '../../src/cli/nginx-agent.js';
import type { NginxAgentMode } from '../../src/nginx/nginx-agent.js';
import type { NginxAgent } from '../../src/nginx/nginx-agent.js';
import { createLogger, type Logger } from '../../src/log.js';
import { freePort } from './http-get.js';
import { createNginxPrefix, NGINX_BIN, startNginx, type NginxPrefix, type RunningNginx } from './nginx.js';

export interface PoolEndpoint {
  port: number;
  weight?: number;
}

/** A BalancerPool manifest `name` with static loopback endpoints and `spec.nginx`. */
export function poolYaml(name: string, endpoints: PoolEndpoint[], { algorithm = 'RoundRobin', nginx = '{}', extra = '' } = {}): string {
  const list = endpoints.map((e) => `    - { address: 127.0.0.1, port: ${e.port}, weight: ${e.weight ?? 1} }`).join('\n');
  return `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: ${name} }\nspec:\n  algorithm: ${algorithm}\n  nginx: ${nginx}\n${extra}  endpoints:${endpoints.length ? `\n${list}` : ' []'}\n`;
}

export interface AgentRig {
  manifests: string;
  outDir: string;
  prefix: NginxPrefix;
  nginx: RunningNginx;
  running: RunningNginxAgent;
  agent: NginxAgent;
  /** Saves `yaml` as `<manifests>/<file>` the way editors do: a temp file, then a rename. */
  save(file: string, yaml: string): Promise<void>;
  remove(file: string): Promise<void>;
  stop(): Promise<void>;
}

export interface AgentRigOptions {
  mode: NginxAgentMode | 'auto';
  /** Manifest files at start, by name. */
  files: Record<string, string>;
  /** The upstream nginx.conf's `location /` proxies to. */
  upstream?: string;
  /** Load the Lua module in nginx.conf (default: unless mode is plain). */
  lua?: boolean;
  /** More http-level lines in nginx.conf. */
  http?: string;
  logger?: Logger;
}

export async function startAgentRig(o: AgentRigOptions): Promise<AgentRig> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'ballast-agent-'));
  const manifests = path.join(base, 'manifests');
  const outDir = path.join(base, 'out');
  await mkdir(manifests);
  for (const [file, yaml] of Object.entries(o.files)) await writeFile(path.join(manifests, file), yaml);
  const prefix = await createNginxPrefix({ include: `${outDir}/*.conf`, upstream: o.upstream ?? 'default_web', lua: o.lua ?? o.mode !== 'plain', http: o.http });
  const undo: Array<() => Promise<unknown>> = [() => rm(base, { recursive: true, force: true }), () => prefix.remove()];
  const stop = async () => {
    for (const u of undo.splice(0).reverse()) await u();
  };
  try {
    const running = await startNginxAgent({
      manifests,
      outDir,
      mode: o.mode,
      nginxConf: prefix.conf,
      nginxPrefix: prefix.prefix,
      nginxBin: NGINX_BIN,
      emptyPoolListen: `127.0.0.1:${await freePort()}`,
      logger: o.logger ?? createLogger('silent'),
    });
    undo.push(() => running.stop());
    const nginx = await startNginx(prefix);
    undo.push(() => nginx.stop());
    const save = async (file: string, yaml: string) => {
      const tmp = path.join(manifests, `.${file}.tmp`);
      await writeFile(tmp, yaml);
      await rename(tmp, path.join(manifests, file));
    };
    return { manifests, outDir, prefix, nginx, running, agent: running.agent!, save, remove: (file) => rm(path.join(manifests, file)), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
