// The reloader against a real nginx: files change (by NginxFileWriter, and by a kubelet-style `..data`
// symlink swap), nginx is validated and reloaded while a keep-alive client keeps sending requests.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { startBallast } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { FileSource } from '../../src/sources/file/file-source.js';
import { NginxFileWriter } from '../../src/nginx/file-writer.js';
import { NginxReloader } from '../../src/nginx/reloader.js';
import { renderUpstream } from '../../src/plan/nginx-upstream.js';
import { createNginxPrefix, NGINX_BIN, nginxPlan, startBackend, startNginx, stopAllNginx, type Backend, type RunningNginx } from '../support/nginx.js';
import { get } from '../support/http-get.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { waitFor } from '../support/wait-for.js';

interface Rig {
  dir: string;
  nginx: RunningNginx;
  reloader: NginxReloader;
  logs: string[];
}

const backends: Backend[] = [];
// Undone last-first after each test, registered as soon as there is something to undo.
const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
  await Promise.all(backends.splice(0).map((b) => b.close()));
});
afterAll(stopAllNginx);

const plan = (...ports: number[]) => nginxPlan('web', { endpoints: ports.map((port) => ({ address: '127.0.0.1', port })) });

/**
 * nginx including `<dir>/<watched>/*.conf`, with `seed` run first to put the initial files there, and
 * `beforeReloader` run between nginx's start and the reloader's.
 */
async function rig(watched: string, seed: (dir: string) => Promise<void>, beforeReloader?: (dir: string, nginx: RunningNginx) => Promise<void>): Promise<Rig> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ballast-reload-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const watchDir = path.join(dir, watched);
  await mkdir(watchDir, { recursive: true });
  await seed(watchDir);
  const prefix = await createNginxPrefix({ include: `${watchDir}/*.conf`, upstream: 'default_web' });
  cleanup.push(() => prefix.remove());
  const nginx = await startNginx(prefix);
  cleanup.push(() => nginx.stop());
  await beforeReloader?.(watchDir, nginx);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const reloader = new NginxReloader({ watchDir, nginxConf: prefix.conf, nginxPrefix: prefix.prefix, nginxBin: NGINX_BIN, logger: createLogger('info', sink) });
  cleanup.push(() => reloader.stop());
  await reloader.start();
  return { dir: watchDir, nginx, reloader, logs };
}

async function threeBackends(): Promise<[Backend, Backend, Backend]> {
  backends.push(await startBackend('a'), await startBackend('b'), await startBackend('c'));
  return backends as [Backend, Backend, Backend];
}

/** Runs `change` under load and returns ms from the change to the first reply from `newBody`. */
async function switchUnderLoad(r: Rig, change: () => Promise<void>, newBody: string, oldBodies: string[]): Promise<number> {
  const load = new KeepAliveLoad(r.nginx.url());
  cleanup.push(() => load.stop());
  await waitFor(() => load.replies.length >= 20);
  expect(new Set(load.replies.map((r) => r.body))).toEqual(new Set(oldBodies));

  const before = r.reloader.status().reloads;
  const t0 = performance.now();
  await change();
  const first = await waitFor(() => load.replies.find((x) => x.at >= t0 && x.body === newBody));
  await waitFor(() => r.reloader.status().reloads === before + 1);
  const settled = load.replies.length;
  await waitFor(() => load.replies.length >= settled + 40);
  await load.stop();

  // Once the new set answers, the old one never does again: the switch is one step. (By position, not
  // by time: several replies share a millisecond.)
  const after = load.replies.slice(load.replies.indexOf(first)).map((r) => r.body);
  expect(after.filter((b) => b !== newBody)).toEqual([]);
  expect(load.failures).toEqual([]);
  const latencyMs = first.at - t0;
  console.log(
    `[nginx reload] file change -> new set served: ${latencyMs} ms (reloader: ${r.reloader.status().lastReloadLatencyMs} ms from first fs event to reload signal); ` +
      `${load.replies.length} requests, 0 failed, ${load.retriedResets} retried after a reset on a reused socket`,
  );
  return latencyMs;
}

describe('NginxReloader with a real nginx', () => {
  it('reloads nginx once at start, so files changed before it started are served', async () => {
    const [a, b] = await threeBackends();
    const file = (dir: string) => path.join(dir, 'default_web.conf');
    const r = await rig(
      'upstreams',
      async (dir) => writeFile(file(dir), renderUpstream(plan(a.port))),
      async (dir, nginx) => {
        expect((await get(nginx.url())).body).toBe('a');
        await writeFile(file(dir), renderUpstream(plan(b.port)));
      },
    );
    expect(r.reloader.status()).toMatchObject({ watching: true, reloads: 1, rejected: 0, lastError: undefined });
    await waitFor(async () => (await get(r.nginx.url())).body === 'b');
  });

  it('applies a file written by NginxFileWriter with no failed request under keep-alive load', async () => {
    const [a, b, c] = await threeBackends();
    let writer!: NginxFileWriter;
    const r = await rig('upstreams', async (dir) => {
      writer = new NginxFileWriter({ dir, logger: createLogger('silent') });
      await writer.apply('default/web', plan(a.port, b.port));
    });
    const latency = await switchUnderLoad(r, async () => void (await writer.apply('default/web', plan(c.port))), 'c', ['a', 'b']);
    expect(latency).toBeLessThan(5000);
    expect(r.reloader.status()).toMatchObject({ reloads: 2, rejected: 0, lastError: undefined });
  });

  it('applies a kubelet-style ..data symlink swap with no failed request under keep-alive load', async () => {
    const [a, b, c] = await threeBackends();
    // kubelet's AtomicWriter: files live in a timestamped folder, `..data` points at it, and the
    // visible names are links through `..data`; an update swaps `..data` with one rename.
    const r = await rig('configmap', async (dir) => {
      await mkdir(path.join(dir, '..2026_01_01_00_00_00.000000001'));
      await writeFile(path.join(dir, '..2026_01_01_00_00_00.000000001', 'default_web.conf'), renderUpstream(plan(a.port, b.port)));
      await symlink('..2026_01_01_00_00_00.000000001', path.join(dir, '..data'));
      await symlink('..data/default_web.conf', path.join(dir, 'default_web.conf'));
    });
    const swap = async () => {
      const next = '..2026_01_01_00_01_00.000000002';
      await mkdir(path.join(r.dir, next));
      await writeFile(path.join(r.dir, next, 'default_web.conf'), renderUpstream(plan(c.port)));
      await symlink(next, path.join(r.dir, '..data_tmp'));
      await rename(path.join(r.dir, '..data_tmp'), path.join(r.dir, '..data'));
      await rm(path.join(r.dir, '..2026_01_01_00_00_00.000000001'), { recursive: true });
    };
    const latency = await switchUnderLoad(r, swap, 'c', ['a', 'b']);
    expect(latency).toBeLessThan(5000);
    expect(r.reloader.status()).toMatchObject({ reloads: 2, rejected: 0 });
  });

  it('follows a manifest edit end to end in dev mode: file -> ballast dev --nginx-out -> reloader -> nginx, with no failed request', async () => {
    const [a, b, c] = await threeBackends();
    const manifests = await mkdtemp(path.join(os.tmpdir(), 'ballast-manifests-'));
    cleanup.push(() => rm(manifests, { recursive: true, force: true }));
    const poolYaml = (...ports: number[]) =>
      `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec:\n  nginx: {}\n  endpoints:\n${ports.map((p) => `    - { address: 127.0.0.1, port: ${p} }`).join('\n')}\n`;
    await writeFile(path.join(manifests, 'web.yaml'), poolYaml(a.port, b.port));
    const logger = createLogger('silent');
    const r = await rig('upstreams', async (dir) => {
      const app = await startBallast({ logger, sources: [new FileSource({ dir: manifests, logger, resyncMs: 0 })], actuators: [{ actuator: new NginxFileWriter({ dir, logger }) }] });
      cleanup.push(() => app.stop());
    });
    // Atomic save of the manifest, as an editor does.
    const save = async () => {
      await writeFile(path.join(manifests, '.web.yaml.tmp'), poolYaml(c.port));
      await rename(path.join(manifests, '.web.yaml.tmp'), path.join(manifests, 'web.yaml'));
    };
    const latency = await switchUnderLoad(r, save, 'c', ['a', 'b']);
    expect(latency).toBeLessThan(5000);
  });

  it('does not reload when the content is unchanged', async () => {
    const [a] = await threeBackends();
    const text = renderUpstream(plan(a.port));
    const r = await rig('upstreams', async (dir) => writeFile(path.join(dir, 'default_web.conf'), text));
    const checks = r.reloader.status().checks;
    await writeFile(path.join(r.dir, 'default_web.conf'), text);
    await waitFor(() => r.reloader.status().checks > checks);
    expect(r.reloader.status().reloads).toBe(1);
  });

  it('never loads a broken config: nginx keeps serving the old set and the error is reported', async () => {
    const [a, b] = await threeBackends();
    const r = await rig('upstreams', async (dir) => writeFile(path.join(dir, 'default_web.conf'), renderUpstream(plan(a.port))));
    const rejections: string[] = [];
    r.reloader.on('rejected', ({ error }) => rejections.push(error));
    const sighups = async () => ((await r.nginx.errorLog()).match(/signal 1 \(SIGHUP\) received/g) ?? []).length;
    // nginx logs the start-up reload's SIGHUP a moment after it took it: count from once it shows.
    const sighupsBefore = await waitFor(async () => {
      const n = await sighups();
      return n === r.reloader.status().reloads ? n : undefined;
    });

    // Syntactically fine, but nginx refuses it: the kind of mistake only `nginx -t` catches.
    const broken = renderUpstream(plan(b.port)).replace('weight=1', 'weight=0');
    await writeFile(path.join(r.dir, 'default_web.conf'), broken);
    const error = await waitFor(() => rejections[0]);
    expect(error).toMatch(/invalid parameter "weight=0"/);
    expect(r.reloader.status()).toMatchObject({ watching: true, reloads: 1, rejected: 1, lastError: error });
    const logged = r.logs.map((l) => JSON.parse(l) as { level: number; msg: string; stderr?: string }).find((l) => l.msg.startsWith('nginx -t refused'));
    expect(logged).toMatchObject({ level: 50, stderr: error });

    const agent = new http.Agent({ keepAlive: false });
    for (let i = 0; i < 10; i++) expect((await get(r.nginx.url(), { agent })).body).toBe('a');
    expect(await sighups()).toBe(sighupsBefore);

    // Fixed: the next change reloads and clears the error.
    await writeFile(path.join(r.dir, 'default_web.conf'), renderUpstream(plan(b.port)));
    await waitFor(async () => (await get(r.nginx.url())).body === 'b');
    expect(r.reloader.status()).toMatchObject({ reloads: 2, rejected: 1, lastError: undefined });
    expect(r.nginx.alive).toBe(true);
  });
});
