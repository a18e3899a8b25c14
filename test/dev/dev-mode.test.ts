// Dev mode end to end: real manifest files, real chokidar, real listeners, real backends on loopback.
import { mkdtemp, mkdir, rename, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startBallast, type Ballast } from '../../src/app.js';
import { parseListenerPolicy, type ListenerPolicy } from '../../src/plan/listener-policy.js';
import { FileSource } from '../../src/sources/file/file-source.js';
import { servedBy, spread, startDemoBackends } from '../support/demo-backends.js';
import { freePort, get, refused } from '../support/http-get.js';
import { captureLogs } from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';

let ports: number[] = [];
let closeBackends: () => Promise<void>;

beforeAll(async () => {
  ({ ports, close: closeBackends } = await startDemoBackends(3));
});

afterAll(async () => {
  await closeBackends();
});

function poolYaml(name: string, listenPort: number, backendPorts: number[], extra = ''): string {
  return `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata:
  name: ${name}
spec:
  listener: { address: 127.0.0.1, port: ${listenPort} }
  endpoints:
${backendPorts.map((p) => `    - { address: 127.0.0.1, port: ${p} }`).join('\n')}
${extra}`;
}

describe('ballast dev', () => {
  let dir: string;
  let app: Ballast | undefined;
  let logs: ReturnType<typeof captureLogs>;

  async function start(listenerPolicy?: ListenerPolicy) {
    logs = captureLogs();
    app = await startBallast({ logger: logs.logger, listenerPolicy, sources: [new FileSource({ dir, logger: logs.logger, debounceMs: 50, resyncMs: 0 })] });
    return app;
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ballast-dev-'));
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
  });

  it('balances round robin across the pool declared in a file and follows edits, including an atomic rename-save', async () => {
    const listen = await freePort();
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[0], ports[1]]));
    await start();
    // Backends are sorted by address then port, and round robin starts with the first.
    const [first, second] = [ports[0], ports[1]].sort((a, b) => a - b);
    expect(await spread(listen, 4)).toEqual([first, second, first, second]);

    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[0], ports[1], ports[2]]));
    await waitFor(() => servedBy(listen, [ports[0], ports[1], ports[2]]), 5000);

    // An editor's atomic save: write a temp file beside it, rename over the original.
    await writeFile(path.join(dir, '.web.yaml.swp'), poolYaml('web', listen, [ports[2]]));
    await rename(path.join(dir, '.web.yaml.swp'), path.join(dir, 'web.yaml'));
    await waitFor(() => servedBy(listen, [ports[2]]), 5000);
    expect(logs.lines().some((l) => l.event === 'PoolUpdated' && Array.isArray(l.removed) && l.removed.length === 2)).toBe(true);
  });

  it('says in each pool log line what changed: backends, weights, the listener', async () => {
    const [listen, moved] = [await freePort(), await freePort()];
    const [p0, p1, p2] = ports;
    const file = path.join(dir, 'web.yaml');
    const changeLine = (msg: string) => waitFor(() => logs.messages().find((m) => m === msg), 5000);
    await writeFile(file, poolYaml('web', listen, [p0, p1]));
    await start();
    const first = [p0, p1].sort((a, b) => a - b);
    await changeLine(`new pool: added 127.0.0.1:${first[0]}, 127.0.0.1:${first[1]}; listener opened 127.0.0.1:${listen}`);

    await writeFile(file, poolYaml('web', listen, [p0, p1, p2]).replace(`port: ${p0} }`, `port: ${p0}, weight: 3 }`));
    await changeLine(`pool updated: added 127.0.0.1:${p2}; 127.0.0.1:${p0} weight 1→3`);

    await writeFile(file, poolYaml('web', moved, [p1, p2]).replace(`port: ${p2} }`, `port: ${p2}, weight: 3 }`));
    await changeLine(`pool updated: removed 127.0.0.1:${p0}; 127.0.0.1:${p2} weight 1→3; listener moved ${listen}→${moved}`);

    await unlink(file);
    const rest = [p1, p2].sort((a, b) => a - b);
    await changeLine(`pool deleted: removed 127.0.0.1:${rest[0]}, 127.0.0.1:${rest[1]}; listener closed 127.0.0.1:${moved}`);
  });

  it('follows a Kubernetes ConfigMap volume ..data symlink swap', async () => {
    const listen = await freePort();
    // kubelet's AtomicWriter layout: ..<ts>/web.yaml, ..data -> ..<ts>, web.yaml -> ..data/web.yaml
    await mkdir(path.join(dir, '..2026_01'));
    await writeFile(path.join(dir, '..2026_01', 'web.yaml'), poolYaml('web', listen, [ports[0]]));
    await symlink('..2026_01', path.join(dir, '..data'));
    await symlink(path.join('..data', 'web.yaml'), path.join(dir, 'web.yaml'));
    await start();
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);

    await mkdir(path.join(dir, '..2026_02'));
    await writeFile(path.join(dir, '..2026_02', 'web.yaml'), poolYaml('web', listen, [ports[1]]));
    await symlink('..2026_02', path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await rm(path.join(dir, '..2026_01'), { recursive: true });
    await waitFor(() => servedBy(listen, [ports[1]]), 5000);
    // The hidden ..<ts> directories are not read as a second copy of the pool.
    expect(logs.messages().filter((m) => m.includes('already declared'))).toEqual([]);
  });

  it('keeps the last good pool when a file turns bad, names the file, document and field, and recovers when fixed', async () => {
    const [a, b] = [await freePort(), await freePort()];
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', a, [ports[0]]));
    await writeFile(path.join(dir, 'api.yaml'), poolYaml('api', b, [ports[1]]));
    await start();

    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', 70000, [ports[2]]));
    await writeFile(path.join(dir, 'api.yaml'), poolYaml('api', b, [ports[2]]));
    await waitFor(() => servedBy(b, [ports[2]]), 5000); // the other pool is unaffected and follows its edit
    const error = await waitFor(() => logs.lines().find((l) => l.level === 50 && String(l.msg).includes('web.yaml')), 5000);
    expect(error.msg).toMatch(/web\.yaml#1 spec\.listener\.port: must be <= 65535 \(BalancerPool default\/web\)$/);
    expect(await spread(a, 2)).toEqual([ports[0], ports[0]]); // last good state still serves

    // A half-written file (YAML cut mid-token) is the same: last good state.
    await writeFile(path.join(dir, 'web.yaml'), 'apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web\n');
    await waitFor(() => logs.lines().some((l) => l.level === 50 && String(l.msg).includes('web.yaml:')), 5000);
    expect(await spread(a, 2)).toEqual([ports[0], ports[0]]);

    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', a, [ports[1]]));
    await waitFor(() => servedBy(a, [ports[1]]), 5000);
  });

  // A file that was valid keeps every object it declared, whatever the error, until it declares them no longer.
  it.each([
    ['the kind line deleted', (y: string) => y.replace('kind: BalancerPool\n', ''), /web\.yaml#1 kind: kind is required/],
    ['a misspelt kind', (y: string) => y.replace('kind: BalancerPool', 'kind: BalancerPol'), /web\.yaml#1 kind: Unsupported value "BalancerPol": supported values: "BalancerPool"/],
    ['the name removed', (y: string) => y.replace('  name: web\n', '  labels: { app: web }\n'), /web\.yaml#1 metadata\.name: Required value/],
    ['a numeric name', (y: string) => y.replace('  name: web', '  name: 42'), /web\.yaml#1 metadata\.name: must be a string, got number/],
    ['UTF-16', (y: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(y, 'utf16le')]), /web\.yaml: is UTF-16 text; save it as UTF-8; keeping the objects it last declared/],
    ['a scalar', () => 'just some text\n', /web\.yaml#1 must be an object, got string/],
    ['a list', () => '- a\n- b\n', /web\.yaml#1 must be an object, got array/],
  ])('keeps serving the last good pool when an edit leaves %s, and removes it when the file is emptied', async (_what, edit, error) => {
    const listen = await freePort();
    const file = path.join(dir, 'web.yaml');
    const good = poolYaml('web', listen, [ports[0]]);
    await writeFile(file, good);
    await start();
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);

    await writeFile(file, edit(good));
    await waitFor(() => logs.lines().some((l) => l.level === 50 && error.test(String(l.msg))), 5000);
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);

    await truncate(file, 0); // an empty file declares nothing
    await waitFor(() => refused(listen), 5000);
  });

  it('serves a pool declared in two files from the first and names both files in an error', async () => {
    const listen = await freePort();
    await writeFile(path.join(dir, 'a.yaml'), poolYaml('web', listen, [ports[0]]));
    await writeFile(path.join(dir, 'b.yaml'), poolYaml('web', listen, [ports[1]]));
    await start();
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);
    expect(logs.lines().filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
      `${path.join(dir, 'b.yaml')}: BalancerPool default/web is already declared in ${path.join(dir, 'a.yaml')}; this one is ignored`,
    ]);
  });

  it('closes the listener of a pool whose file is deleted, reopens it when re-created, and moves a listener to a new port', async () => {
    const [a, moved] = [await freePort(), await freePort()];
    const file = path.join(dir, 'web.yaml');
    await writeFile(file, poolYaml('web', a, [ports[0]]));
    await start();
    expect(await refused(a)).toBe(false);

    await unlink(file);
    await waitFor(() => refused(a), 5000);

    await writeFile(file, poolYaml('web', a, [ports[0]]));
    await waitFor(() => servedBy(a, [ports[0]]), 5000);

    await writeFile(file, poolYaml('web', moved, [ports[0]]));
    await waitFor(() => servedBy(moved, [ports[0]]), 5000);
    await waitFor(() => refused(a), 5000);
  });

  it('resolves a Service pool through Service and EndpointSlice manifests, by port number and by name', async () => {
    const listen = await freePort();
    const slices = `apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 80, targetPort: ${ports[0]} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: ${ports[0]} }]
endpoints:
  - addresses: [127.0.0.1]
    conditions: { ready: true }
`;
    await writeFile(path.join(dir, 'svc.yaml'), slices);
    const pool = (port: string) => `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: web }
spec:
  service: { name: web, port: ${port} }
  listener: { address: 127.0.0.1, port: ${listen} }
`;
    await writeFile(path.join(dir, 'pool.yaml'), pool('80'));
    await start();
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);
    await writeFile(path.join(dir, 'pool.yaml'), pool('http'));
    await writeFile(path.join(dir, 'svc.yaml'), slices.replace('conditions: { ready: true }', 'conditions: { ready: false }'));
    await waitFor(async () => (await get(`http://127.0.0.1:${listen}/`)).status === 503, 5000);
  });

  it('at start, gives a contested listener to the first pool by namespace/name and reports the other', async () => {
    const listen = await freePort();
    await writeFile(path.join(dir, 'b.yaml'), poolYaml('b', listen, [ports[1]]));
    await writeFile(path.join(dir, 'a.yaml'), poolYaml('a', listen, [ports[0]]));
    await start();
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);
    expect(logs.lines().find((l) => l.pool === 'default/b')?.problems).toEqual([
      `ListenerConflict: listener 127.0.0.1:${listen} is taken by BalancerPool default/a, which claimed it first (oldest creationTimestamp, then namespace/name); this pool gets it when that one lets go`,
    ]);
    // When a gives it up, b gets it.
    await unlink(path.join(dir, 'a.yaml'));
    await waitFor(() => servedBy(listen, [ports[1]]), 5000);
  });

  it('never lets a new pool take the listener of a serving one: the newcomer is reported and waits until the holder lets go', async () => {
    const listen = await freePort();
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[1]]));
    await start();
    expect(await spread(listen, 2)).toEqual([ports[1], ports[1]]);

    // default/aaa sorts before default/web, which used to be enough to take the port and its traffic.
    await writeFile(path.join(dir, 'aaa.yaml'), poolYaml('aaa', listen, [ports[0]]));
    const reported = await waitFor(() => logs.lines().find((l) => l.pool === 'default/aaa' && l.problems), 5000);
    expect(reported.problems).toEqual([
      `ListenerConflict: listener 127.0.0.1:${listen} is taken by BalancerPool default/web, which is serving on it; this pool gets it when that one lets go`,
    ]);
    expect(await spread(listen, 4)).toEqual([ports[1], ports[1], ports[1], ports[1]]);
    const debug = app!.reconciler.appliedPlans().find((p) => p.key === 'default/aaa');
    expect(debug?.problems.map((p) => p.reason)).toEqual(['ListenerConflict']);

    // The holder moves away: the waiting pool gets the port, the holder serves on its new one.
    const moved = await freePort();
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', moved, [ports[1]]));
    await waitFor(() => servedBy(listen, [ports[0]]), 5000);
    expect(await spread(moved, 2)).toEqual([ports[1], ports[1]]);
  });

  it('opens listeners only for the namespaces and ports the listener policy allows, and says why not', async () => {
    const [allowed, denied] = [await freePort(), await freePort()];
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', denied, [ports[0]]));
    await writeFile(
      path.join(dir, 'shop.yaml'),
      poolYaml('shop', allowed, [ports[1]]).replace('metadata:\n  name: shop', 'metadata:\n  name: web\n  namespace: shop'),
    );
    await start(parseListenerPolicy(`shop=${allowed}`));
    expect(await spread(allowed, 2)).toEqual([ports[1], ports[1]]);
    expect(await refused(denied)).toBe(true);
    expect(logs.lines().find((l) => l.pool === 'default/web')?.problems).toEqual([
      `ListenerNotAllowed: namespace default may not listen on port ${denied} (--listener-namespaces=shop=${allowed})`,
    ]);
  });
});

describe('ballast dev, the manifests folder itself', () => {
  let base: string;
  let dir: string;
  let app: Ballast | undefined;
  let logs: ReturnType<typeof captureLogs>;

  async function start() {
    logs = captureLogs();
    app = await startBallast({ logger: logs.logger, sources: [new FileSource({ dir, logger: logs.logger, debounceMs: 50, resyncMs: 0 })] });
  }

  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'ballast-folder-'));
    dir = path.join(base, 'manifests');
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it('logs at start which folder it watches and how many files and pools it found', async () => {
    await mkdir(dir);
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', await freePort(), [ports[0]]));
    await writeFile(path.join(dir, 'api.yaml'), poolYaml('api', await freePort(), [ports[1]]));
    await start();
    expect(logs.lines().find((l) => String(l.msg).startsWith('watching '))).toEqual(
      expect.objectContaining({ level: 30, dir, files: 2, pools: 2, msg: `watching ${dir}: 2 manifest files, 2 pools` }),
    );
  });

  it('warns about a missing folder, then an empty one, and serves the pools once they appear', async () => {
    await start();
    expect(logs.lines().filter((l) => l.level === 40).map((l) => l.msg)).toEqual([`the manifests folder ${dir} does not exist; watching for it to appear`]);

    await mkdir(dir);
    await waitFor(() => logs.lines().some((l) => l.level === 40 && l.msg === `no manifests in ${dir} (*.yaml, *.yml, *.json); watching for some to appear`), 5000);

    const listen = await freePort();
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[0]]));
    await waitFor(() => servedBy(listen, [ports[0]]), 5000);
  });

  it('follows the folder being deleted and re-created, replaced by a symlink, moved away and moved back', async () => {
    const listen = await freePort();
    await mkdir(dir);
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[0]]));
    await start();
    expect(await spread(listen, 2)).toEqual([ports[0], ports[0]]);

    // Deleted: its files are gone, so is the pool. Re-created: followed, and edits in it too.
    await rm(dir, { recursive: true });
    await waitFor(() => refused(listen), 5000);
    await mkdir(dir);
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[1]]));
    await waitFor(() => servedBy(listen, [ports[1]]), 5000);
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[2]]));
    await waitFor(() => servedBy(listen, [ports[2]]), 5000);

    // Replaced by a symlink to another folder: that folder's files, and edits made in it.
    const other = path.join(base, 'other');
    await mkdir(other);
    await writeFile(path.join(other, 'web.yaml'), poolYaml('web', listen, [ports[0]]));
    await rm(dir, { recursive: true });
    await symlink(other, dir);
    await waitFor(() => servedBy(listen, [ports[0]]), 5000);
    await writeFile(path.join(other, 'web.yaml'), poolYaml('web', listen, [ports[1]]));
    await waitFor(() => servedBy(listen, [ports[1]]), 5000);

    // Moved away (the link is renamed), then a folder moved in under the name.
    await rename(dir, path.join(base, 'moved'));
    await waitFor(() => refused(listen), 5000);
    const next = path.join(base, 'next');
    await mkdir(next);
    await writeFile(path.join(next, 'web.yaml'), poolYaml('web', listen, [ports[2]]));
    await rename(next, dir);
    await waitFor(() => servedBy(listen, [ports[2]]), 5000);
    await writeFile(path.join(dir, 'web.yaml'), poolYaml('web', listen, [ports[0]]));
    await waitFor(() => servedBy(listen, [ports[0]]), 5000);
  });
});
