// `ballast validate` as users run it (a real process, real files): it reads what dev mode reads, and
// refuses what dev mode would refuse or ignore, with the same messages.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runBallast } from '../support/run-ballast.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-validate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pool = (name: string, extra = '', metadata = '') =>
  `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: ${name}${metadata} }\nspec:\n  endpoints: [{ address: 10.0.0.1, port: 80 }]\n${extra}`;

async function folder(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const d = path.join(dir, name);
  await mkdir(d, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(d, file)), { recursive: true });
    await writeFile(path.join(d, file), text);
  }
  return d;
}

describe('ballast validate', () => {
  it('counts the files dev mode counts (no dotfiles, no ~ backups, files or folders, no FIFO) and reads kind: List', async () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- ${pool('api').replace(/\n(?=.)/g, '\n  ')}`;
    const d = await folder('which', { 'web.yaml': pool('web'), 'list.yaml': list, 'web.yaml~': 'broken: [', 'old~/web.yaml': 'broken: [', '.web.yaml.swp': 'broken: [', 'notes.txt': 'x' });
    execFileSync('mkfifo', [path.join(d, 'pipe.yaml')]);
    expect(await runBallast(['validate', '-f', d], { timeoutMs: 20_000 })).toEqual({ code: 0, stdout: '2 objects valid\n', stderr: '' });
    // Named on its own, a FIFO is an error, not a read that never ends.
    expect(await runBallast(['validate', '-f', path.join(d, 'pipe.yaml')], { timeoutMs: 20_000 })).toEqual({
      code: 1,
      stdout: '',
      stderr: `${path.join(d, 'pipe.yaml')}: is not a regular file\n`,
    });
  });

  it('refuses a pool declared twice, naming both files, as dev mode does', async () => {
    const res = await runBallast(['validate', '-f', 'manifests/dev', '-f', 'manifests/examples']);
    expect(res).toEqual({
      code: 1,
      stdout: '',
      stderr: 'manifests/examples/web.yaml: BalancerPool default/web is already declared in manifests/dev/web.yaml; this one is ignored\n',
    });
  });

  it('refuses a folder with no manifests, and files that declare nothing Ballast reads', async () => {
    const empty = await folder('empty', { 'README.md': '# nothing here' });
    expect(await runBallast(['validate', '-f', empty])).toEqual({ code: 1, stdout: '', stderr: `${empty}: no manifests in this folder (*.yaml, *.yml, *.json)\n` });
    const other = await folder('other', { 'deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n' });
    expect(await runBallast(['validate', '-f', other])).toEqual({ code: 1, stdout: '', stderr: `${other}: no BalancerPool, Service or EndpointSlice found\n` });
  });

  it('says exactly what is wrong: kinds, apiVersion, numbers, names, encodings, YAML and JSON syntax', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(pool('web'), 'utf16le')]);
    const d = await folder('messages', {
      'a-kind.yaml': pool('web').replace('kind: BalancerPool', 'kind: BalancerPol'),
      'b-api.yaml': pool('web').replace('apiVersion: ballast.dev/v1alpha1\n', ''),
      'c-nan.yaml': pool('web', '  retries: .nan\n  drainTimeoutSeconds: .inf\n  timeouts: { connectSeconds: 1e400 }\n'),
      'd-names.yaml': `${pool('c', '', ', namespace: a/b')}---\n${pool('b/c', '', ', namespace: a')}`,
      'e-utf16.yaml': utf16,
      'f-syntax.yaml': 'apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata:\n  name: "web\n',
      'g-syntax.json': '{\n  "apiVersion": "v1",\n  "kind": "Service",\n}\n',
      'h-collection-key.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec:\n  ? [a, b]\n  : 1\n',
      'i-duplicate.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [] }\nspec: { ports: [] }\n',
    });
    const res = await runBallast(['validate', '-f', d]);
    const f = (name: string) => path.join(d, name);
    const SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    expect(res.stderr.split('\n')).toEqual([
      `${f('a-kind.yaml')}#1 kind: Unsupported value "BalancerPol": supported values: "BalancerPool" (BalancerPol default/web)`,
      `${f('b-api.yaml')}#1 apiVersion: apiVersion is required (BalancerPool default/web)`,
      `${f('c-nan.yaml')}#1 spec.retries: must be a finite number; spec.timeouts.connectSeconds: must be a finite number; spec.drainTimeoutSeconds: must be a finite number (BalancerPool default/web)`,
      `${f('d-names.yaml')}#1 metadata.namespace: Invalid value: "a/b": ${LABEL} (BalancerPool a/b/c)`,
      `${f('d-names.yaml')}#2 metadata.name: Invalid value: "b/c": ${SUBDOMAIN} (BalancerPool a/b/c)`,
      `${f('e-utf16.yaml')}: is UTF-16 text; save it as UTF-8`,
      `${f('f-syntax.yaml')}: Missing closing "quote at line 4, column 13:`,
      '  name: "web',
      '            ^',
      `${f('g-syntax.json')}: invalid JSON: Expected double-quoted property name at line 4, column 1`,
      `${f('h-collection-key.yaml')}: a mapping key must be a string or a number, not a collection at line 5, column 5:`,
      '  ? [a, b]',
      '    ^',
      `${f('i-duplicate.yaml')}: Map keys must be unique at line 5, column 1:`,
      'spec: { ports: [] }',
      '^',
      '',
    ]);
    expect(res.code).toBe(1);
  });

  it('bounds what it reads: file size, document count, endpoints in a slice', async () => {
    const big = path.join(dir, 'big.yaml');
    await writeFile(big, `${pool('web')}# ${'x'.repeat(3 * 1024 * 1024)}\n`);
    const many = path.join(dir, 'many.yaml');
    await writeFile(many, Array.from({ length: 1001 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c${i} }\n`).join('---\n'));
    const slice = path.join(dir, 'slice.yaml');
    const endpoints = Array.from({ length: 1001 }, (_, i) => `  - addresses: [10.0.${i >> 8}.${i & 255}]`).join('\n');
    await writeFile(slice, `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: web-1 }\naddressType: IPv4\nendpoints:\n${endpoints}\n`);
    expect(await runBallast(['validate', '-f', big, '-f', many, '-f', slice])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `${big}: is ${(await stat(big)).size} bytes; manifests are read up to 3145728 (3 MiB, the Kubernetes API server's request limit)\n` +
        `${many}: has 1001 documents; at most 1000 are read from one file\n` +
        `${slice}#1 endpoints: must have at most 1000 items (EndpointSlice default/web-1)\n`,
    });
  });
});
