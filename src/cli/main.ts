#!/usr/bin/env node
// `ballast <command>`: the one entry point for every mode (see README "CLI"). Commands are imported
// when run, so dev mode does not load the Kubernetes client (tens of MB of resident memory).
import cluster from 'node:cluster';
import { readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseHostPort } from '../admin/admin-server.js';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type Logger } from '../log.js';
import type { NginxAgentMode } from '../nginx/nginx-agent.js';
import { listenError, reportError, UsageError } from './errors.js';

const USAGE = `Usage: ballast <command> [options]

Commands:
  dev          Balance the pools declared in a folder of manifests, following every change.
                 --manifests DIR   folder to watch (default manifests/dev)
                 --admin ADDR      admin listener: the dashboard at /, /healthz /readyz /metrics /debug/pools (default 127.0.0.1:9901)
                 --admin-allowed-hosts NAMES  comma-separated Host names the admin listener answers besides
                                   IP literals, localhost and its own host; .example.com allows subdomains
                 --nginx-out DIR   also write each pool with spec.nginx as an NGINX upstream file into DIR
                 --shutdown-delay SECONDS  after SIGTERM, fail /readyz but keep serving this long (default 0)
                 --workers N|auto  proxy worker processes sharing each listener (default 1: this process
                                   serves); auto = the CPUs the process may use (affinity, cgroup quota)
  controller   Reconcile BalancerPools in a cluster (or one pool, as a sidecar).
                 --kubeconfig FILE   default $KUBECONFIG, ~/.kube/config, then the in-cluster service account
                 --namespace NS      only this namespace (default: all)
                 --pool NAME         only this BalancerPool (sidecar); needs --namespace
                 --listener-namespaces LIST      namespaces whose pools may open listeners, and on which ports:
                                                 NS[=PORT|=LOW-HIGH],... (* for any namespace; default: --namespace,
                                                 else the controller's own, $POD_NAMESPACE or ballast-system)
                 --admin ADDR        admin listener, everything incl. /debug/pools (default 127.0.0.1:9901; keep it on loopback)
                 --admin-allowed-hosts NAMES     as for dev
                 --health-address ADDR           probes-only listener: /healthz /livez /readyz /metrics, for the
                                                 kubelet and Prometheus (0.0.0.0:9902 in a Pod; default none)
                 --leader-elect=false            only for a single replica: it writes status unopposed (default true)
                 --leader-election-namespace NS  Lease namespace (default $POD_NAMESPACE, else --namespace, else
                                                 ballast-system)
                 --leader-election-id NAME       Lease name (default ballast-controller; ballast-pool-NAME with --pool:
                                                 the sidecars of one pool elect one status writer)
                 --resync-period SECONDS         full relist period (default 300)
                 --shutdown-delay SECONDS        keep accepting after SIGTERM while endpoints propagate (default 5)
                 --workers N|auto                as for dev
  validate     Check manifests offline: ballast validate -f FILE|DIR [-f ...]; exit 1 on any error.
  render nginx Print the NGINX upstream ConfigMaps of the pools in the files (Service pools resolve
               through the Services and EndpointSlices in the same files).
                 -f FILE|DIR       (repeatable)
                 --format yaml|conf  ConfigMap YAML (default) or the raw upstream blocks
  nginx-agent  Beside NGINX: render the pools into a folder NGINX includes and keep NGINX in step.
                 --manifests DIR       dev: pools from this folder (default: the Kubernetes API)
                 --kubeconfig FILE     default $KUBECONFIG, ~/.kube/config, then the in-cluster service account
                 --namespace NS        only this namespace (default: all)
                 --out-dir DIR         the folder NGINX includes in http {} (default /etc/nginx/ballast)
                 --nginx-conf FILE     nginx's main config (-c) (required)
                 --nginx-prefix DIR    nginx's prefix (-p), when not the compiled-in one
                 --nginx-bin PATH      the nginx binary (default nginx)
                 --mode MODE           dynamic (Lua balancer, no reload per endpoint change) | plain
                                       (a reload per change) | auto (dynamic if nginx has Lua; default)
                 --socket PATH         dynamic mode's local socket (default OUT-DIR/private/ballast-agent.sock)
                 --watch DIR           instead of pools: reload when this folder of mounted upstream
                                       ConfigMaps changes (plain)
                 --debounce-ms MS      --watch: quiet time before re-checking (default 200)
                 --admin ADDR          /healthz /readyz /metrics /debug/pools, the dashboard (default 127.0.0.1:9902)
                 --health-address ADDR  probes and /metrics only, for the kubelet and Prometheus (as for controller)
  crd          Print the BalancerPool CustomResourceDefinition.
  demo         Start two demo backends (ports 3000, 3001), a spare (3002) that the pool does not use yet,
               and 'ballast dev' on manifests/dev, whose pool balances 3000 and 3001 on port 8080;
               the dashboard is at http://127.0.0.1:9901/.
                 --admin ADDR      as for dev
                 --workers N|auto  as for dev
                 --ports LIST      the backends' ports, the spare last (default 3000,3001,3002; they must
                                   match manifests/dev/web.yaml)

Global options:
  --log-level LEVEL   trace|debug|info|warn|error|fatal|silent (default info, or $BALLAST_LOG_LEVEL)
  --log-format FORMAT pretty|json: readable lines or JSON lines (default pretty on a terminal, else json,
                      or $BALLAST_LOG_FORMAT)
  -h, --help          show this help
  --version           print Ballast's version

Exit codes: 0 done; 1 failed (invalid manifests, an address that cannot be listened on); 2 usage error;
  141 the reader of its output went away (ballast crd | head -1), as for a process killed by SIGPIPE.
`;

const GLOBAL: ParseArgsConfig['options'] = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

// node:util's wording ("Option '--admin <value>' argument missing") rephrased for a person.
function parseArgsMessage(err: NodeJS.ErrnoException): string {
  const flag = /'(?:-\w, )?(-[^' ]*)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return err.message.includes('does not take an argument') ? `${flag} takes no value` : `${flag} needs a value`;
    default:
      return err.message;
  }
}

/** Parses `command`'s flags; `positionals` says whether it takes arguments besides flags (files). */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(command: string, args: string[], options: T, positionals = false) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...GLOBAL, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${parseArgsMessage(err as NodeJS.ErrnoException)}`);
  }
  if (!positionals && parsed.positionals.length > 0) throw new UsageError(`${command}: unexpected argument "${parsed.positionals[0]}"`);
  return parsed;
}

function parseBool(flag: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`${flag} "${value}" is not true or false; use ${flag}=true or ${flag}=false`);
}

/** A comma-separated list flag; absent or empty means none. */
const parseList = (value: string | undefined): string[] => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

function parseSeconds(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} "${value}" is not a number >= 0`);
  return n;
}

/** A listen address checked before anything starts, so a typo is not found after the sources synced. */
function parseAddress(flag: string, value: string): string {
  try {
    parseHostPort(value);
  } catch (err) {
    throw new UsageError(`${flag} ${(err as Error).message}; use HOST:PORT such as 127.0.0.1:9901 (port 0 picks a free one)`);
  }
  return value;
}

/** `--workers`: a whole number from 1, or `auto` for the CPUs the process may use. */
async function parseWorkers(value: string): Promise<number> {
  if (value === 'auto') return (await import('./available-cpus.js')).availableCpus();
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1024) throw new UsageError(`--workers "${value}" is not a number of workers from 1 to 1024, or auto`);
  return n;
}

/**
 * Runs a serving command; in a proxy worker of `--workers N` (this same program, forked by node:cluster
 * with the same arguments) runs the worker instead, so the worker parses and logs as the primary does.
 */
async function serve(logger: Logger, run: () => Promise<number>): Promise<number> {
  if (!cluster.isWorker) return run();
  const { runProxyWorker } = await import('../proxy/proxy-worker.js');
  return runProxyWorker(logger);
}

/** `3000,3001,3002`: at least two, as the demo needs a pool backend and a spare. */
function parsePorts(flag: string, value: string): number[] {
  const ports = value.split(',').map(Number);
  if (ports.length < 2 || !ports.every((p) => Number.isInteger(p) && p > 0 && p <= 65535)) {
    throw new UsageError(`${flag} "${value}" is not a list of two or more ports; use e.g. ${flag} 3000,3001,3002 (the pool's, then the spare)`);
  }
  return ports;
}

/** A folder that may not exist yet (dev mode waits for it) but must not be a file. */
function parseFolder(flag: string, value: string): string {
  if (statSync(value, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`${flag} ${value}: is a file, not a folder; pass the folder that holds the manifests`);
  return value;
}

/** `value` from the flag, else from the environment variable; one of `allowed`. */
function parseChoice<T extends string>(flag: string, value: string | undefined, env: string, what: string, allowed: readonly T[]): T | undefined {
  const [source, v] = value !== undefined ? [flag, value] : [env, process.env[env] || undefined];
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`${source} "${v}" is not ${what}; use one of ${allowed.join(', ')}`);
  return v as T;
}

function logger(values: Record<string, unknown>): Logger {
  const level = parseChoice('--log-level', values['log-level'] as string | undefined, 'BALLAST_LOG_LEVEL', 'a log level', LOG_LEVELS);
  const format = parseChoice('--log-format', values['log-format'] as string | undefined, 'BALLAST_LOG_FORMAT', 'a log format', LOG_FORMATS);
  return createLogger(level, process.stdout, format);
}

/** Runs a command that opens `--admin` (or `flag`); that listener failing is the user's to fix, in one line. */
async function withAdmin(admin: string, run: () => Promise<number>, flag = '--admin'): Promise<number> {
  const { host, port } = parseHostPort(admin);
  try {
    return await run();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number; hostname?: string };
    const ours = (e.syscall === 'listen' && e.port === port) || (e.syscall === 'getaddrinfo' && e.hostname === host);
    throw (ours && listenError(`${flag} ${admin}`, err, `pass another ${flag} address (port 0 picks a free one)`)) || err;
  }
}

function version(): string {
  // src/cli/ and dist/cli/ are both two levels below package.json.
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'dev': {
      const args = parse('dev', rest, {
        manifests: { type: 'string', default: 'manifests/dev' },
        admin: { type: 'string', default: '127.0.0.1:9901' },
        'admin-allowed-hosts': { type: 'string' },
        'nginx-out': { type: 'string' },
        'shutdown-delay': { type: 'string', default: '0' },
        workers: { type: 'string', default: '1' },
      });
      if (args.values.help) break;
      const v = args.values;
      const admin = parseAddress('--admin', v.admin!);
      const options = {
        manifests: parseFolder('--manifests', v.manifests!),
        admin,
        adminAllowedHosts: parseList(v['admin-allowed-hosts']),
        nginxOut: v['nginx-out'],
        shutdownDelaySeconds: parseSeconds('--shutdown-delay', v['shutdown-delay']!),
        workers: await parseWorkers(v.workers!),
        logger: logger(v),
      };
      return serve(options.logger, async () => {
        const { runDev } = await import('./dev.js');
        return withAdmin(admin, () => runDev(options));
      });
    }
    case 'controller': {
      const args = parse('controller', rest, {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        pool: { type: 'string' },
        'listener-namespaces': { type: 'string' },
        admin: { type: 'string', default: '127.0.0.1:9901' },
        'health-address': { type: 'string' },
        'admin-allowed-hosts': { type: 'string' },
        'leader-elect': { type: 'string', default: 'true' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string' },
        'resync-period': { type: 'string', default: '300' },
        'shutdown-delay': { type: 'string', default: '5' },
        workers: { type: 'string', default: '1' },
      });
      if (args.values.help) break;
      const v = args.values;
      if (v.pool && !v.namespace) throw new UsageError('--pool needs --namespace: a sidecar balances one pool of one namespace');
      const admin = parseAddress('--admin', v.admin!);
      const health = v['health-address'] === undefined ? undefined : parseAddress('--health-address', v['health-address']);
      const { parseListenerPolicy } = await import('../plan/listener-policy.js');
      let listenerNamespaces;
      try {
        listenerNamespaces = parseListenerPolicy(v['listener-namespaces'] ?? v.namespace ?? process.env.POD_NAMESPACE ?? 'ballast-system');
      } catch (err) {
        throw new UsageError(`--listener-namespaces ${(err as Error).message}`);
      }
      const options = {
        kubeconfig: v.kubeconfig,
        namespace: v.namespace,
        pool: v.pool,
        listenerNamespaces,
        admin,
        health,
        adminAllowedHosts: parseList(v['admin-allowed-hosts']),
        leaderElect: parseBool('--leader-elect', v['leader-elect']!),
        leaderElectionNamespace: v['leader-election-namespace'] ?? process.env.POD_NAMESPACE ?? v.namespace ?? 'ballast-system',
        leaderElectionId: v['leader-election-id'] ?? (v.pool ? `ballast-pool-${v.pool}` : 'ballast-controller'),
        resyncSeconds: parseSeconds('--resync-period', v['resync-period']!),
        shutdownDelaySeconds: parseSeconds('--shutdown-delay', v['shutdown-delay']!),
        workers: await parseWorkers(v.workers!),
        logger: logger(v),
      };
      // Imported in the primary only: a worker does not load the Kubernetes client.
      return serve(options.logger, async () => {
        const { runController } = await import('./controller.js');
        return withAdmin(admin, () => (health ? withAdmin(health, () => runController(options), '--health-address') : runController(options)));
      });
    }
    case 'validate': {
      const args = parse('validate', rest, { file: { type: 'string', short: 'f', multiple: true } }, true);
      if (args.values.help) break;
      const files = [...(args.values.file ?? []), ...args.positionals];
      if (files.length === 0) throw new UsageError('validate needs at least one -f FILE|DIR');
      const { runValidate } = await import('./validate.js');
      return runValidate(files, process.stdout, process.stderr);
    }
    case 'render': {
      const [what, ...more] = rest;
      if (what !== 'nginx') throw new UsageError(`render: unknown output "${what ?? ''}"; use render nginx`);
      const args = parse('render nginx', more, { file: { type: 'string', short: 'f', multiple: true }, format: { type: 'string', default: 'yaml' } }, true);
      if (args.values.help) break;
      const files = [...(args.values.file ?? []), ...args.positionals];
      if (files.length === 0) throw new UsageError('render nginx needs at least one -f FILE|DIR');
      const format = args.values.format;
      if (format !== 'yaml' && format !== 'conf') throw new UsageError(`--format "${format}": use yaml or conf`);
      const { runRenderNginx } = await import('./render.js');
      return runRenderNginx(files, format, process.stdout, process.stderr);
    }
    case 'nginx-agent': {
      const args = parse('nginx-agent', rest, {
        manifests: { type: 'string' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'out-dir': { type: 'string', default: '/etc/nginx/ballast' },
        'nginx-conf': { type: 'string' },
        'nginx-prefix': { type: 'string' },
        'nginx-bin': { type: 'string', default: 'nginx' },
        mode: { type: 'string', default: 'auto' },
        socket: { type: 'string' },
        watch: { type: 'string' },
        'debounce-ms': { type: 'string', default: '200' },
        admin: { type: 'string', default: '127.0.0.1:9902' },
        'health-address': { type: 'string' },
      });
      if (args.values.help) break;
      const v = args.values;
      if (!v['nginx-conf']) throw new UsageError('nginx-agent needs --nginx-conf FILE');
      const mode = v.mode as NginxAgentMode | 'auto';
      if (mode !== 'dynamic' && mode !== 'plain' && mode !== 'auto') throw new UsageError(`--mode "${mode}" is not an nginx-agent mode; use one of dynamic, plain, auto`);
      if (v.watch && (v.manifests || v.kubeconfig || v.namespace)) throw new UsageError('--watch reloads a folder written by others; it takes no --manifests, --kubeconfig or --namespace');
      const admin = parseAddress('--admin', v.admin!);
      const health = v['health-address'] === undefined ? undefined : parseAddress('--health-address', v['health-address']);
      const options = {
        manifests: v.manifests && parseFolder('--manifests', v.manifests),
        kubeconfig: v.kubeconfig,
        namespace: v.namespace,
        watch: v.watch,
        outDir: v['out-dir']!,
        mode,
        socket: v.socket,
        nginxConf: v['nginx-conf'],
        nginxPrefix: v['nginx-prefix'],
        nginxBin: v['nginx-bin'],
        debounceMs: parseSeconds('--debounce-ms', v['debounce-ms']!),
        admin,
        health,
        logger: logger(v),
      };
      const { runNginxAgent } = await import('./nginx-agent.js');
      return withAdmin(admin, () => (health ? withAdmin(health, () => runNginxAgent(options), '--health-address') : runNginxAgent(options)));
    }
    case 'crd': {
      const args = parse('crd', rest, {});
      if (args.values.help) break;
      const [{ stringify }, { balancerPoolCrd }] = await Promise.all([import('yaml'), import('../api/crd.js')]);
      process.stdout.write(stringify(balancerPoolCrd(), { lineWidth: 0 }));
      return 0;
    }
    case 'demo': {
      const args = parse('demo', rest, { admin: { type: 'string', default: '127.0.0.1:9901' }, ports: { type: 'string' }, workers: { type: 'string', default: '1' } });
      if (args.values.help) break;
      const admin = parseAddress('--admin', args.values.admin!);
      const ports = args.values.ports === undefined ? undefined : parsePorts('--ports', args.values.ports);
      const options = { admin, ports, workers: await parseWorkers(args.values.workers!), logger: logger(args.values) };
      return serve(options.logger, async () => {
        const { runDemo } = await import('./demo.js');
        return withAdmin(admin, () => runDemo(options));
      });
    }
    case '--version':
      if (rest.length > 0) throw new UsageError(`--version: unexpected argument "${rest[0]}"`);
      process.stdout.write(`${version()}\n`);
      return 0;
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

// `ballast dev | head`: once the reader of stdout or stderr is gone, nothing Ballast says can reach
// anyone, so it ends at once and quietly, as `yes | head` does. Node ignores SIGPIPE, so a write fails
// with EPIPE instead of killing the process; exit as a SIGPIPE death shows in a shell (128 + 13 = 141),
// not 0: the work may be unfinished (validate's verdict unwritten), and a pipeline run with pipefail
// must see that, as it does for cat or grep. Only these two streams: an EPIPE on a socket is a
// connection's problem, handled where the connection is.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(128 + constants.signals.SIGPIPE);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err, process.stderr);
  },
);
