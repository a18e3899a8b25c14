// The admin listener refuses Host names it does not know (DNS rebinding), in-process and through the CLI flag.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { AdminServer } from '../../src/admin/admin-server.js';
import { hostAllowed } from '../../src/admin/host-check.js';
import { freePort, get } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('hostAllowed', () => {
  const allowed = hostAllowed('ballast-admin.internal', ['metrics.example', '.corp.example']);
  it.each([
    [undefined, true],
    ['127.0.0.1:9901', true],
    ['127.8.9.10', true],
    ['[::1]:9901', true],
    ['10.1.2.3:9901', true], // an IP literal cannot be rebound: Pod IP probes and scrapes
    ['localhost:9901', true],
    ['LOCALHOST.', true],
    ['app.localhost', true],
    ['ballast-admin.internal:9901', true],
    ['metrics.example', true],
    ['corp.example', true],
    ['a.b.corp.example:80', true],
    ['evil.example:9901', false],
    ['localhost.evil.example', false],
    ['metrics.example.evil', false],
    ['notcorp.example', false],
    ['127.0.0.1.nip.io', false],
    ['', false],
  ])('Host %j → %s', (host, ok) => {
    expect(allowed(host)).toBe(ok);
  });
});

describe('admin listener', () => {
  it('answers a loopback or allowed Host, and 403 to any other name', async () => {
    const admin = new AdminServer({ address: '127.0.0.1:0', metrics: new Registry(), readiness: () => ({ ready: true, body: 'ok\n' }), pools: () => [], allowedHosts: ['ballast.test'] });
    const address = await admin.listen();
    cleanups.push(() => admin.close());
    const status = async (host: string) => (await get(`http://${address}/debug/pools`, { headers: { host } })).status;
    expect(await status(address)).toBe(200);
    expect(await status('localhost')).toBe(200);
    expect(await status('ballast.test:9901')).toBe(200);
    expect(await status('rebound.attacker.example')).toBe(403);
    expect(await get(`http://${address}/metrics`, { headers: { host: 'rebound.attacker.example' } })).toMatchObject({ status: 403, body: 'host not allowed (see --admin-allowed-hosts)\n' });
  });

  it('takes its allowed names from --admin-allowed-hosts', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ballast-hosts-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'dev', '--manifests', dir, '--admin', `127.0.0.1:${port}`, '--admin-allowed-hosts', 'a.test, .b.test'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(async () => (child.kill('SIGTERM'), exited));
    const status = async (host: string) => (await get(`http://127.0.0.1:${port}/healthz`, { headers: { host } })).status;
    await waitFor(async () => (await status('127.0.0.1')) === 200, 20_000);
    expect([await status('a.test'), await status('x.b.test'), await status('c.test')]).toEqual([200, 200, 403]);
  }, 30_000);
});
