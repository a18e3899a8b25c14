// `ballast nginx-agent` against a real nginx (Debian's, with libnginx-mod-http-lua): dev-mode
// manifests in, NGINX in step; dynamic mode changes endpoints without a reload.
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { WebSocket } from 'ws';
import { SmoothWeights } from '../../src/proxy/balancers/smooth-weighted.js';
import { startEchoBackends, handledBy, type EchoBackend } from '../support/backends.js';
import { get } from '../support/http-get.js';
import { captureLogs } from '../support/log-capture.js';
import { startBackend, stopAllNginx, type Backend } from '../support/nginx.js';
import { poolYaml, startAgentRig, type AgentRig, type AgentRigOptions } from '../support/nginx-agent.js';
import { waitFor } from '../support/wait-for.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});
afterAll(stopAllNginx);

async function rig(o: AgentRigOptions): Promise<AgentRig> {
  const r = await startAgentRig(o);
  cleanup.push(() => r.stop());
  return r;
}

async function backends(...names: string[]): Promise<Backend[]> {
  const list = await Promise.all(names.map((n) => startBackend(n)));
  cleanup.push(() => Promise.all(list.map((b) => b.close())));
  return list;
}

/** `n` sequential GETs over one keep-alive connection: the bodies in order. */
async function sequence(url: string, n: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const bodies: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await get(url, { agent });
      bodies.push(r.status === 200 ? r.body : `status ${r.status}`);
    }
    return bodies;
  } finally {
    agent.destroy();
  }
}

const retiredWorkers = async (r: AgentRig) => ((await r.nginx.errorLog()).match(/gracefully shutting down/g) ?? []).length;
const sighups = async (r: AgentRig) => ((await r.nginx.errorLog()).match(/signal 1 \(SIGHUP\) received/g) ?? []).length;

/** The sets NGINX's shared memory holds, through the agent's socket. */
function storedSet(r: AgentRig, upstream: string): Promise<string> {
  const socketPath = path.join(r.outDir, 'private', 'ballast-agent.sock');
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: `/sets?upstream=${upstream}` }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

describe('nginx-agent dynamic mode', () => {
  it('serves endpoint, weight and algorithm changes without a reload', async () => {
    const [a, b, c] = await backends('a', 'b', 'c');
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': poolYaml('web', [{ port: a.port }, { port: b.port }]) } });
    expect(r.agent.status()).toMatchObject({ mode: 'dynamic', rejected: 0 });
    expect(new Set(await sequence(r.nginx.url(), 4))).toEqual(new Set(['a', 'b']));
    const reloads = r.agent.status().reloads;
    const hups = await sighups(r);

    await r.save('web.yaml', poolYaml('web', [{ port: b.port, weight: 1 }, { port: c.port, weight: 3 }]));
    await waitFor(async () => (await sequence(r.nginx.url(), 1))[0] === 'c');
    const counts = (await sequence(r.nginx.url(), 40)).reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});
    expect(counts).toEqual({ b: 10, c: 30 });

    await r.save('web.yaml', poolYaml('web', [{ port: b.port }, { port: c.port }], { algorithm: 'IPHash' }));
    await waitFor(async () => (await storedSet(r, 'default_web')).includes('algorithm IPHash'));
    expect(new Set(await sequence(r.nginx.url(), 20)).size).toBe(1);

    expect(r.agent.status().reloads).toBe(reloads);
    expect(await sighups(r)).toBe(hups);
    expect(r.agent.status().pushes).toBeGreaterThanOrEqual(2);
  });

  it('gives the same smooth weighted round robin sequence as NGINX itself and as Ballast’s proxy', async () => {
    const list = await backends('a', 'b', 'c', 'd');
    const weights = [5, 1, 3, 2];
    const yaml = poolYaml(
      'web',
      list.map((b, i) => ({ port: b.port, weight: weights[i] })),
    );
    const dynamic = await rig({ mode: 'dynamic', files: { 'web.yaml': yaml } });
    const plain = await rig({ mode: 'plain', files: { 'web.yaml': yaml } });
    const n = 2 * weights.reduce((x, y) => x + y);

    // Ballast's proxy over the plan's order (sorted by address, then port).
    const sorted = list.map((b, i) => ({ name: b.name, address: '127.0.0.1', port: b.port, weight: weights[i], inFlight: 0 })).sort((x, y) => x.port - y.port);
    const swrr = new SmoothWeights(sorted.length);
    const expected = Array.from({ length: n }, () => sorted[swrr.pick(sorted, () => true)].name);

    expect(await sequence(plain.nginx.url(), n)).toEqual(expected);
    expect(await sequence(dynamic.nginx.url(), n)).toEqual(expected);

    // least_conn (one request at a time: every server ties, so round robin decides) and ip_hash pick
    // as NGINX's own do.
    for (const algorithm of ['LeastConnections', 'IPHash']) {
      const changed = poolYaml('web', list.map((b, i) => ({ port: b.port, weight: weights[i] })), { algorithm });
      const reloads = plain.agent.status().reloads;
      const retired = await retiredWorkers(plain);
      await Promise.all([dynamic.save('web.yaml', changed), plain.save('web.yaml', changed)]);
      await waitFor(async () => (await storedSet(dynamic, 'default_web')).includes(`algorithm ${algorithm}`));
      // NGINX's new worker, and only it, serves the next requests.
      await waitFor(() => plain.agent.status().reloads > reloads);
      await waitFor(async () => (await retiredWorkers(plain)) > retired);
      const fromNginx = await sequence(plain.nginx.url(), n);
      expect(await sequence(dynamic.nginx.url(), n)).toEqual(fromNginx);
    }
  });

  it('reuses upstream keep-alive connections through the Lua balancer', async () => {
    const ports = new Set<number>();
    const server = http.createServer((req, res) => {
      ports.add(req.socket.remotePort!);
      res.end('ok');
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))));
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': poolYaml('web', [{ port: (server.address() as net.AddressInfo).port }]) } });
    for (let i = 0; i < 10; i++) expect((await get(r.nginx.url())).status).toBe(200);
    expect(ports.size).toBe(1);
  });

  it('balances over IPv6 endpoints', async () => {
    const server = http.createServer((_req, res) => res.end('v6'));
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    cleanup.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))));
    const port = (server.address() as net.AddressInfo).port;
    const yaml = poolYaml('web', []).replace('endpoints: []', `endpoints: [{ address: "::1", port: ${port} }]`);
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': yaml } });
    expect(await sequence(r.nginx.url(), 3)).toEqual(['v6', 'v6', 'v6']);
  });

  it.each(['dynamic', 'plain'] as const)('%s: a backend that fails is retried on the next one and ejected for fail_timeout (max_fails 1)', async (mode) => {
    const [good] = await backends('good');
    // Accepts, then resets: nginx sees an error before any response header.
    let attempts = 0;
    const broken = net.createServer((socket) => {
      attempts++;
      socket.resetAndDestroy();
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => broken.close(resolve)));
    const extra = '  outlierDetection: { maxFails: 1, failTimeoutSeconds: 30 }\n';
    const r = await rig({ mode, files: { 'web.yaml': poolYaml('web', [{ port: good.port }, { port: (broken.address() as net.AddressInfo).port }], { extra }) } });
    expect(await sequence(r.nginx.url(), 20)).toEqual(Array(20).fill('good'));
    expect(attempts).toBe(1);
  });

  it('answers 503 at once for a pool with no endpoint', async () => {
    const yaml = 'apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec:\n  service: { name: web, port: http }\n  nginx: {}\n';
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': yaml } });
    const reply = await get(r.nginx.url(), { timeoutMs: 1000 });
    expect(reply).toMatchObject({ status: 503, body: 'no ready backend in this BalancerPool\n' });
  });

  it('serves the current sets right after a reload and after a restart (no empty balancer)', async () => {
    const [a, b, c] = await backends('a', 'b', 'c');
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': poolYaml('web', [{ port: a.port }]) } });
    await r.save('web.yaml', poolYaml('web', [{ port: b.port }]));
    await waitFor(async () => (await sequence(r.nginx.url(), 1))[0] === 'b');

    // Structural change (a pool added) reloads; the new workers have both sets before they serve.
    const reloads = r.agent.status().reloads;
    await r.save('other.yaml', poolYaml('other', [{ port: c.port }]));
    await waitFor(() => r.agent.status().reloads === reloads + 1);
    expect(await sequence(r.nginx.url(), 10)).toEqual(Array(10).fill('b'));
    expect((await readdir(r.outDir)).sort()).toEqual(['ballast-agent.conf', 'ballast-balancer.lua', 'ballast-sets.state', 'default_other.conf', 'default_web.conf', 'private']);

    // A restart (new master, empty shared memory) reads the state file.
    await r.nginx.stop();
    const { startNginx } = await import('../support/nginx.js');
    const again = await startNginx(r.prefix);
    cleanup.push(() => again.stop());
    expect((await get(again.url(), { timeoutMs: 1000 })).body).toBe('b');
    expect(await storedSet({ ...r, nginx: again }, 'default_other')).toContain(`server 127.0.0.1 ${c.port} 1`);
  });

  it('keeps WebSockets open through endpoint changes', async () => {
    const echo: EchoBackend[] = await startEchoBackends(2);
    cleanup.push(() => Promise.all(echo.map((e) => e.close())));
    const [x, y] = echo;
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': poolYaml('web', [{ port: x.port }]) } });
    const ws = new WebSocket(`ws://127.0.0.1:${r.nginx.port}/ws`);
    cleanup.push(async () => ws.terminate());
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(m.toString()));
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const reloads = r.agent.status().reloads;
    ws.send('one');
    await waitFor(() => messages.includes('one'));

    await r.save('web.yaml', poolYaml('web', [{ port: y.port }]));
    await waitFor(async () => handledBy((await get(r.nginx.url())).body) === y.port);
    ws.send('two');
    await waitFor(() => messages.includes('two'));
    expect(messages[0]).toBe(`port ${x.port}`);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(r.agent.status().reloads).toBe(reloads);
  });

  it('listens for sets only on a Unix socket in a 0700 folder: other users and TCP clients cannot push', async () => {
    const [a, b] = await backends('a', 'b');
    const r = await rig({ mode: 'dynamic', files: { 'web.yaml': poolYaml('web', [{ port: a.port }]) } });
    const socket = path.join(r.outDir, 'private', 'ballast-agent.sock');
    const folder = await stat(path.dirname(socket));
    expect(folder.mode & 0o777).toBe(0o700);
    expect(folder.uid).toBe(process.getuid!());

    // Through nginx's own listener, /sets is just a path of the user's location: it reaches the backend.
    const body = `pool default_web\nserver 127.0.0.1 ${b.port} 1\nend\n`;
    const viaTcp = await new Promise<string>((resolve, reject) => {
      const req = http.request(r.nginx.url('/sets'), { method: 'POST' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(viaTcp).toBe('a');
    expect(await storedSet(r, 'default_web')).toContain(`server 127.0.0.1 ${a.port} 1`);

    if (process.getuid!() === 0) {
      // Another user (nobody) cannot even reach the socket: the folder is closed to it.
      const script = `require('http').get({ socketPath: process.argv[1], path: '/sets' }, (r) => console.log(r.statusCode)).on('error', (e) => console.log(e.code))`;
      const out = await new Promise<string>((resolve) =>
        execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script, socket], (_err, stdout, stderr) => resolve(stdout.trim() || stderr)),
      );
      expect(out).toBe('EACCES');
    }
    expect(await sequence(r.nginx.url(), 3)).toEqual(['a', 'a', 'a']);
  });

  it('detects the Lua module in auto mode, and falls back to plain without it', async () => {
    const [a] = await backends('a');
    const files = { 'web.yaml': poolYaml('web', [{ port: a.port }]) };
    const withLua = await rig({ mode: 'auto', files });
    expect(withLua.agent.status().mode).toBe('dynamic');
    const without = await rig({ mode: 'auto', lua: false, files });
    expect(without.agent.status().mode).toBe('plain');
    expect((await readdir(without.outDir)).sort()).toEqual(['default_web.conf']);
    expect((await get(without.nginx.url())).body).toBe('a');
    expect((await get(withLua.nginx.url())).body).toBe('a');
  });
});

describe.each(['dynamic', 'plain'] as const)('nginx-agent %s mode: a broken structural change', (mode) => {
  it('is never loaded: nginx -t refuses it, the last good files stay, other pools keep changing', async () => {
    const [a, b, c] = await backends('a', 'b', 'c');
    const logs = captureLogs();
    // The main config already has an upstream `taken`: a pool claiming that name breaks the config.
    const r = await rig({ mode, logger: logs.logger, http: '  upstream taken { server 127.0.0.1:1; }', files: { 'web.yaml': poolYaml('web', [{ port: a.port }]) } });
    const before = { ...r.agent.status(), hups: await sighups(r), files: (await readdir(r.outDir)).sort() };

    await r.save('bad.yaml', poolYaml('bad', [{ port: c.port }], { nginx: '{ upstream: taken }' }));
    await waitFor(() => r.agent.status().rejected === 1);
    expect(r.agent.status().lastError).toMatch(/duplicate upstream "taken"/);
    const logged = logs.lines().find((l) => String(l.msg).startsWith('nginx -t refused'));
    expect(logged).toMatchObject({ level: 50, pools: ['default/bad'] });
    expect((await readdir(r.outDir)).sort()).toEqual(before.files);
    expect((await r.prefix.test()).code).toBe(0);
    expect(await sighups(r)).toBe(before.hups);

    // The good pool still follows its manifest.
    await r.save('web.yaml', poolYaml('web', [{ port: b.port }]));
    await waitFor(async () => (await get(r.nginx.url())).body === 'b');

    // Fixed: loaded.
    await r.save('bad.yaml', poolYaml('bad', [{ port: c.port }], { nginx: '{ upstream: fixed }' }));
    await waitFor(async () => (await readdir(r.outDir)).includes('fixed.conf'));
    await waitFor(() => r.agent.status().lastError === undefined);
    expect(r.nginx.alive).toBe(true);
  });
});
