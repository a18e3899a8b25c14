// `ballast nginx-agent` as users run it: a real process, exit code and output for a wrong invocation
// (a working run is replayed by test/dockerfile-nginx.test.ts).
import { execFile } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';

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
});
