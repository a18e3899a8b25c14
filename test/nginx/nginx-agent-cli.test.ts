// `ballast nginx-agent` as users run it: a real process, exit code and output (a run on pools is
// replayed by test/dockerfile-nginx.test.ts; this one runs --watch, which replaced nginx-reloader).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { renderUpstream } from '../../src/plan/nginx-upstream.js';
import { get } from '../support/http-get.js';
import { createNginxPrefix, NGINX_BIN, nginxPlan, startBackend, startNginx, stopAllNginx } from '../support/nginx.js';
import { waitFor } from '../support/wait-for.js';

afterAll(stopAllNginx);

function ballast(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'src/cli/main.ts', ...args], { timeout: 30_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

describe('ballast nginx-agent', () => {
  it('exits 2 naming the flag when an invocation is wrong', async () => {
    const noConf = await ballast('nginx-agent', '--manifests', 'manifests/dev');
    expect(noConf.code).toBe(2);
    expect(noConf.stderr).toContain('nginx-agent needs --nginx-conf FILE');
    const badMode = await ballast('nginx-agent', '--nginx-conf', 'nginx.conf', '--mode', 'fast');
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain('--mode "fast" is not an nginx-agent mode; use one of dynamic, plain, auto');
    const watchAndApi = await ballast('nginx-agent', '--nginx-conf', 'nginx.conf', '--watch', '/tmp', '--namespace', 'x');
    expect(watchAndApi.code).toBe(2);
    expect(watchAndApi.stderr).toContain('--watch reloads a folder written by others');
  });

  it('--watch reloads nginx when the mounted upstream folder changes, and stops on SIGTERM', async () => {
    const [a, b] = [await startBackend('a'), await startBackend('b')];
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ballast-watch-'));
    const file = path.join(dir, 'default_web.conf');
    const plan = (port: number) => renderUpstream(nginxPlan('web', { endpoints: [{ address: '127.0.0.1', port }] }));
    await writeFile(file, plan(a.port));
    const prefix = await createNginxPrefix({ include: `${dir}/*.conf`, upstream: 'default_web' });
    const nginx = await startNginx(prefix);
    const agent = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'nginx-agent', '--watch', dir, '--nginx-conf', prefix.conf, '--nginx-prefix', prefix.prefix, '--nginx-bin', NGINX_BIN], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let log = '';
    agent.stdout.on('data', (c: Buffer) => (log += c.toString()));
    try {
      await waitFor(() => log.includes('nginx reloader started'), 20_000);
      expect((await get(nginx.url())).body).toBe('a');
      await writeFile(file, plan(b.port));
      await waitFor(async () => (await get(nginx.url())).body === 'b', 10_000);
    } finally {
      agent.kill('SIGTERM');
      const code = await new Promise((resolve) => agent.once('exit', resolve));
      expect(code).toBe(0);
      await nginx.stop();
      await Promise.all([a.close(), b.close(), prefix.remove(), rm(dir, { recursive: true, force: true })]);
    }
  });
});
