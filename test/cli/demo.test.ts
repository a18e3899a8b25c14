// `npm start` as a new user meets it: the real `ballast demo` process on a copy of manifests/dev,
// its backends answering, and the README's "add the spare backend" edit growing the pool to three.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spareEndpoint } from '../../src/cli/demo.js';
import { servedBy } from '../support/demo-backends.js';
import { freePort, get } from '../support/http-get.js';
import { waitFor } from '../support/wait-for.js';

const ROOT = process.cwd();
// The demo reads manifests/dev relative to its working directory, as `npm start` in the repo does.
const DEMO = [process.execPath, '--import', path.join(ROOT, 'node_modules/tsx/dist/loader.mjs'), path.join(ROOT, 'src/cli/main.ts'), 'demo'];

let work: string;
let child: ChildProcess | undefined;
let out = '';

/** The demo's manifest with the test's free ports for 3000, 3001 and the listener 8080. */
async function demoManifest(ports: number[], listen: number): Promise<string> {
  const text = await readFile('manifests/dev/web.yaml', 'utf8');
  for (const p of ['3000', '3001', '8080']) expect(text).toContain(`port: ${p}`);
  return text.replace('port: 3000', `port: ${ports[0]}`).replace('port: 3001', `port: ${ports[1]}`).replace('port: 8080', `port: ${listen}`);
}

function startDemo(args: string[]): Promise<number | null> {
  out = '';
  child = spawn(DEMO[0], [...DEMO.slice(1), ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child!.once('exit', resolve));
}

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ballast-demo-'));
  await cp('manifests/dev', path.join(work, 'manifests/dev'), { recursive: true });
});

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
  await rm(work, { recursive: true, force: true });
});

describe('ballast demo', () => {
  it('balances two backends, starts a spare, and adding the spare as the demo says spans three', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const listen = await freePort();
    const file = path.join(work, 'manifests/dev/web.yaml');
    await writeFile(file, await demoManifest(ports, listen));
    const exited = startDemo(['--ports', ports.join(','), '--admin', '127.0.0.1:0', '--log-format', 'json']);

    await waitFor(() => servedBy(listen, [ports[0], ports[1]]), 20_000);
    // The spare answers on its own but gets no traffic through the pool yet.
    expect((await get(`http://127.0.0.1:${ports[2]}/`)).body).toBe(`Handled by server on port ${ports[2]}\n`);
    expect(await servedBy(listen, [ports[0], ports[1]])).toBe(true);

    // Follow the demo's own instruction literally: add its line under endpoints.
    const hint = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg.startsWith('spare backend'));
    expect(hint?.msg).toBe(`spare backend listening, not in the pool yet: add "${spareEndpoint(ports[2])}" under endpoints in manifests/dev/web.yaml`);
    const text = await readFile(file, 'utf8');
    const last = text.trimEnd().split('\n').at(-1)!;
    expect(last.trim()).toBe(spareEndpoint(ports[1]));
    await writeFile(file, `${text.trimEnd()}\n${last.replace(spareEndpoint(ports[1]), spareEndpoint(ports[2]))}\n`);
    await waitFor(() => servedBy(listen, ports), 10_000);

    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('the README gives the same line for the default spare port', async () => {
    const readme = await readFile('README.md', 'utf8');
    expect(readme).toContain(`    ${spareEndpoint(3002)}\n`);
    expect(await readFile('manifests/dev/web.yaml', 'utf8')).toMatch(/^ {4}- \{ address: 127\.0\.0\.1, port: 3001 \}\n$/m);
  });

  it('a demo backend port already taken (npm start twice) is one line and exit 1', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const code = await startDemo(['--ports', `${await freePort()},${taken},${await freePort()}`, '--admin', '127.0.0.1:0']);
      expect({ code, out }).toEqual({
        code: 1,
        out: `ballast: demo backend 127.0.0.1:${taken}: address already in use (is another ballast running?); stop the other 'ballast demo' (npm start) first\n`,
      });
    } finally {
      holder.close();
    }
  });
});
