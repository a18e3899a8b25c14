// The reloader against a real nginx: files change (by NginxFileWriter, and by a kubelet-style `..data`
// symlink swap), the watched folder itself is swapped, deleted and re-created, and nginx is validated
// and reloaded while a keep-alive client keeps sending requests.
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
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
 * `beforeReloader` run between nginx's start and the reloader's. `resyncMs: 0` leaves only the folder
 * watch to notice changes.
 */
async function rig(
  watched: string,
  seed: (dir: string) => Promise<void>,
  beforeReloader?: (dir: string, nginx: RunningNginx) => Promise<void>,
  { resyncMs }: { resyncMs?: number } = {},
): Promise<Rig> {
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
  const reloader = new NginxReloader({ watchDir, nginxConf: prefix.conf, nginxPrefix: prefix.prefix, nginxBin: NGINX_BIN, resyncMs, logger: createLogger('info', sink) });
  cleanup.push(() => reloader.stop());
  await reloader.start();
  return { dir: watchDir, nginx, reloader, logs };
}

let kubeletWrites = 0;

/**
 * kubelet's AtomicWriter: the files go into a new timestamped folder, the `..data` link in `mount` is
 * pointed at it with one rename, and the folder it pointed at before is removed.
 */
async function kubeletWrite(mount: string, files: Record<string, string>): Promise<void> {
  const next = `..2026_01_01_00_00_${String(++kubeletWrites).padStart(2, '0')}.000000001`;
  await mkdir(path.join(mount, next));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(mount, next, name), text);
  const previous = await readlink(path.join(mount, '..data')).catch(() => undefined);
  await symlink(next, path.join(mount, '..data_tmp'));
  await rename(path.join(mount, '..data_tmp'), path.join(mount, '..data'));
  if (previous) await rm(path.join(mount, previous), { recursive: true });
}

async function threeBackends(): Promise<[Backend, Backend, Backend]> {
  backends.push(await startBackend('a'), await startBackend('b'), await startBackend('c'));
  return backends as [Backend, Backend, Backend];
}

/**
 * Waits until nginx has retired the worker of every config before the last reload. For ~100 ms after
 * a reload the old worker still accepts connections beside the new one; it stops as it logs this
 * (one worker per config: worker_processes 1).
 */
async function oldWorkersRetired(r: Rig): Promise<void> {
  const retired = async () => ((await r.nginx.errorLog()).match(/gracefully shutting down/g) ?? []).length;
  await waitFor(async () => (await retired()) >= r.reloader.status().reloads);
}

/** Runs `change` under load and returns ms from the change to the first reply from `newBody`. */
async function switchUnderLoad(r: Rig, change: () => Promise<void>, newBody: string, oldBodies: string[]): Promise<number> {
  await oldWorkersRetired(r);
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
    // The visible names are links through `..data`, as in a ConfigMap volume.
    const r = await rig('configmap', async (dir) => {
      await kubeletWrite(dir, { 'default_web.conf': renderUpstream(plan(a.port, b.port)) });
      await symlink('..data/default_web.conf', path.join(dir, 'default_web.conf'));
    });
    const swap = () => kubeletWrite(r.dir, { 'default_web.conf': renderUpstream(plan(c.port)) });
    const latency = await switchUnderLoad(r, swap, 'c', ['a', 'b']);
    expect(latency).toBeLessThan(5000);
    expect(r.reloader.status()).toMatchObject({ reloads: 2, rejected: 0 });
  });

  // The watched path itself changes hands: a watch on the folder found at start would see nothing
  // after the first change. No periodic re-check, so only following the folder can pass.
  it('follows the watched folder being a ..data link that kubelet swaps, again and again', async () => {
    const [a, b, c] = await threeBackends();
    const r = await rig(
      'configmap/..data',
      async (dir) => {
        await rm(dir, { recursive: true }); // the rig made a folder; kubelet makes a link
        await kubeletWrite(path.dirname(dir), { 'default_web.conf': renderUpstream(plan(a.port)) });
      },
      undefined,
      { resyncMs: 0 },
    );
    const swapTo = (port: number) => () => kubeletWrite(path.dirname(r.dir), { 'default_web.conf': renderUpstream(plan(port)) });
    await switchUnderLoad(r, swapTo(b.port), 'b', ['a']);
    await switchUnderLoad(r, swapTo(c.port), 'c', ['b']);
    await switchUnderLoad(r, swapTo(a.port), 'a', ['c']);
    expect(r.reloader.status()).toMatchObject({ watching: true, reloads: 4, rejected: 0 });
  });

  it('follows the watched folder deleted and re-created, again and again', async () => {
    const [a, b, c] = await threeBackends();
    const r = await rig('upstreams', async (dir) => writeFile(path.join(dir, 'default_web.conf'), renderUpstream(plan(a.port))), undefined, { resyncMs: 0 });
    // Back to back, so no check sees the folder missing (nginx -t would then look the upstream's
    // name up as a host).
    const recreate = (port: number) => async () => {
      await rm(r.dir, { recursive: true });
      await mkdir(r.dir);
      await writeFile(path.join(r.dir, 'default_web.conf'), renderUpstream(plan(port)));
    };
    await switchUnderLoad(r, recreate(b.port), 'b', ['a']);
    await switchUnderLoad(r, recreate(c.port), 'c', ['b']);
    await switchUnderLoad(r, recreate(a.port), 'a', ['c']);
    expect(r.reloader.status()).toMatchObject({ watching: true, reloads: 4, rejected: 0 });
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
