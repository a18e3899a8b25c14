// Backend addresses that no engine can use must never take the process down: they reach the proxy
// only past validation (a bug, an older CRD, a hand-made plan), so the proxy is tested on its own.
// The scenario runs in a network namespace of its own (`unshare -rn`, loopback only), so that nothing
// a hostile address names can be reached or resolved.
import { execFile } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';

const HOSTILE = ['999.999.999.999', 'fe80::1%lo', '[::1]', 'a b', 'x.0x7f', '1.2.3.4.5', ''];

function inOwnNetwork(script: string, arg: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const node = [process.execPath, '--import', 'tsx', script, arg].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    execFile('unshare', ['-rn', 'sh', '-c', `ip link set lo up && exec ${node}`], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('hostile backend addresses', () => {
  it('answer 502 per request, close the upgrade, are logged, and never crash the process', async () => {
    const run = await inOwnNetwork('test/proxy/hostile-addresses-main.ts', JSON.stringify(HOSTILE));
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const { results, good, logged } = JSON.parse(run.stdout) as {
      results: Record<string, { http: number[]; upgrade: string }>;
      good: number;
      logged: { msg: string; pool: string }[];
    };
    for (const address of HOSTILE) {
      expect([address, results[address]]).toEqual([address, { http: [502, 502], upgrade: 'HTTP/1.1 502 Bad Gateway' }]);
    }
    expect(good).toBe(200);
    const internal = HOSTILE.map((_, i) => ({ msg: 'request failed inside the proxy; answered 502', pool: `test/bad-${i}` }));
    expect(logged).toEqual(expect.arrayContaining(internal));
  }, 60_000);
});
