// A hostile manifest must not stall traffic: while `ballast dev` (a real process) parses large files,
// its live pool keeps answering. No absolute time is asserted: the longest pause between two answers
// is compared with how long the parse took, which on a loaded machine stretch together.
import { Agent } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDemoBackends } from '../support/demo-backends.js';
import { freePort, get } from '../support/http-get.js';
import { spawnBallast, type BallastProcess } from '../support/run-ballast.js';
import { waitFor } from '../support/wait-for.js';

let backends: Awaited<ReturnType<typeof startDemoBackends>>;
let dir: string;
let ballast: BallastProcess | undefined;

beforeAll(async () => {
  backends = await startDemoBackends(2);
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-hostile-'));
});
afterAll(async () => {
  await ballast?.stop();
  await backends.close();
  await rm(dir, { recursive: true, force: true });
});

const pool = (listen: number, backend: number) =>
  `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec:\n  listener: { address: 127.0.0.1, port: ${listen} }\n  endpoints: [{ address: 127.0.0.1, port: ${backend} }]\n`;

// A ConfigMap (a kind Ballast ignores) with 40,000 keys, ~600 KB, in flow style so that only a full
// parse can tell what it is. The yaml package's duplicate-key check made this ~10 s of blocked loop.
const hugeConfigMap = (n: number) =>
  `{apiVersion: v1, kind: ConfigMap, metadata: {name: big-${n}}, data: {${Array.from({ length: 40_000 }, (_, i) => `k${i}: v${i}`).join(', ')}}}\n`;

describe('ballast dev with hostile manifests', () => {
  it('keeps answering requests on a live pool while it parses 40,000-key ConfigMaps', async () => {
    const listen = await freePort();
    const [before, after] = backends.ports;
    await writeFile(path.join(dir, 'web.yaml'), pool(listen, before));
    ballast = spawnBallast(['dev', '--manifests', dir, '--admin', '127.0.0.1:0']);
    await ballast.waitForLog((l) => l.msg === 'ballast started');

    // One client, one kept-alive connection, requests back to back; each answer is timestamped.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const answers: { at: number; port: number }[] = [];
    let stop = false;
    const client = (async () => {
      while (!stop) {
        const r = await get(`http://127.0.0.1:${listen}/`, { agent, timeoutMs: 60_000 });
        answers.push({ at: performance.now(), port: Number(/port (\d+)/.exec(r.body)?.[1]) });
      }
    })();
    await waitFor(() => answers.length >= 20, 10_000);

    // Three hostile files and an edit of the pool in one burst: the edit applies once all are parsed.
    const start = performance.now();
    await Promise.all([1, 2, 3].map((n) => writeFile(path.join(dir, `big-${n}.yaml`), hugeConfigMap(n))));
    await writeFile(path.join(dir, 'web.yaml'), pool(listen, after));
    await waitFor(() => answers.some((a) => a.at > start && a.port === after), 120_000);
    stop = true;
    await client;
    agent.destroy();

    const during = answers.filter((a) => a.at > start && a.port === before).map((a) => a.at);
    const end = answers.find((a) => a.at > start && a.port === after)!.at;
    const stamps = [start, ...during, end];
    const longestPause = Math.max(...stamps.slice(1).map((t, i) => t - stamps[i]));
    const window = end - start;
    // Blocked on the main thread, the longest pause is the whole parse (ratio ~1). The figures are in
    // the object so that a failure shows them.
    expect({ pauseToParse: longestPause / window < 0.25, longestPauseMs: Math.round(longestPause), parseMs: Math.round(window) }).toEqual({
      pauseToParse: true,
      longestPauseMs: expect.any(Number),
      parseMs: expect.any(Number),
    });
    expect(ballast.lines().filter((l) => Number(l.level) >= 50)).toEqual([]); // ignored kinds are no error
  }, 180_000);
});
