// The CLI as users run it: a real process, real files, exit codes and output.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { balancerPoolCrd } from '../../src/api/crd.js';
import { runBallast } from '../support/run-ballast.js';
import { waitFor } from '../support/wait-for.js';

let dir: string;

const NODE_CLI = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'];

/**
 * A long-running command (`dev`) until its stdout shows `ready`, then SIGTERM; what it printed.
 * `terminal` runs it on a pseudo-terminal (util-linux `script`), as a person at a shell would.
 */
async function logsOf(args: string[], { env = {}, terminal = false }: { env?: Record<string, string>; terminal?: boolean } = {}): Promise<string[]> {
  const command = [...NODE_CLI, ...args];
  const [cmd, ...argv] = terminal ? ['script', '-qefc', `exec ${command.map((a) => `'${a}'`).join(' ')}`, '/dev/null'] : command;
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor(() => out.includes('ballast started'), 20_000);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  // A terminal ends lines with CR LF and may colour them.
  return stripVTControlCharacters(out).split(/\r?\n/).filter(Boolean);
}

/** A usage error: the one line, the pointer to the help, exit 2, nothing on stdout. */
const usage = (line: string) => ({ code: 2, stdout: '', stderr: `ballast: ${line}\nsee 'ballast --help'\n` });

const POOL = 'apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec: { endpoints: [{ address: 10.0.0.1, port: 80 }] }\n';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ballast CLI', () => {
  it('validate: exit 0 on good manifests, exit 1 naming file, document, field and reason on bad ones', async () => {
    const ok = await runBallast(['validate', '-f', 'manifests/examples']);
    expect(ok).toEqual(expect.objectContaining({ code: 0, stdout: '2 objects valid\n' }));

    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'apiVersion: v1\nkind: Service\nmetadata: { name: ok }\nspec: { ports: [{ port: 80 }] }\n---\napiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: web }\nspec:\n  endpoints: [{ address: 10.0.0.1, port: 80 }]\n  listener: { port: 70000 }\n');
    const res = await runBallast(['validate', '-f', bad]);
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
    const yaml = await runBallast(['render', 'nginx', '-f', file]);
    expect(yaml.code).toBe(0);
    const cm = parseAllDocuments(yaml.stdout).map((d) => d.toJS())[0];
    expect(cm.metadata).toEqual(expect.objectContaining({ name: 'web-nginx', namespace: 'shop' }));
    expect(cm.data['shop_web.conf']).toMatch(/upstream shop_web \{\n\s+server 10\.0\.0\.1:8080 weight=1 max_fails=1 fail_timeout=10s;\n\s+server 10\.0\.0\.2:8080/);

    const conf = await runBallast(['render', 'nginx', '-f', file, '--format', 'conf']);
    expect(conf.stdout).toBe(cm.data['shop_web.conf']);
  });

  it('crd prints the generated CRD; --version prints the package version', async () => {
    const crd = await runBallast(['crd']);
    expect(parse(crd.stdout)).toEqual(balancerPoolCrd());
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect(await runBallast(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('a mistake on the command line gets one line that says what to do, and exit 2', () => {
  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['crd', 'extra'], 'crd: unexpected argument "extra"'],
    [['dev', '--frobnicate'], 'dev: unknown flag --frobnicate'],
    [['dev', '--admin'], 'dev: --admin needs a value'],
    [['dev', '--admin', 'nonsense'], '--admin "nonsense" is not host:port; use HOST:PORT such as 127.0.0.1:9901 (port 0 picks a free one)'],
    [['dev', '--admin', '127.0.0.1:99999'], '--admin "127.0.0.1:99999": port must be <= 65535; use HOST:PORT such as 127.0.0.1:9901 (port 0 picks a free one)'],
    [['dev', '--log-level', 'loud'], '--log-level "loud" is not a log level; use one of trace, debug, info, warn, error, fatal, silent'],
    [['dev', '--manifests', 'package.json'], '--manifests package.json: is a file, not a folder; pass the folder that holds the manifests'],
    [['dev', '--workers', '0'], '--workers "0" is not a number of workers from 1 to 1024, or auto'],
    [['controller', '--workers', 'many'], '--workers "many" is not a number of workers from 1 to 1024, or auto'],
    [['controller', '--leader-elect=maybe'], '--leader-elect "maybe" is not true or false; use --leader-elect=true or --leader-elect=false'],
    [['controller', '--resync-period', 'soon'], '--resync-period "soon" is not a number >= 0'],
    [['controller', '--pool', 'web'], '--pool needs --namespace: a sidecar balances one pool of one namespace'],
    [['controller', '--listener-namespaces', 'shop=9000-8000'], '--listener-namespaces "shop=9000-8000": the range 9000-8000 is empty'],
  ])('ballast %j', async (args, line) => {
    expect(await runBallast(args)).toEqual(usage(line));
  });

  it('BALLAST_LOG_LEVEL is checked like --log-level', async () => {
    expect(await runBallast(['dev'], { env: { BALLAST_LOG_LEVEL: 'loud' } })).toEqual(
      usage('BALLAST_LOG_LEVEL "loud" is not a log level; use one of trace, debug, info, warn, error, fatal, silent'),
    );
  });

  it('controller --kubeconfig: a missing file, a folder, or a file that is no kubeconfig', async () => {
    const hint = 'pass a kubeconfig file, or leave --kubeconfig out for $KUBECONFIG, ~/.kube/config or the in-cluster service account';
    const missing = path.join(dir, 'no-kubeconfig');
    expect(await runBallast(['controller', '--kubeconfig', missing])).toEqual(usage(`--kubeconfig ${missing}: no such file or directory; ${hint}`));
    expect(await runBallast(['controller', '--kubeconfig', dir])).toEqual(usage(`--kubeconfig ${dir}: is a folder, not a file; ${hint}`));
    const broken = path.join(dir, 'broken-kubeconfig');
    await writeFile(broken, 'clusters: [\n');
    expect(await runBallast(['controller', '--kubeconfig', broken])).toEqual(expect.objectContaining({ code: 2, stderr: expect.stringMatching(new RegExp(`^ballast: --kubeconfig ${broken}: not a kubeconfig \\(.+\\); `)) }));
    const empty = path.join(dir, 'empty-kubeconfig');
    await writeFile(empty, 'apiVersion: v1\nkind: Config\n');
    expect(await runBallast(['controller', '--kubeconfig', empty])).toEqual(usage(`--kubeconfig ${empty}: its current-context names no cluster; ${hint}`));
  });

  it('an admin address already in use (Ballast started twice) is one line and exit 1', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const admin = `127.0.0.1:${(holder.address() as net.AddressInfo).port}`;
    try {
      const empty = path.join(dir, 'no-manifests');
      await mkdir(empty, { recursive: true });
      const res = await runBallast(['dev', '--manifests', empty, '--admin', admin]);
      expect(res).toEqual({
        code: 1,
        stdout: '',
        stderr: `ballast: --admin ${admin}: address already in use (is another ballast running?); pass another --admin address (port 0 picks a free one)\n`,
      });
    } finally {
      holder.close();
    }
  });
});

describe('logs', () => {
  let manifests: string;
  beforeAll(async () => {
    manifests = path.join(dir, 'log-manifests');
    await mkdir(manifests, { recursive: true });
  });
  const dev = (...more: string[]) => ['dev', '--manifests', manifests, '--admin', '127.0.0.1:0', ...more];
  const pretty = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: admin listening \{"admin":"127\.0\.0\.1:\d+"\}$/;
  const isJson = (line: string) => (JSON.parse(line) as { name?: string }).name === 'ballast';

  it('are short readable lines on a terminal, JSON lines when piped', async () => {
    const onTerminal = await logsOf(dev(), { terminal: true });
    expect(onTerminal[0]).toMatch(pretty);
    expect(onTerminal).toContainEqual(expect.stringMatching(/^\[[\d:.]+\] INFO: ballast started \{"pools":0\}$/));
    expect((await logsOf(dev())).every(isJson)).toBe(true);
  });

  it('--log-format and BALLAST_LOG_FORMAT choose either way; the flag wins', async () => {
    expect((await logsOf(dev('--log-format', 'pretty')))[0]).toMatch(pretty);
    expect((await logsOf(dev('--log-format', 'json'), { terminal: true })).every(isJson)).toBe(true);
    expect((await logsOf(dev(), { env: { BALLAST_LOG_FORMAT: 'pretty' } }))[0]).toMatch(pretty);
    expect((await logsOf(dev('--log-format', 'json'), { env: { BALLAST_LOG_FORMAT: 'pretty' } })).every(isJson)).toBe(true);
    expect(await runBallast(['dev', '--log-format', 'xml'])).toEqual(usage('--log-format "xml" is not a log format; use one of json, pretty'));
  });
});

describe('validate reads what it can and names what it cannot', () => {
  it('a folder named like a manifest (d.yaml/) is a folder, given or found', async () => {
    const root = path.join(dir, 'tree');
    await mkdir(path.join(root, 'd.yaml'), { recursive: true });
    await writeFile(path.join(root, 'd.yaml', 'pool.yaml'), POOL);
    expect(await runBallast(['validate', '-f', root])).toEqual({ code: 0, stdout: '1 object valid\n', stderr: '' });
    expect(await runBallast(['validate', '-f', path.join(root, 'd.yaml')])).toEqual({ code: 0, stdout: '1 object valid\n', stderr: '' });
  });

  it('an unreadable file: one line naming it, exit 1, whether given or found in a folder', async () => {
    const root = path.join(dir, 'locked');
    await mkdir(root);
    await chmod(root, 0o755);
    const secret = path.join(root, 'secret.yaml');
    await writeFile(secret, POOL);
    await chmod(secret, 0o600);
    if (process.getuid?.() !== 0) await chmod(secret, 0);
    // mkdtemp made the parent 0700: let the unprivileged user through to the files.
    await chmod(dir, 0o755);
    for (const target of [secret, root]) {
      expect(await runBallast(['validate', '-f', target], { unprivileged: true })).toEqual({ code: 1, stdout: '', stderr: `${secret}: cannot be read (EACCES: permission denied)\n` });
    }
  });
});
