// `ballast nginx-agent`: keeps an NGINX beside it in step with the pools, as one more actuator of the
// shared reconciler (its sources are the controller's KubeSource or the dev FileSource).
//
// Two modes, one flow. Each pool has a structure (what only a reload changes) and, in dynamic mode,
// an endpoint set (what the Lua balancer reads from shared memory):
// - plain:   the structure is the pool's whole upstream block, the same text as its ConfigMap; every
//            change is a reload.
// - dynamic: the structure is an upstream block with a Lua balancer, plus one http-level file; the
//            endpoints, weights, algorithm and failure settings are pushed to NGINX's local-only
//            server. Only adding or removing a pool, or changing its keep-alive, reloads.
// A structural change is written, checked with `nginx -t`, and reloaded; when the check fails, the
// last good files are written back (so a restarted NGINX loads them too) and the pools whose change
// was refused report it; their other changes (endpoints) still apply. Before every reload the agent
// writes all sets to a state file that NGINX's init_by_lua loads, so a reloaded or restarted NGINX
// starts balancing with the current sets, never with an empty one.
import { chmod, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { ObjectKey } from '../api/keys.js';
import type { Actuator, ActuatorReport } from '../controller/actuator.js';
import type { Logger } from '../log.js';
import type { DesiredPool } from '../plan/desired-pool.js';
import {
  AGENT_CONF_FILE,
  checkDynamic,
  DEFAULT_AGENT_SOCKET,
  LUA_BALANCER_MODULE,
  renderAgentConf,
  renderDynamicUpstream,
  renderEndpointSet,
  STATE_FILE,
} from '../plan/nginx-dynamic.js';
import { checkConfigMap, configHash, renderUpstream, upstreamFileName, type UpstreamRenderOptions } from '../plan/nginx-upstream.js';
import { LUA_BALANCER } from './lua-balancer.js';
import type { NginxBinary } from './nginx-binary.js';
import { writeAtomically } from './write-atomically.js';

export type NginxAgentMode = 'dynamic' | 'plain';

export interface NginxAgentOptions extends UpstreamRenderOptions {
  /** `auto` tries dynamic and falls back to plain when `nginx -t` does not know the Lua directives. */
  mode: NginxAgentMode | 'auto';
  /** The folder the main config includes (`include <dir>/*.conf;` in `http {}`); the agent owns it. */
  dir: string;
  /**
   * Dynamic mode: the agent's Unix socket. Its folder is created mode 0700: NGINX makes the socket
   * itself world-writable, so the folder is what keeps other users out.
   */
  socket?: string;
  nginx: NginxBinary;
  logger: Logger;
  /** Re-check at this period: retries a reload or a push that failed (NGINX not up yet); 0 disables. */
  resyncMs?: number;
}

export interface NginxAgentStatus {
  /** The mode in use (`auto` resolved by the first check). */
  mode?: NginxAgentMode;
  reloads: number;
  /** Structural changes `nginx -t` refused; NGINX kept the last good config. */
  rejected: number;
  /** Sets pushed into NGINX's shared memory without a reload. */
  pushes: number;
  /** Hash of the structure NGINX was last told to load. */
  loadedHash?: string;
  lastError?: string;
}

/** `nginx -s reload` with no NGINX running: no pid file, or a stale one. It loads our files when it starts. */
const NOT_RUNNING = /nginx\.pid" failed \(2: |failed \(3: No such process\)|invalid PID number ""/;

/** NGINX without the Lua module (or without lua-resty-core) refuses the dynamic config with these. */
const NO_LUA = /unknown directive "(lua_|init_by_lua|log_by_lua|balancer_by_lua|content_by_lua)|resty\.core|ngx\.balancer/;

interface Round {
  /** Keys whose structure this round tried to change. */
  changed: Set<ObjectKey>;
}

export class NginxAgent implements Actuator {
  readonly name = 'nginx-agent';
  private readonly logger: Logger;
  private readonly dir: string;
  private readonly socket: string;
  private mode?: NginxAgentMode;
  private readonly plans = new Map<ObjectKey, DesiredPool>();
  /** Structure file and text per key as NGINX last loaded them. */
  private readonly accepted = new Map<ObjectKey, { file: string; text: string }>();
  /** Structure text per key that `nginx -t` refused, with the error: not offered again until it changes. */
  private readonly refused = new Map<ObjectKey, { text: string; error: string }>();
  /** File name -> text, as written to the folder for the loaded structure. */
  private files?: Map<string, string>;
  /** Set text per upstream, as NGINX's shared memory holds it. */
  private readonly pushed = new Map<string, string>();
  /** The state file's text as last written. */
  private stateText?: string;
  private reloadPending = false;
  private started = false;
  private firstLoadDone = false;
  private round?: Promise<void>;
  private next?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly state: NginxAgentStatus = { reloads: 0, rejected: 0, pushes: 0 };

  constructor(private readonly opts: NginxAgentOptions) {
    this.logger = opts.logger.child({ actuator: this.name });
    this.dir = path.resolve(opts.dir);
    this.socket = path.resolve(opts.socket ?? path.join(this.dir, 'private', DEFAULT_AGENT_SOCKET));
    if (opts.mode !== 'auto') this.mode = opts.mode;
  }

  /**
   * The first load, once the reconciler has applied every pool: until then apply() only collects
   * plans, so that a restarted agent never loads NGINX with a partial set of pools.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.sync();
    this.firstLoadDone = true;
    const resyncMs = this.opts.resyncMs ?? 10_000;
    if (resyncMs > 0) {
      this.timer = setInterval(() => void this.sync().catch((err: unknown) => this.logger.warn({ err }, 'nginx re-check failed')), resyncMs);
      this.timer.unref();
    }
  }

  /** True once the first load ran (NGINX's files are written): the agent's readiness. */
  get loaded(): boolean {
    return this.firstLoadDone;
  }

  status(): NginxAgentStatus {
    return { ...this.state, mode: this.mode };
  }

  async apply(key: ObjectKey, plan: DesiredPool | undefined): Promise<ActuatorReport> {
    if (!plan?.nginx) {
      if (!this.plans.delete(key)) return {};
      this.refused.delete(key);
      if (this.started) await this.sync();
      return {};
    }
    // Plain mode writes the ConfigMap's text, so it has the ConfigMap's checks; Lua needs IP addresses.
    const problem = this.mode === 'plain' ? checkConfigMap(plan, undefined, this.opts) : checkDynamic(plan);
    if (problem) {
      this.logger.error({ pool: key, reason: problem.reason }, `${problem.message}; NGINX keeps the pool's last good config`);
      return { problem };
    }
    const owner = [...this.plans].find(([k, p]) => k !== key && p.nginx!.upstream === plan.nginx!.upstream)?.[0];
    if (owner) {
      const message = `upstream ${plan.nginx.upstream} is already used by pool ${owner}; set spec.nginx.upstream to a unique name`;
      this.logger.error({ pool: key, reason: 'UpstreamConflict' }, message);
      return { problem: { reason: 'UpstreamConflict', message } };
    }
    this.plans.set(key, plan);
    if (!this.started) return { facts: { upstream: plan.nginx.upstream } };
    // A retry of a refused change (the reconciler backs off) is offered to nginx -t again.
    this.refused.delete(key);
    await this.sync();
    const refused = this.refused.get(key);
    if (refused) return { problem: { reason: 'NginxConfigRejected', message: `nginx -t refused the change; NGINX keeps the last good config: ${refused.error}` } };
    return { facts: { upstream: plan.nginx.upstream, nginxMode: this.mode ?? 'auto' } };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.next?.catch(() => {});
    await this.round?.catch(() => {});
  }

  /** Runs a round, or joins the next one when a round is under way (it may predate the caller's change). */
  private sync(): Promise<void> {
    if (!this.round) {
      this.round = this.runRound().finally(() => (this.round = undefined));
      return this.round;
    }
    this.next ??= this.round
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.sync();
      });
    return this.next;
  }

  private structureOf(plan: DesiredPool): string {
    return this.mode === 'plain' ? renderUpstream(plan, this.opts) : renderDynamicUpstream(plan);
  }

  private async runRound(): Promise<void> {
    if (!this.files) this.files = await this.ownedFiles();
    const round: Round = { changed: new Set() };
    const wanted = new Map<string, string>();
    if (this.mode !== 'plain') {
      wanted.set(AGENT_CONF_FILE, renderAgentConf({ dir: this.dir, socket: this.socket, emptyPoolListen: this.opts.emptyPoolListen }));
      wanted.set(`${LUA_BALANCER_MODULE}.lua`, LUA_BALANCER);
    }
    for (const [key, plan] of this.plans) {
      const text = this.structureOf(plan);
      const accepted = this.accepted.get(key);
      // A refused structure is not offered again until it changes: the pool keeps its loaded one.
      const offered = this.refused.get(key)?.text === text ? accepted : { file: upstreamFileName(plan), text };
      if (offered?.file !== accepted?.file || offered?.text !== accepted?.text) round.changed.add(key);
      if (offered) wanted.set(offered.file, offered.text);
    }
    for (const key of this.accepted.keys()) if (!this.plans.has(key)) round.changed.add(key);

    if (this.mode !== 'plain') await this.writeState();
    if (!sameFiles(wanted, this.files)) {
      const loaded = await this.load(wanted, round);
      if (!loaded) return;
    } else if (this.reloadPending) {
      await this.reload(hashFiles(wanted));
    }
    if (this.mode === 'dynamic') await this.push();
  }

  /** Writes `wanted`, checks it, reloads; on refusal restores the last good files. True when loaded. */
  private async load(wanted: Map<string, string>, round: Round): Promise<boolean> {
    const previous = this.files!;
    await this.writeFiles(wanted, previous);
    // nginx -t binds the socket too (and removes it again): its folder must exist.
    if (this.mode !== 'plain') await this.socketFolder();
    const test = await this.opts.nginx.test();
    const hash = hashFiles(wanted);
    if (test.code !== 0) {
      const error = test.stderr.trim();
      if (this.mode === undefined && NO_LUA.test(error)) {
        this.logger.info({ stderr: error }, 'nginx has no Lua module (libnginx-mod-http-lua and lua-resty-core, or OpenResty): plain mode, a reload per change');
        this.mode = 'plain';
        await this.writeFiles(previous, wanted);
        await rm(path.join(this.dir, STATE_FILE), { force: true });
        await rmdir(path.dirname(this.socket)).catch(() => {});
        this.stateText = undefined;
        this.files = previous;
        await this.runRound();
        return false;
      }
      await this.writeFiles(previous, wanted);
      this.state.rejected++;
      this.state.lastError = error;
      for (const key of round.changed) {
        const plan = this.plans.get(key);
        if (plan) this.refused.set(key, { text: this.structureOf(plan), error });
      }
      this.logger.error({ pools: [...round.changed], stderr: error }, 'nginx -t refused the new config; NGINX keeps serving the last good one');
      // The sets still apply to the upstreams NGINX has.
      if (this.mode === 'dynamic') await this.push();
      return false;
    }
    if (this.mode === undefined) {
      this.mode = 'dynamic';
      this.logger.info('nginx has the Lua module: dynamic mode, endpoint changes without a reload');
    }
    if (test.stderr.includes('[warn]')) this.logger.warn({ stderr: test.stderr.trim() }, 'nginx -t passed with warnings');
    this.files = wanted;
    for (const key of round.changed) {
      const plan = this.plans.get(key);
      if (plan) this.accepted.set(key, { file: upstreamFileName(plan), text: this.structureOf(plan) });
      else this.accepted.delete(key);
    }
    await this.reload(hash);
    return true;
  }

  private async reload(hash: string): Promise<void> {
    const reload = await this.opts.nginx.reload();
    if (reload.code !== 0 && NOT_RUNNING.test(reload.stderr)) {
      this.reloadPending = false;
      this.logger.info({ hash }, 'nginx is not running; it loads the written config when it starts');
      return;
    }
    if (reload.code !== 0) {
      this.reloadPending = true;
      this.state.lastError = reload.stderr.trim();
      this.logger.warn({ hash, stderr: this.state.lastError }, 'nginx reload failed; the agent retries at the next re-check');
      return;
    }
    this.reloadPending = false;
    this.state.reloads++;
    this.state.loadedHash = hash;
    this.state.lastError = undefined;
    this.logger.info({ hash, pools: this.accepted.size }, 'nginx reloaded');
  }

  private sets(): Map<string, string> {
    const sets = new Map<string, string>();
    for (const plan of this.plans.values()) sets.set(plan.nginx!.upstream, renderEndpointSet(plan));
    return sets;
  }

  private async writeState(): Promise<void> {
    const text = [...this.sets().values()].join('');
    if (this.stateText === text) return;
    await writeAtomically(path.join(this.dir, STATE_FILE), text);
    this.stateText = text;
  }

  /** POSTs the sets NGINX does not have yet; a failure (NGINX down) is retried at the next round. */
  private async push(): Promise<void> {
    const changed = [...this.sets()].filter(([upstream, text]) => this.pushed.get(upstream) !== text);
    if (changed.length === 0) return;
    try {
      await postSets(this.socket, changed.map(([, text]) => text).join(''));
    } catch (err) {
      this.logger.warn({ err, socket: this.socket }, 'pushing endpoint sets to nginx failed; the state file has them for its next start, the agent retries');
      return;
    }
    for (const [upstream, text] of changed) this.pushed.set(upstream, text);
    this.state.pushes++;
    this.logger.info({ upstreams: changed.map(([u]) => u) }, 'endpoint sets pushed to nginx');
  }

  private async socketFolder(): Promise<void> {
    const dir = path.dirname(this.socket);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  }

  /** What is in the folder at start: every `.conf` and `.lua` is ours (the folder is the agent's). */
  private async ownedFiles(): Promise<Map<string, string>> {
    await mkdir(this.dir, { recursive: true });
    const names = (await readdir(this.dir)).filter((n) => !n.startsWith('.') && (n.endsWith('.conf') || n.endsWith('.lua')));
    // Unknown content: never equal to what we want, so the first round writes and reloads once.
    return new Map(names.map((n) => [n, '']));
  }

  private async writeFiles(files: Map<string, string>, current: Map<string, string>): Promise<void> {
    for (const [name, text] of files) if (current.get(name) !== text) await writeAtomically(path.join(this.dir, name), text);
    for (const name of current.keys()) if (!files.has(name)) await rm(path.join(this.dir, name), { force: true });
  }
}

const hashFiles = (files: Map<string, string>) => configHash([...files].map(([name, text]) => `${name}\0${text}`).sort().join('\0'));

function sameFiles(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function postSets(socketPath: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: '/sets', method: 'POST', headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`nginx answered ${res.statusCode}: ${text.trim()}`))));
    });
    req.on('timeout', () => req.destroy(new Error('no answer from nginx within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}
