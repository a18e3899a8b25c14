// manifests/nginx: the kustomization renders (real kubectl), its pieces agree with each other, and its
// nginx.conf runs under a real nginx: keep-alive to the upstream, WebSocket upgrades, forwarded headers.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WebSocket, WebSocketServer } from 'ws';
import { parseAllDocuments } from 'yaml';
import type { BalancerPool } from '../../src/api/schema.js';
import { parseObject } from '../../src/api/validate.js';
import { computeDesiredPool } from '../../src/plan/desired-pool.js';
import { renderUpstream } from '../../src/plan/nginx-upstream.js';
import { createNginxPrefix, nginxPlan, startNginx, stopAllNginx, type NginxPrefix, type RunningNginx } from '../support/nginx.js';
import { get } from '../support/http-get.js';

const dir = fileURLToPath(new URL('../../manifests/nginx/', import.meta.url));

interface Container {
  name: string;
  command: string[];
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface Rendered {
  kind: string;
  metadata: { name: string };
  spec: {
    template: {
      spec: {
        shareProcessNamespace?: boolean;
        securityContext: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string }; projected?: { sources: Array<{ configMap: { name: string } }> } }>;
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

  it('runs nginx and the reloader sidecar in one process namespace, non-root, on the same files', () => {
    const pod = deployment();
    expect(pod.shareProcessNamespace).toBe(true);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 101 });
    const [nginx, reloader] = ['nginx', 'reloader'].map((n) => pod.containers.find((c) => c.name === n)!);
    expect(reloader.command).toEqual(['ballast', 'nginx-reloader', '--watch', '/etc/nginx/upstreams', '--nginx-conf', '/etc/nginx/nginx.conf']);
    expect(reloader.volumeMounts).toEqual(nginx.volumeMounts);
    const mounts = nginx.volumeMounts.map((m) => m.mountPath);
    expect(mounts).toEqual(expect.arrayContaining(['/etc/nginx/nginx.conf', '/etc/nginx/upstreams', '/var/run/nginx', '/var/cache/nginx']));
  });

  it('mounts the generated main config and the example pool ConfigMap that nginx.conf proxies to', () => {
    const volumes = deployment().volumes;
    const mainConfig = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('ballast-nginx-conf-'))!;
    expect(volumes.find((v) => v.name === 'main-config')?.configMap?.name).toBe(mainConfig.metadata.name);

    const raw = objects.find((o) => o.kind === 'BalancerPool');
    const parsed = parseObject(raw);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const plan = computeDesiredPool(parsed.object as BalancerPool, undefined, []);
    expect(plan.key).toBe('default/web');
    expect(plan.nginx).toMatchObject({ configMap: 'web-nginx', upstream: 'default_web' });
    expect(volumes.find((v) => v.name === 'upstreams')?.projected?.sources.map((s) => s.configMap.name)).toEqual(['web-nginx']);
    expect(conf).toContain('include /etc/nginx/upstreams/*.conf;');
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
    await writeFile(path.join(work, 'default_web.conf'), renderUpstream(nginxPlan('web', { endpoints: [{ address: '127.0.0.1', port }] })));

    const manifest = await readFile(path.join(dir, 'nginx.conf'), 'utf8');
    prefix = await createNginxPrefix((listen) => {
      // The Pod's absolute paths, moved into the test's prefix; each must be found, or the manifest
      // changed shape and this test no longer tests it.
      const rewrites: Array<[string | RegExp, string]> = [
        [/^worker_processes .*$/gm, 'daemon off;\nworker_processes 1;'],
        ['/var/run/nginx/', 'logs/'],
        ['/var/cache/nginx/', 'tmp/'],
        ['error_log /dev/stderr', 'error_log logs/error.log'],
        ['access_log /dev/stdout', 'access_log off'],
        ['/etc/nginx/upstreams/', `${work}/`],
        ['listen 8080;', `listen 127.0.0.1:${listen};`],
      ];
      return rewrites.reduce((text, [from, to]) => {
        const next = text.replaceAll(from, to);
        if (next === text) throw new Error(`manifests/nginx/nginx.conf no longer contains ${from}`);
        return next;
      }, manifest);
    });
    nginx = await startNginx(prefix);
  });

  afterAll(async () => {
    await nginx?.stop();
    await prefix?.remove();
    await stopAllNginx();
    wss?.close();
    backend?.closeAllConnections();
    await new Promise((resolve) => backend?.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  it('passes nginx -t', async () => {
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
