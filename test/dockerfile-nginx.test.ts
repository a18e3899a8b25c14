// No Docker engine runs on our machines, so this test replays Dockerfile.nginx by hand, as
// dockerfile.test.ts does for the main image: the compile, the production-only install, the packages
// the runtime stage installs (the same ones .ci/run installs here), then manifests/nginx's start
// steps: the agent as a real process, then nginx with the container's stale-socket cleanup.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { get } from './support/http-get.js';
import { createNginxPrefix, NGINX_BIN, podNginxConf, startBackend } from './support/nginx.js';
import { poolYaml } from './support/nginx-agent.js';
import { waitFor } from './support/wait-for.js';

const run = promisify(execFile);
const root = path.resolve('.');
let app: string;
let dockerfile: string;

beforeAll(async () => {
  dockerfile = await readFile(path.join(root, 'Dockerfile.nginx'), 'utf8');
  app = await mkdtemp(path.join(tmpdir(), 'ballast-nginx-image-'));
}, 120_000);

afterAll(async () => {
  await rm(app, { recursive: true, force: true });
});

type Container = { name: string; command: string[] };

describe('Dockerfile.nginx', () => {
  it('installs nginx with the Lua module (as .ci/run does for the tests) and runs as the manifests’ user', async () => {
    const apt = /apt-get install -y --no-install-recommends (.+?) \\?$/m.exec(dockerfile)?.[1].split(' ');
    expect(apt).toEqual(['nginx', 'libnginx-mod-http-lua', 'lua-resty-core']);
    const ci = await readFile(path.join(root, '.ci/run'), 'utf8');
    const ciPackages = /^PACKAGES=\((.+)\)$/m.exec(ci)?.[1].split(' ');
    expect(ciPackages).toEqual(expect.arrayContaining(apt!));
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^USER 101:101$/m);
    const { stdout } = await run('kubectl', ['kustomize', 'manifests/nginx'], { timeout: 20_000 });
    const deployment = parseAllDocuments(stdout).map((d) => d.toJS()).find((o) => o.kind === 'Deployment');
    expect(deployment.spec.template.spec.securityContext.runAsUser).toBe(101);
  });

  it('replays the steps: compile, production install, then the Pod’s start: agent, then nginx', async () => {
    // Build stage, then the deps stage's `npm ci --omit=dev`, then the runtime stage's copies.
    await run('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', path.join(app, 'dist')], { cwd: root, timeout: 120_000 });
    for (const f of ['package.json', 'package-lock.json']) await cp(path.join(root, f), path.join(app, f));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 180_000 });
    const ballast = path.join(app, 'dist/cli/main.js');

    // The Pod's commands, with its paths moved into a prefix and dev manifests standing in for the API.
    const { stdout } = await run('kubectl', ['kustomize', 'manifests/nginx'], { timeout: 20_000 });
    const pod = parseAllDocuments(stdout)
      .map((d) => d.toJS())
      .find((o) => o.kind === 'Deployment').spec.template.spec as { initContainers: Container[]; containers: Container[] };
    const out = path.join(app, 'ballast');
    const moved = (arg: string) => arg.replaceAll('/etc/nginx/ballast', out);
    const backend = await startBackend('web');
    const manifests = path.join(app, 'pools');
    await mkdir(manifests);
    await writeFile(path.join(manifests, 'web.yaml'), poolYaml('web', [{ port: backend.port }]));
    const manifest = await readFile(path.join(root, 'manifests/nginx/nginx.conf'), 'utf8');
    const prefix = await createNginxPrefix((listen) => podNginxConf(manifest, listen, out));

    const agentArgs = pod.initContainers.find((c) => c.name === 'agent')!.command.slice(1).map(moved);
    expect(agentArgs.slice(0, 1)).toEqual(['nginx-agent']);
    const args = [
      ...agentArgs.filter((a) => !/^--(namespace|admin|nginx-conf)=/.test(a)),
      `--manifests=${manifests}`,
      `--nginx-conf=${prefix.conf}`,
      `--nginx-prefix=${prefix.prefix}`,
      `--nginx-bin=${NGINX_BIN}`,
      '--admin=127.0.0.1:0',
    ];
    const agent = spawn('node', [ballast, ...args], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] });
    let log = '';
    agent.stdout.on('data', (c: Buffer) => (log += c.toString()));
    let nginx: ReturnType<typeof spawn> | undefined;
    try {
      const admin = await waitFor(() => /"admin":"([^"]+)"/.exec(log)?.[1], 15_000);
      await waitFor(async () => (await get(`http://${admin}/readyz`)).status === 200, 15_000);
      expect(log).toContain('dynamic mode');

      // The nginx container: its shell command with the image's nginx on the test prefix.
      const shell = pod.containers.find((c) => c.name === 'nginx')!.command;
      expect(shell.slice(0, 2)).toEqual(['sh', '-c']);
      const script = moved(shell[2]).replace(`exec nginx -g 'daemon off;'`, `exec ${NGINX_BIN} -p ${prefix.prefix} -c ${prefix.conf}`);
      // A socket file left by a crashed nginx: the container's command removes it before nginx binds.
      await writeFile(path.join(out, 'private', 'ballast-agent.sock'), '');
      nginx = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
      const url = `http://127.0.0.1:${prefix.port}/`;
      await waitFor(async () => (await get(url)).body === 'web', 10_000);
    } finally {
      if (nginx?.pid) await run(NGINX_BIN, ['-p', prefix.prefix, '-c', prefix.conf, '-s', 'quit']).catch(() => process.kill(-nginx!.pid!, 'SIGKILL'));
      agent.kill('SIGTERM');
      const code = await new Promise((r) => agent.once('exit', r));
      expect(code).toBe(0);
      await backend.close();
      await prefix.remove();
    }
  }, 240_000);
});
