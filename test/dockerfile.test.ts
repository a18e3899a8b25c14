// No Docker engine runs on our machines, so this test replays the Dockerfile's steps by hand: the
// build stage's compile, the runtime stage's production-only install, then the entrypoint. It catches
// what an image build would: a runtime import of a devDependency, a missing file, a broken bin.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { get } from './support/http-get.js';
import { waitFor } from './support/wait-for.js';

const run = promisify(execFile);
const root = path.resolve('.');
let app: string;
let dockerfile: string;

beforeAll(async () => {
  dockerfile = await readFile(path.join(root, 'Dockerfile'), 'utf8');
  app = await mkdtemp(path.join(tmpdir(), 'ballast-image-'));
}, 120_000);

afterAll(async () => {
  await rm(app, { recursive: true, force: true });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs as a non-root user from production dependencies only', () => {
    expect(dockerfile).toMatch(/^FROM node:20\S* AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci$/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["ballast"\]$/m);
  });

  it('replays the steps: compile, production install, then `ballast` validates and serves', async () => {
    // Build stage: `npm run build` (tsc -p tsconfig.build.json, then the dashboard's files), written into the image's /app/dist.
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { scripts: { build: string } };
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json && cp -R src/admin/dashboard dist/admin/');
    await run('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', path.join(app, 'dist')], { cwd: root, timeout: 120_000 });
    await cp(path.join(root, 'src/admin/dashboard'), path.join(app, 'dist/admin/dashboard'), { recursive: true });
    // Runtime stage: package files, `npm ci --omit=dev`, then the copied folders.
    for (const f of ['package.json', 'package-lock.json']) await cp(path.join(root, f), path.join(app, f));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 180_000 });
    await cp(path.join(root, 'manifests'), path.join(app, 'manifests'), { recursive: true });
    await cp(path.join(root, 'crds'), path.join(app, 'crds'), { recursive: true });
    const ballast = path.join(app, 'dist/cli/main.js');

    // Each folder on its own: both declare default/web, which validate (like dev mode) refuses.
    const { stdout } = await run('node', [ballast, 'validate', '-f', 'manifests/examples'], { cwd: app });
    expect(stdout).toMatch(/^\d+ objects valid$/m);
    const crd = await run('node', [ballast, 'crd'], { cwd: app });
    expect(crd.stdout).toContain('name: balancerpools.ballast.dev');
    // The compiled CLI finds package.json from dist/cli/ as the source does from src/cli/.
    const { version } = JSON.parse(await readFile(path.join(app, 'package.json'), 'utf8')) as { version: string };
    expect((await run('node', [ballast, '--version'], { cwd: app })).stdout).toBe(`${version}\n`);

    const child = spawn('node', [ballast, 'dev', '--manifests', 'manifests/dev', '--admin', '127.0.0.1:0', '--log-level', 'info'], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const admin = await waitFor(() => /"admin":"([^"]+)"/.exec(out)?.[1], 15_000);
      await waitFor(async () => (await get(`http://${admin}/readyz`)).status === 200, 15_000);
      // The dashboard's files are part of the build.
      for (const asset of ['/', '/dashboard.js', '/dashboard.css']) expect([asset, (await get(`http://${admin}${asset}`)).status]).toEqual([asset, 200]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 240_000);
});
