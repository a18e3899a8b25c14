#!/usr/bin/env node
// `ballast <command>`: the one entry point for every mode (see README "CLI"). Commands are imported
// when run, so dev mode does not load the Kubernetes client (tens of MB of resident memory).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger } from '../log.js';

const USAGE = `Usage: ballast <command> [options]

Commands:
  dev          Balance the pools declared in a folder of manifests, following every change.
                 --manifests DIR   folder to watch (default manifests/dev)
                 --admin ADDR      admin listener for /healthz /readyz /metrics /debug/pools (default 127.0.0.1:9901)
                 --nginx-out DIR   also write each pool with spec.nginx as an NGINX upstream file into DIR
                 --shutdown-delay SECONDS  after SIGTERM, fail /readyz but keep serving this long (default 0)
  controller   Reconcile BalancerPools in a cluster (or one pool, as a sidecar).
                 --kubeconfig FILE   default $KUBECONFIG, ~/.kube/config, then the in-cluster service account
                 --namespace NS      only this namespace (default: all)
                 --pool NAME         only this BalancerPool (sidecar); needs --namespace
                 --admin ADDR        admin listener (default 127.0.0.1:9901; 0.0.0.0:9901 in a Pod for probes)
                 --leader-elect=false            for a single replica or a sidecar (default true)
                 --leader-election-namespace NS  Lease namespace (default $POD_NAMESPACE or ballast-system)
                 --leader-election-id NAME       Lease name (default ballast-controller)
                 --resync-period SECONDS         full relist period (default 300)
                 --shutdown-delay SECONDS        keep accepting after SIGTERM while endpoints propagate (default 5)
  validate     Check manifests offline: ballast validate -f FILE|DIR [-f ...]; exit 1 on any error.
  render nginx Print the NGINX upstream ConfigMaps of the pools in the files (Service pools resolve
               through the Services and EndpointSlices in the same files).
                 -f FILE|DIR       (repeatable)
                 --format yaml|conf  ConfigMap YAML (default) or the raw upstream blocks
  nginx-reloader  Beside NGINX: validate (nginx -t) and reload on every change of the upstream folder.
                 --watch DIR           the mounted upstream folder (a ConfigMap volume)
                 --nginx-conf FILE     nginx's main config (-c)
                 --nginx-prefix DIR    nginx's prefix (-p), when not the compiled-in one
                 --nginx-bin PATH      the nginx binary (default nginx)
                 --debounce-ms MS      quiet time before re-checking (default 200)
  crd          Print the BalancerPool CustomResourceDefinition.
  demo         Start two demo backends (ports 3000, 3001) and 'ballast dev' on manifests/dev.

Global options:
  --log-level LEVEL   trace|debug|info|warn|error (default info, or $BALLAST_LOG_LEVEL)
  -h, --help          show this help
`;

export class UsageError extends Error {}

const GLOBAL: ParseArgsConfig['options'] = {
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...GLOBAL, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function parseBool(flag: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`${flag} must be true or false, got "${value}"`);
}

function parseSeconds(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number >= 0, got "${value}"`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const logLevel = (args: { values: Record<string, unknown> }) => createLogger((args.values['log-level'] as string | undefined) ?? undefined);
  switch (command) {
    case 'dev': {
      const args = parse(rest, {
        manifests: { type: 'string', default: 'manifests/dev' },
        admin: { type: 'string', default: '127.0.0.1:9901' },
        'nginx-out': { type: 'string' },
        'shutdown-delay': { type: 'string', default: '0' },
      });
      if (args.values.help) break;
      const { runDev } = await import('./dev.js');
      return runDev({
        manifests: args.values.manifests!,
        admin: args.values.admin!,
        nginxOut: args.values['nginx-out'],
        shutdownDelaySeconds: parseSeconds('--shutdown-delay', args.values['shutdown-delay']!),
        logger: logLevel(args),
      });
    }
    case 'controller': {
      const args = parse(rest, {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        pool: { type: 'string' },
        admin: { type: 'string', default: '127.0.0.1:9901' },
        'leader-elect': { type: 'string', default: 'true' },
        'leader-election-namespace': { type: 'string', default: process.env.POD_NAMESPACE ?? 'ballast-system' },
        'leader-election-id': { type: 'string', default: 'ballast-controller' },
        'resync-period': { type: 'string', default: '300' },
        'shutdown-delay': { type: 'string', default: '5' },
      });
      if (args.values.help) break;
      const v = args.values;
      if (v.pool && !v.namespace) throw new UsageError('--pool needs --namespace');
      const { runController } = await import('./controller.js');
      return runController({
        kubeconfig: v.kubeconfig,
        namespace: v.namespace,
        pool: v.pool,
        admin: v.admin!,
        leaderElect: parseBool('--leader-elect', v['leader-elect']!),
        leaderElectionNamespace: v['leader-election-namespace']!,
        leaderElectionId: v['leader-election-id']!,
        resyncSeconds: parseSeconds('--resync-period', v['resync-period']!),
        shutdownDelaySeconds: parseSeconds('--shutdown-delay', v['shutdown-delay']!),
        logger: logLevel(args),
      });
    }
    case 'validate': {
      const args = parse(rest, { file: { type: 'string', short: 'f', multiple: true } });
      if (args.values.help) break;
      const files = [...(args.values.file ?? []), ...args.positionals];
      if (files.length === 0) throw new UsageError('validate needs at least one -f FILE');
      const { runValidate } = await import('./validate.js');
      return runValidate(files, process.stdout, process.stderr);
    }
    case 'render': {
      const [what, ...more] = rest;
      if (what !== 'nginx') throw new UsageError(`render: unknown output "${what ?? ''}" (only "nginx")`);
      const args = parse(more, { file: { type: 'string', short: 'f', multiple: true }, format: { type: 'string', default: 'yaml' } });
      if (args.values.help) break;
      const files = [...(args.values.file ?? []), ...args.positionals];
      if (files.length === 0) throw new UsageError('render nginx needs at least one -f FILE');
      const format = args.values.format;
      if (format !== 'yaml' && format !== 'conf') throw new UsageError(`--format must be yaml or conf, got "${format}"`);
      const { runRenderNginx } = await import('./render.js');
      return runRenderNginx(files, format, process.stdout, process.stderr);
    }
    case 'nginx-reloader': {
      const args = parse(rest, {
        watch: { type: 'string' },
        'nginx-conf': { type: 'string' },
        'nginx-prefix': { type: 'string' },
        'nginx-bin': { type: 'string', default: 'nginx' },
        'debounce-ms': { type: 'string', default: '200' },
      });
      if (args.values.help) break;
      const v = args.values;
      if (!v.watch || !v['nginx-conf']) throw new UsageError('nginx-reloader needs --watch DIR and --nginx-conf FILE');
      const { runNginxReloader } = await import('./nginx-reloader.js');
      return runNginxReloader({
        watchDir: v.watch,
        nginxConf: v['nginx-conf'],
        nginxPrefix: v['nginx-prefix'],
        nginxBin: v['nginx-bin'],
        debounceMs: parseSeconds('--debounce-ms', v['debounce-ms']!),
        logger: logLevel(args),
      });
    }
    case 'crd': {
      const args = parse(rest, {});
      if (args.values.help) break;
      const [{ stringify }, { balancerPoolCrd }] = await Promise.all([import('yaml'), import('../api/crd.js')]);
      process.stdout.write(stringify(balancerPoolCrd(), { lineWidth: 0 }));
      return 0;
    }
    case 'demo': {
      const args = parse(rest, { admin: { type: 'string', default: '127.0.0.1:9901' } });
      if (args.values.help) break;
      const { runDemo } = await import('./demo.js');
      return runDemo({ admin: args.values.admin!, logger: logLevel(args) });
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      break;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
  process.stdout.write(USAGE);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`ballast: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof Error && typeof (err as { exitCode?: unknown }).exitCode === 'number') {
      // A typed error that is the user's to fix (e.g. NotAFolderError): its one line is the whole story.
      process.stderr.write(`ballast: ${err.message}\n`);
      process.exitCode = (err as unknown as { exitCode: number }).exitCode;
    } else {
      process.stderr.write(`ballast: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
