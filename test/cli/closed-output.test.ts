// `ballast … | head`: the reader of Ballast's output goes away first. Real processes; the read end is
// closed before Ballast writes anything, so its first write fails with EPIPE.
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnBallast } from '../support/run-ballast.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-epipe-'));
  await writeFile(path.join(dir, 'bad.yaml'), 'apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: Bad_Name }\nspec: {}\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Exit code and signal of `ballast ARGS…` whose `closed` stream's read end is closed at once, and its stderr. */
async function withClosed(closed: 'stdout' | 'stderr', args: string[]) {
  const p = spawnBallast(args);
  p.child[closed]!.destroy();
  const [code, signal] = (await once(p.child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stderr: p.stderr() };
}

describe('a closed output pipe', () => {
  it.each([
    ['crd', () => ['crd']],
    ['dev', () => ['dev', '--manifests', path.join(dir, 'none'), '--admin', '127.0.0.1:0']],
  ])('stdout of ballast %s: exits 141 (a SIGPIPE death, as shells show it) with nothing on stderr', async (_name, args) => {
    expect(await withClosed('stdout', args())).toEqual({ code: 141, signal: null, stderr: '' });
  });

  it('stderr of ballast validate reporting errors: exits 141', async () => {
    expect(await withClosed('stderr', ['validate', '-f', path.join(dir, 'bad.yaml')])).toMatchObject({ code: 141, signal: null });
  });
});
