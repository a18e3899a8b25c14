// README's "Try cluster mode without a cluster" commands, run as written with the kubectl on our
// machines (v1.32, two minor versions behind the server) against the run's control plane.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clusterInfo } from '../support/cluster.js';
import { waitFor } from '../support/wait-for.js';

const MACHINE_KUBECTL = '/usr/bin/kubectl';
const run = promisify(execFile);

/** The section's `kubectl …` lines, comments dropped. */
function readmeKubectlLines(): string[][] {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Try cluster mode without a cluster'));
  const block = /```sh\n([\s\S]*?)```/.exec(section ?? '')?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('kubectl '))
    .map((l) => l.split(/\s+/).slice(1));
}

let home: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // A HOME of its own: the kubectl dispatcher and its discovery cache write under ~/.kube.
  home = await mkdtemp(path.join(tmpdir(), 'ballast-readme-'));
  env = { ...process.env, HOME: home, KUBECONFIG: clusterInfo().adminKubeconfig };
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("README's cluster commands with the machine's kubectl", () => {
  it('apply the CRD, the manifests and the example, explain the spec, watch and describe the pool', async () => {
    const lines = readmeKubectlLines();
    expect(lines.map((l) => l.slice(0, 2).join(' '))).toEqual(['apply -k', 'apply -k', 'apply -f', 'explain bp.spec', 'get bp', 'describe bp']);
    const output: string[] = [];
    for (const args of lines) {
      if (args.includes('-w')) {
        // A watch runs until stopped: read until the pool's row is shown, then stop it.
        const child = spawn(MACHINE_KUBECTL, args, { env });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        try {
          await waitFor(() => /^NAME\s+ALGORITHM\s+READY\s+TOTAL\s+LISTENER\s+STATUS\s+AGE\n^web\s+RoundRobin\s/m.test(out), 15_000);
        } finally {
          child.kill();
        }
        output.push(out);
        continue;
      }
      output.push((await run(MACHINE_KUBECTL, args, { env, timeout: 30_000 })).stdout);
    }
    const [crds, manifests, example, explain, , describe] = output;
    expect(crds).toMatch(/customresourcedefinition.apiextensions.k8s.io\/balancerpools.ballast.dev (unchanged|configured|created)/);
    expect(manifests).toContain('serviceaccount/ballast');
    expect(manifests).toContain('deployment.apps/ballast');
    expect(example).toContain('balancerpool.ballast.dev/web');
    expect(explain).toContain('Where the backends come from');
    expect(describe).toMatch(/^Name:\s+web$/m);
    expect(describe).toMatch(/^Kind:\s+BalancerPool$/m);
  });
});
