// The CLI as users run it: a real process, real files, exit codes and output.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { balancerPoolCrd } from '../../src/api/crd.js';

let dir: string;

function ballast(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'src/cli/main.ts', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ballast CLI', () => {
  it('validate: exit 0 on good manifests, exit 1 naming file, document, field and reason on bad ones', async () => {
    const ok = await ballast('validate', '-f', 'manifests/examples');
    expect(ok).toEqual(expect.objectContaining({ code: 0, stdout: '2 objects valid\n' }));

    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'apiVersion: v1\nkind: Service\nmetadata: { name: ok }\nspec: { ports: [{ port: 80 }] }\n---\napiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec:\n  endpoints: [{ address: 10.0.0.1, port: 80 }]\n  listener: { port: 70000 }\n');
    const res = await ballast('validate', '-f', bad);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`${bad}#2 spec.listener.port: must be <= 65535 (BalancerPool default/web)\n`);
  });

  it('render nginx: resolves Service pools through the slices in the files and prints ConfigMaps or raw blocks', async () => {
    const file = path.join(dir, 'pool.yaml');
    await writeFile(
      file,
      `apiVersion: ballast.dev/v1alpha1
kind: BalancerPool
metadata: { name: web, namespace: shop }
spec: { service: { name: web, port: http }, nginx: { keepalive: 8 } }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints: [{ addresses: [10.0.0.2] }, { addresses: [10.0.0.1] }]
`,
    );
    const yaml = await ballast('render', 'nginx', '-f', file);
    expect(yaml.code).toBe(0);
    const cm = parseAllDocuments(yaml.stdout).map((d) => d.toJS())[0];
    expect(cm.metadata).toEqual(expect.objectContaining({ name: 'web-nginx', namespace: 'shop' }));
    expect(cm.data['shop_web.conf']).toMatch(/upstream shop_web \{\n\s+server 10\.0\.0\.1:8080 weight=1 max_fails=1 fail_timeout=10s;\n\s+server 10\.0\.0\.2:8080/);

    const conf = await ballast('render', 'nginx', '-f', file, '--format', 'conf');
    expect(conf.stdout).toBe(cm.data['shop_web.conf']);
  });

  it('crd prints the generated CRD; unknown commands and bad flags exit 2 with usage', async () => {
    const crd = await ballast('crd');
    expect(parse(crd.stdout)).toEqual(balancerPoolCrd());
    const unknown = await ballast('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badFlag = await ballast('controller', '--leader-elect=maybe');
    expect(badFlag).toEqual(expect.objectContaining({ code: 2, stderr: expect.stringContaining('--leader-elect must be true or false') }));
  });
});
