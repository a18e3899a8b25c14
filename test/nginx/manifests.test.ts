// manifests/nginx: the kustomization renders (real kubectl), its pieces agree with each other, and its
// nginx.conf runs under a real nginx with the real agent: keep-alive to the upstream, WebSocket
// upgrades, forwarded headers, through the Lua balancer.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WebSocket, WebSocketServer } from 'ws';
import { parseAllDocuments } from 'yaml';
import type { BalancerPool } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { startNginxAgent, type RunningNginxAgent } from '../../src/cli/nginx-agent.js';
import { createLogger } from '../../src/log.js';
import { computeDesiredPool } from '../../src/plan/desired-pool.js';
import { createNginxPrefix, NGINX_BIN, podNginxConf, startNginx, stopAllNginx, type NginxPrefix, type RunningNginx } from '../support/nginx.js';
import { poolYaml } from '../support/nginx-agent.js';
import { freePort, get } from '../support/http-get.js';

const dir = fileURLToPath(new URL('../../manifests/nginx/', import.meta.url));

interface Container {
  name: string;
  command: string[];
  restartPolicy?: string;
  startupProbe?: { httpGet: { path: string; port: string } };
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Rendered {
  kind: string;
  metadata: { name: string };
  rules?: Rule[];
  subjects?: Array<{ kind: string; name: string }>;
  spec: {
    template: {
      spec: {
        serviceAccountName?: string;
        shareProcessNamespace?: boolean;
        securityContext: { runAsNonRoot?: boolean; runAsUser?: number };
        initContainers: Container[];
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string }; emptyDir?: object }>;
      };
    };
  };
}

function kustomize(): Promise<Rendered[]> {
  return new Promise((resolve, reject) => {
    execFile('kubectl', ['kustomize', dir], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`kubectl kustomize ${dir} failed (kubectl must be installed): ${stderr || err.message}`));
      resolve(parseAllDocuments(stdout).map((d) => d.toJS() as Rendered));
    });
  });
}

describe('manifests/nginx kustomization', () => {
  let objects: Rendered[];
  let conf: string;
  beforeAll(async () => {
    objects = await kustomize();
    conf = await readFile(path.join(dir, 'nginx.conf'), 'utf8');
  });

  const deployment = () => objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;

  it('runs nginx with the agent as a native sidecar, in one process namespace, non-root, on the same files', () => {
    const pod = deployment();
    expect(pod.shareProcessNamespace).toBe(true);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 101 });
    const agent = pod.initContainers.find((c) => c.name === 'agent')!;
    const nginx = pod.containers.find((c) => c.name === 'nginx')!;
    // Started first; NGINX waits for its startup probe, which passes once every pool's config is written.
    expect(agent.restartPolicy).toBe('Always');
    expect(agent.startupProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(agent.command).toEqual(
      expect.arrayContaining(['ballast', 'nginx-agent', '--namespace=$(POD_NAMESPACE)', '--out-dir=/etc/nginx/ballast', '--nginx-conf=/etc/nginx/nginx.conf', '--admin=127.0.0.1:9901', '--health-address=0.0.0.0:9902']),
    );
    expect(agent.volumeMounts).toEqual(nginx.volumeMounts);
    const mounts = nginx.volumeMounts.map((m) => m.mountPath);
    expect(mounts).toEqual(expect.arrayContaining(['/etc/nginx/nginx.conf', '/etc/nginx/ballast', '/var/run/nginx', '/var/cache/nginx']));
    // NGINX clears the agent's socket (the default, under --out-dir) left by a crash before it binds it again.
    expect(nginx.command.join(' ')).toContain('rm -f /etc/nginx/ballast/private/ballast-agent.sock && exec nginx');
  });

  it('gives the agent read-only access to pools, Services and EndpointSlices in its namespace, nothing more', () => {
    const role = objects.find((o) => o.kind === 'Role')!;
    expect(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
    expect(role.rules).toEqual([
      { apiGroups: ['ballast.dev'], resources: ['balancerpools'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = objects.find((o) => o.kind === 'RoleBinding')!;
    const account = objects.find((o) => o.kind === 'ServiceAccount')!.metadata.name;
    expect(binding.subjects).toEqual([expect.objectContaining({ kind: 'ServiceAccount', name: account })]);
    expect(deployment().serviceAccountName).toBe(account);
  });

  it('mounts the generated main config, which includes the agent folder and proxies to the example pool', () => {
    const volumes = deployment().volumes;
    const mainConfig = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('ballast-nginx-conf-'))!;
    expect(volumes.find((v) => v.name === 'main-config')?.configMap?.name).toBe(mainConfig.metadata.name);
    expect(volumes.find((v) => v.name === 'ballast')?.emptyDir).toBeDefined();

    const raw = objects.find((o) => o.kind === 'BalancerPool');
    const parsed = parseObject(raw);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const plan = computeDesiredPool(parsed.object as BalancerPool, undefined, []);
    expect(plan.key).toBe('default/web');
    expect(plan.nginx).toMatchObject({ configMap: 'web-nginx', upstream: 'default_web' });
    expect(conf).toContain('include /etc/nginx/ballast/*.conf;');
    expect(conf).toContain('proxy_pass http://default_web;');
  });

  it('keeps every path nginx writes on a mounted volume (the root filesystem is read-only)', () => {
    const writable = ['/var/run/nginx/', '/var/cache/nginx/'];
    const paths = [...conf.matchAll(/^\s*(pid|\w+_temp_path)\s+(\S+);/gm)].map((m) => m[2]);
    expect(paths).toHaveLength(6);
    for (const p of paths) expect(writable.some((w) => p.startsWith(w))).toBe(true);
  });
});

describe('manifests/nginx/nginx.conf under a real nginx', () => {
  let nginx: RunningNginx;
  let prefix: NginxPrefix | undefined;
  let work: string;
  let backend: http.Server;
  let wss: WebSocketServer;
  let agent: RunningNginxAgent | undefined;
  const upstreamPorts = new Set<number>();

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ballast-manifest-'));
    backend = http.createServer((req, res) => {
      upstreamPorts.add(req.socket.remotePort!);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.headers));
    });
    backend.keepAliveTimeout = 65_000;
    wss = new WebSocketServer({ server: backend });
    wss.on('connection', (ws, req) => {
      ws.send(`upgrade=${req.headers.upgrade} connection=${req.headers.connection}`);
      ws.on('message', (m) => ws.send(`echo ${m.toString()}`));
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const port = (backend.address() as { port: number }).port;
    // The Pod's order: the agent (dev manifests standing in for the API) writes the config, then nginx starts.
    await mkdir(path.join(work, 'manifests'));
    await writeFile(path.join(work, 'manifests', 'web.yaml'), poolYaml('web', [{ port }]));
    const manifest = await readFile(path.join(dir, 'nginx.conf'), 'utf8');
    prefix = await createNginxPrefix((listen) => podNginxConf(manifest, listen, path.join(work, 'out')));
    agent = await startNginxAgent({
      manifests: path.join(work, 'manifests'),
      outDir: path.join(work, 'out'),
      mode: 'auto',
      nginxConf: prefix.conf,
      nginxPrefix: prefix.prefix,
      nginxBin: NGINX_BIN,
      emptyPoolListen: `127.0.0.1:${await freePort()}`,
      logger: createLogger('silent'),
    });
    nginx = await startNginx(prefix);
  });

  afterAll(async () => {
    await nginx?.stop();
    await agent?.stop();
    await prefix?.remove();
    await stopAllNginx();
    wss?.close();
    backend?.closeAllConnections();
    await new Promise((resolve) => backend?.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  it('runs the agent in dynamic mode (Debian\'s Lua module) and passes nginx -t', async () => {
    expect(agent!.agent!.status()).toMatchObject({ mode: 'dynamic', rejected: 0 });
    const result = await nginx.nginx.test();
    expect(result.stderr).not.toContain('[warn]');
    expect(result.code).toBe(0);
  });

  it('answers /healthz itself', async () => {
    expect(await get(nginx.url('/healthz'))).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('proxies plain requests over kept-alive upstream connections with forwarded headers', async () => {
    upstreamPorts.clear();
    const seen: Array<Record<string, string>> = [];
    for (let i = 0; i < 5; i++) seen.push(JSON.parse((await get(nginx.url('/x'))).body) as Record<string, string>);
    expect(upstreamPorts.size).toBe(1);
    expect(seen[0]).toMatchObject({ host: '127.0.0.1', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': '127.0.0.1' });
    expect(seen[0].connection).toBeUndefined();
    expect(seen[0].upgrade).toBeUndefined();
  });

  it('proxies WebSocket upgrades', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${nginx.port}/ws`);
    const messages: string[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`WebSocket through nginx: got ${JSON.stringify(messages)} within 5 s`)), 5000);
        ws.on('error', reject);
        ws.on('open', () => ws.send('hello'));
        ws.on('message', (m) => {
          messages.push(m.toString());
          if (messages.length === 2) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      ws.terminate();
    }
    expect(messages).toEqual(['upgrade=websocket connection=upgrade', 'echo hello']);
  });
});
