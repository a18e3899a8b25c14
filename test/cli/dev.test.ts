// `ballast dev` as users run it: a real process, its exit code and output.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { servedBy, spread, startDemoBackends } from '../support/demo-backends.js';
import { freePort } from '../support/http-get.js';
import { spawnBallast } from '../support/run-ballast.js';
import { waitFor } from '../support/wait-for.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-dev-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ballast dev, not root', () => {
  it('keeps the pools of a file it may not read, and logs the file and the errno', async () => {
    const backends = await startDemoBackends(2);
    const folder = await mkdtemp(path.join(tmpdir(), 'ballast-eacces-'));
    await chmod(folder, 0o755); // readable by the unprivileged user Ballast runs as
    const pool = (name: string, listen: number, backend: number) =>
      `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: ${name} }\nspec:\n  listener: { address: 127.0.0.1, port: ${listen} }\n  endpoints: [{ address: 127.0.0.1, port: ${backend} }]\n`;
    const [web, api] = [await freePort(), await freePort()];
    const file = path.join(folder, 'web.yaml');
    await writeFile(file, pool('web', web, backends.ports[0]), { mode: 0o644 });
    const ballast = spawnBallast(['dev', '--manifests', folder, '--admin', '127.0.0.1:0'], { user: 'nobody' });
    try {
      await ballast.waitForLog((l) => l.msg === 'ballast started');
      expect(await spread(web, 2)).toEqual([backends.ports[0], backends.ports[0]]);

      await chmod(file, 0o000);
      await writeFile(path.join(folder, 'api.yaml'), pool('api', api, backends.ports[1]), { mode: 0o644 }); // a re-read of every file
      await waitFor(() => servedBy(api, [backends.ports[1]]), 10_000);
      const error = await ballast.waitForLog((l) => l.level === 50 && String(l.msg).includes('web.yaml'));
      expect(error.msg).toBe(`${file}: cannot be read (EACCES: permission denied); keeping the objects it last declared`);
      expect(await spread(web, 2)).toEqual([backends.ports[0], backends.ports[0]]);

      await chmod(file, 0o644);
      await writeFile(file, pool('web', web, backends.ports[1]));
      await waitFor(() => servedBy(web, [backends.ports[1]]), 10_000);
    } finally {
      await ballast.stop();
      await backends.close();
      await rm(folder, { recursive: true, force: true });
    }
  }, 60_000);
});
