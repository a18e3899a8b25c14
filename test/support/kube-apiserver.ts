import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { stringify } from 'yaml';
import { applyDefaults } from './kube-defaults.js';
import { discoveryResponse } from './kube-discovery.js';
import { canonicalJson, isRecord, valueAtPath, type KubeObject } from './kube-object.js';
import { applyPatch, type PatchType } from './kube-patch.js';
import { StatusError } from './kube-status.js';
import { toTable, type IncludeObject } from './kube-table.js';
import { ObjectSelector } from './object-selector.js';
import { ResourceRegistry, type ResourceType } from './resource-registry.js';

export interface KubeApiServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** How many watch events are kept for watches that resume from a resourceVersion. */
  watchWindow?: number;
  /** Period of BOOKMARK events on watches that send `allowWatchBookmarks=true`. */
  bookmarkIntervalMs?: number;
}

export interface RequestRecord {
  method: string;
  /** The request target as sent, query string included. */
  path: string;
  contentType?: string;
  accept?: string;
}

export interface FaultMatch {
  method?: string;
  pathIncludes?: string;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Where an object is stored: one key per group/plural, whatever version it is served at. */
type StorageKey = string;

interface HistoryEntry {
  rv: number;
  type: EventType;
  key: StorageKey;
  object: KubeObject;
  previous?: KubeObject;
}

interface Watcher {
  key: StorageKey;
  rt: ResourceType;
  namespace?: string;
  selector: ObjectSelector;
  res: ServerResponse;
  timers: NodeJS.Timeout[];
}

interface Route {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: 'status';
}

/** `main` and `status` are the API's two endpoints; `all` is in-process setup that writes status too. */
type WriteMode = 'main' | 'status' | 'all';

const SERVER_MANAGED = ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'generation', 'managedFields', 'selfLink'];
const IMMUTABLE = ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'name', 'namespace'];
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const GENERATE_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const SMP = 'application/strategic-merge-patch+json';
const PATCH_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  [SMP]: 'strategic',
};

function gv(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

function storageKey(rt: ResourceType): StorageKey {
  return `${rt.group}/${rt.plural}`;
}

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** metav1.Time marshals with whole seconds. */
function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw StatusError.badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

/** Non-metadata content; a change here bumps `metadata.generation`. */
function generationRelevant(rt: ResourceType, obj: KubeObject): string {
  const rest: Record<string, unknown> = { ...obj };
  for (const key of ['metadata', 'apiVersion', 'kind', ...(rt.statusSubresource ? ['status'] : [])]) delete rest[key];
  return canonicalJson(rest);
}

/**
 * A small Kubernetes API server for tests, following the wire conventions that kubectl 1.32 and
 * @kubernetes/client-node rely on (see /work/shared/notes/kube-api.md): discovery, CRUD with
 * resourceVersion/generation, merge/JSON/strategic patches, status subresources, finalizers,
 * list + watch with history and 410 Expired, bookmarks, Tables, and CRDs that register at once.
 * Everything after a request body is read runs synchronously, so writes and watch fan-out never
 * interleave. Fault hooks let tests drop watches, expire history, fail requests and take the server away.
 */
export class KubeApiServer {
  /** Every request received, in order. */
  readonly requests: RequestRecord[] = [];
  private readonly registry = new ResourceRegistry();
  private readonly objects = new Map<StorageKey, Map<string, KubeObject>>();
  private readonly watchers = new Set<Watcher>();
  /** Watches that stay open but get no more events: a half-dead connection. */
  private readonly frozen = new WeakSet<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private faults: { match: FaultMatch; status: number; remaining: number }[] = [];
  private history: HistoryEntry[] = [];
  private resourceVersion = 100;
  /** Events at or below this resourceVersion are no longer in `history`. */
  private compactedRv = this.resourceVersion;
  private port = 0;
  private listening = false;

  private constructor(private readonly watchWindow: number, private readonly bookmarkIntervalMs: number) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    for (const name of ['default', 'kube-system']) {
      this.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name }, status: { phase: 'Active' } });
    }
  }

  static async start(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const server = new KubeApiServer(opts.watchWindow ?? 10_000, opts.bookmarkIntervalMs ?? 1000);
    await server.listen(opts.port ?? 0);
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** kubectl sends no credentials over http; client-node needs skip-TLS-verify to accept http at all. */
  kubeconfig(): string {
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'ballast-test', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tester', user: { token: 'test-token' } }],
      contexts: [{ name: 'ballast-test', context: { cluster: 'ballast-test', user: 'tester', namespace: 'default' } }],
      'current-context': 'ballast-test',
    });
  }

  async writeKubeconfig(file: string): Promise<void> {
    await writeFile(file, this.kubeconfig());
  }

  async stop(): Promise<void> {
    if (this.listening) await this.pause();
  }

  /** The server goes away: the listening socket closes and every open connection is destroyed. */
  async pause(): Promise<void> {
    for (const watcher of this.watchers) watcher.timers.forEach(clearTimeout);
    this.watchers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.listening = false;
    await closed;
  }

  /** Comes back on the same port after `pause()`. */
  async resume(): Promise<void> {
    await this.listen(this.port);
  }

  /** Ends every open watch response cleanly, as an apiserver does when a watch times out. */
  dropWatches(): void {
    for (const watcher of this.watchers) this.endWatch(watcher);
  }

  /** Every open watch stays connected but silently stops delivering events (bookmarks too). */
  freezeWatches(): void {
    for (const watcher of this.watchers) {
      this.frozen.add(watcher);
      watcher.timers.forEach(clearTimeout);
    }
  }

  /** Forgets the watch history: a watch from any older resourceVersion now gets an ERROR 410 Expired event. */
  expireHistory(): void {
    this.history = [];
    this.compactedRv = this.resourceVersion;
  }

  /** Answers the next `count` requests that match with a Status error of `status`. */
  failNext(match: FaultMatch, status: number, count = 1): void {
    this.faults.push({ match, status, remaining: count });
  }

  /** The stored object at an API path such as `/api/v1/namespaces/default/configmaps/x`, if any. */
  get(apiPath: string): KubeObject | undefined {
    const { rt, namespace, name } = this.routeOrThrow(apiPath);
    const obj = name === undefined ? undefined : this.lookup(rt, namespace, name);
    return obj && this.present(rt, obj);
  }

  /** The stored objects under a collection path, all namespaces when the path names none. */
  list(apiPath: string): KubeObject[] {
    const { rt, namespace } = this.routeOrThrow(apiPath);
    return this.items(rt, namespace, ObjectSelector.parse()).map((o) => this.present(rt, o));
  }

  /**
   * Creates or replaces an object for test setup, status included and without a resourceVersion
   * check; watchers see the change like any other write. Namespaced objects default to `default`.
   */
  apply(obj: KubeObject): KubeObject {
    const rt = this.registry.findKind(obj.apiVersion ?? '', obj.kind ?? '');
    if (!rt) throw new Error(`KubeApiServer.apply: no resource serves ${obj.apiVersion} ${obj.kind}`);
    const namespace = rt.namespaced ? obj.metadata.namespace ?? 'default' : undefined;
    const body: KubeObject = { ...obj, metadata: { ...obj.metadata } };
    delete body.metadata.resourceVersion;
    const name = obj.metadata.name;
    const written = name !== undefined && this.lookup(rt, namespace, name)
      ? this.update(rt, namespace, name, body, 'all', false)
      : this.create(rt, namespace, body, 'all');
    return this.present(rt, written);
  }

  /** Deletes like an API DELETE would (finalizers set deletionTimestamp); returns the object's last state. */
  delete(apiPath: string): KubeObject | undefined {
    const { rt, namespace, name } = this.routeOrThrow(apiPath);
    if (name === undefined || !this.lookup(rt, namespace, name)) return undefined;
    return this.present(rt, this.deleteObject(rt, namespace, name, {}).object);
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const contentType = req.headers['content-type'];
    const accept = req.headers.accept ?? '';
    this.requests.push({ method, path: target, contentType, accept });
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      return;
    }
    try {
      const url = new URL(target, 'http://127.0.0.1');
      const fault = this.faults.find((f) => f.remaining > 0
        && (f.match.method === undefined || f.match.method.toUpperCase() === method)
        && (f.match.pathIncludes === undefined || target.includes(f.match.pathIncludes)));
      if (fault) {
        fault.remaining--;
        throw StatusError.ofCode(fault.status);
      }
      const discovery = discoveryResponse(this.registry, url.pathname, accept);
      if (discovery) {
        if (method !== 'GET') throw StatusError.methodNotAllowed();
        send(res, 200, discovery.body, discovery.contentType);
        return;
      }
      const route = this.route(url.pathname);
      if (!route) throw StatusError.pathNotFound();
      this.serve(route, method, url.searchParams, { contentType: contentType ?? '', accept }, body, res);
    } catch (err) {
      const status = err instanceof StatusError ? err : StatusError.ofCode(500, `internal error: ${String(err)}`);
      if (res.headersSent) res.end();
      else send(res, status.code, status.toStatus());
    }
  }

  private serve(route: Route, method: string, query: URLSearchParams, headers: { contentType: string; accept: string },
    body: string, res: ServerResponse): void {
    const { rt, namespace, name, subresource } = route;
    const includeObject = (query.get('includeObject') ?? 'Metadata') as IncludeObject;
    const asTable = headers.accept.includes('as=Table');
    switch (method) {
      case 'GET': {
        if (name !== undefined) {
          const obj = this.present(rt, this.mustGet(rt, namespace, name));
          send(res, 200, asTable ? toTable(rt, [obj], obj.metadata.resourceVersion ?? '', includeObject) : obj);
        } else if (['true', '1'].includes(query.get('watch') ?? '')) {
          this.watch(route, query, res);
        } else {
          const selector = ObjectSelector.parse(query.get('labelSelector'), query.get('fieldSelector'));
          const items = this.items(rt, namespace, selector);
          const rv = String(this.resourceVersion);
          send(res, 200, asTable
            ? toTable(rt, items.map((o) => this.present(rt, o)), rv, includeObject)
            : this.listBody(rt, items));
        }
        return;
      }
      case 'POST':
        if (name !== undefined || (rt.namespaced && namespace === undefined)) throw StatusError.methodNotAllowed();
        send(res, 201, this.present(rt, this.create(rt, namespace, parseJson(body), 'main')));
        return;
      case 'PUT':
        if (name === undefined) throw StatusError.methodNotAllowed();
        send(res, 200, this.present(rt, this.update(rt, namespace, name, parseJson(body), subresource ?? 'main', rt.custom)));
        return;
      case 'PATCH':
        if (name === undefined) throw StatusError.methodNotAllowed();
        send(res, 200, this.present(rt, this.patch(route, name, headers.contentType, body)));
        return;
      case 'DELETE': {
        if (subresource) throw StatusError.methodNotAllowed();
        const options = body.trim() ? parseJson(body) : {};
        if (name === undefined) {
          const selector = ObjectSelector.parse(query.get('labelSelector'), query.get('fieldSelector'));
          const deleted = this.items(rt, namespace, selector)
            .map((o) => this.deleteObject(rt, o.metadata.namespace, o.metadata.name ?? '', {}).object);
          send(res, 200, this.listBody(rt, deleted));
          return;
        }
        const { object, removed } = this.deleteObject(rt, namespace, name, isRecord(options) ? options : {});
        send(res, 200, removed
          ? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
            details: { name, group: rt.group, kind: rt.plural, uid: object.metadata.uid } }
          : this.present(rt, object));
        return;
      }
      default:
        throw StatusError.methodNotAllowed();
    }
  }

  /** Parses `/api/v1/...` and `/apis/<g>/<v>/...` resource paths (namespaced or cluster, item, `/status`). */
  private route(pathname: string): Route | undefined {
    const segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string | undefined;
    let rest: string[];
    if (segments[0] === 'api') [group, version, rest] = ['', segments[1], segments.slice(2)];
    else if (segments[0] === 'apis') [group, version, rest] = [segments[1] ?? '', segments[2], segments.slice(3)];
    else return undefined;
    if (version === undefined) return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && this.registry.find(group, version, rest[2]!)?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const rt = this.registry.find(group, version, rest[0] ?? '');
    if (!rt || rest.length > 3 || (rt.namespaced && namespace === undefined && rest.length > 1)) return undefined;
    const [, name, subresource] = rest;
    if (subresource !== undefined && !(subresource === 'status' && rt.statusSubresource)) return undefined;
    return { rt, namespace, name, subresource };
  }

  private routeOrThrow(apiPath: string): Route {
    const route = this.route(apiPath.split('?')[0]!);
    if (!route) throw new Error(`KubeApiServer: not a served resource path: ${apiPath}`);
    return route;
  }

  private store(rt: ResourceType): Map<string, KubeObject> {
    const key = storageKey(rt);
    let store = this.objects.get(key);
    if (!store) {
      store = new Map();
      this.objects.set(key, store);
    }
    return store;
  }

  private lookup(rt: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store(rt).get(objectKey(namespace, name));
  }

  private mustGet(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.lookup(rt, namespace, name);
    if (!obj) throw StatusError.notFound(rt, name);
    return obj;
  }

  private items(rt: ResourceType, namespace: string | undefined, selector: ObjectSelector): KubeObject[] {
    return [...this.store(rt).values()]
      .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && selector.matches(o))
      .sort((a, b) => objectKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(objectKey(b.metadata.namespace, b.metadata.name ?? '')));
  }

  /** A copy in the requested version; list items of built-ins omit kind/apiVersion like a real server. */
  private present(rt: ResourceType, obj: KubeObject, inList = false): KubeObject {
    const copy = structuredClone(obj);
    delete copy.apiVersion;
    delete copy.kind;
    return inList && !rt.custom ? copy : { apiVersion: gv(rt), kind: rt.kind, ...copy };
  }

  private listBody(rt: ResourceType, items: KubeObject[]): Record<string, unknown> {
    return {
      kind: rt.listKind,
      apiVersion: gv(rt),
      metadata: { resourceVersion: String(this.resourceVersion) },
      items: items.map((o) => this.present(rt, o, true)),
    };
  }

  private nextRv(): string {
    return String(++this.resourceVersion);
  }

  /** A decoded request body with kind/apiVersion checked against the endpoint. */
  private decode(rt: ResourceType, body: unknown): KubeObject {
    if (!isRecord(body)) throw StatusError.badRequest('the body of the request must be a JSON object');
    const obj = structuredClone(body);
    if (obj.kind !== undefined && obj.kind !== rt.kind) {
      throw StatusError.badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${rt.kind})`);
    }
    const servedVersions = this.registry.all()
      .filter((r) => r.group === rt.group && r.plural === rt.plural).map(gv);
    if (obj.apiVersion !== undefined && !servedVersions.includes(String(obj.apiVersion))) {
      throw StatusError.badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${gv(rt)})`);
    }
    return { ...obj, apiVersion: gv(rt), kind: rt.kind, metadata: isRecord(obj.metadata) ? obj.metadata : {} };
  }

  /** Checks what a real server's decoding and validation would reject for the fields modelled here. */
  private validate(rt: ResourceType, obj: KubeObject): void {
    if (rt.schema) applyDefaults(rt.schema, obj);
    for (const field of rt.microTimeFields) {
      const value = valueAtPath(obj, field);
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string' || !MICRO_TIME.test(value)) {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        throw StatusError.badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: `
          + `parsing time ${JSON.stringify(text)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse ${JSON.stringify(text.slice(19))} as ".000000"`);
      }
    }
    if (rt.group === 'apiextensions.k8s.io') {
      const spec = isRecord(obj.spec) ? obj.spec : {};
      const names = isRecord(spec.names) ? spec.names : {};
      const expected = `${String(names.plural)}.${String(spec.group)}`;
      if (obj.metadata.name !== expected || typeof names.kind !== 'string' || !Array.isArray(spec.versions) || spec.versions.length === 0) {
        throw StatusError.invalid(rt, obj.metadata.name ?? '', { reason: 'FieldValueInvalid', field: 'metadata.name',
          message: `Invalid value: "${obj.metadata.name}": must be spec.names.plural+"."+spec.group, with spec.names.kind and spec.versions set` });
      }
    }
  }

  private create(rt: ResourceType, namespace: string | undefined, body: unknown, mode: 'main' | 'all'): KubeObject {
    const obj = this.decode(rt, body);
    const meta = obj.metadata;
    if (rt.namespaced && meta.namespace !== undefined && meta.namespace !== namespace) {
      throw StatusError.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (!meta.name) {
      if (!meta.generateName) {
        throw StatusError.invalid(rt, '', { reason: 'FieldValueRequired', field: 'metadata.name',
          message: 'Required value: name or generateName is required' });
      }
      do {
        meta.name = meta.generateName + Array.from({ length: 5 },
          () => GENERATE_NAME_ALPHABET[Math.floor(Math.random() * GENERATE_NAME_ALPHABET.length)]).join('');
      } while (this.lookup(rt, namespace, meta.name));
    }
    if (this.lookup(rt, namespace, meta.name)) throw StatusError.alreadyExists(rt, meta.name);
    for (const field of SERVER_MANAGED) delete meta[field];
    if (rt.namespaced) meta.namespace = namespace;
    else delete meta.namespace;
    meta.uid = randomUUID();
    meta.creationTimestamp = nowSeconds();
    if (rt.tracksGeneration) meta.generation = 1;
    if (rt.statusSubresource && mode === 'main') delete obj.status;
    this.validate(rt, obj);
    if (rt.group === 'apiextensions.k8s.io') obj.status = this.crdStatus(obj);
    meta.resourceVersion = this.nextRv();
    this.store(rt).set(objectKey(namespace, meta.name), obj);
    if (rt.group === 'apiextensions.k8s.io') this.registry.addCrd(obj);
    this.record('ADDED', storageKey(rt), obj);
    return obj;
  }

  /** What the real CRD controllers report once names are accepted; clients may wait on Established. */
  private crdStatus(crd: KubeObject): Record<string, unknown> {
    const spec = crd.spec as Record<string, unknown>;
    const versions = (spec.versions as unknown[]).filter(isRecord);
    const storage = versions.find((v) => v.storage === true) ?? versions[0];
    const condition = (type: string, reason: string, message: string) =>
      ({ type, status: 'True', lastTransitionTime: crd.metadata.creationTimestamp, reason, message });
    return {
      acceptedNames: spec.names,
      storedVersions: [storage?.name],
      conditions: [
        condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
        condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ],
    };
  }

  private update(rt: ResourceType, namespace: string | undefined, name: string, body: unknown, mode: WriteMode,
    requireResourceVersion: boolean): KubeObject {
    const current = this.mustGet(rt, namespace, name);
    const incoming = this.decode(rt, body);
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name) {
      throw StatusError.badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    }
    const rv = incoming.metadata.resourceVersion;
    if (rv) {
      if (rv !== current.metadata.resourceVersion) throw StatusError.conflict(rt, name);
    } else if (requireResourceVersion) {
      throw StatusError.invalid(rt, name, { reason: 'FieldValueInvalid', field: 'metadata.resourceVersion',
        message: 'Invalid value: 0x0: must be specified for an update' });
    }
    let next: KubeObject;
    if (mode === 'status') {
      next = structuredClone(current);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      delete next.metadata.managedFields;
      for (const field of IMMUTABLE) {
        if (current.metadata[field] === undefined) delete next.metadata[field];
        else next.metadata[field] = current.metadata[field];
      }
      if (mode === 'main' && rt.statusSubresource) {
        if (current.status === undefined) delete next.status;
        else next.status = structuredClone(current.status);
      }
    }
    return this.commit(rt, current, next);
  }

  private patch(route: Route, name: string, contentType: string, body: string): KubeObject {
    const { rt, namespace, subresource } = route;
    const mediaType = contentType.split(';')[0]!.trim();
    const type = PATCH_TYPES[mediaType];
    if (type === undefined || (type === 'strategic' && rt.custom)) {
      throw StatusError.unsupportedMediaType(['application/json-patch+json', 'application/merge-patch+json',
        'application/apply-patch+yaml', ...(rt.custom ? [] : [SMP])]);
    }
    const current = this.present(rt, this.mustGet(rt, namespace, name));
    const patched = applyPatch(type, current, parseJson(body));
    // A patch is unconditional unless it carries a resourceVersion of its own, which update() then checks.
    return this.update(rt, namespace, name, patched, subresource ?? 'main', false);
  }

  private commit(rt: ResourceType, current: KubeObject, next: KubeObject): KubeObject {
    if (current.metadata.deletionTimestamp) {
      const added = (next.metadata.finalizers ?? []).filter((f) => !(current.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) {
        throw StatusError.invalid(rt, current.metadata.name ?? '', { reason: 'FieldValueForbidden', field: 'metadata.finalizers',
          message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` });
      }
    }
    this.validate(rt, next);
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    if (rt.tracksGeneration && generationRelevant(rt, next) !== generationRelevant(rt, current)) {
      next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    }
    if (canonicalJson(next) === canonicalJson(current)) return current;
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) return this.remove(rt, next);
    next.metadata.resourceVersion = this.nextRv();
    this.store(rt).set(objectKey(next.metadata.namespace, next.metadata.name ?? ''), next);
    if (rt.group === 'apiextensions.k8s.io') this.registry.addCrd(next);
    this.record('MODIFIED', storageKey(rt), next, current);
    return next;
  }

  private deleteObject(rt: ResourceType, namespace: string | undefined, name: string,
    options: Record<string, unknown>): { object: KubeObject; removed: boolean } {
    const current = this.mustGet(rt, namespace, name);
    const preconditions = isRecord(options.preconditions) ? options.preconditions : {};
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== current.metadata.resourceVersion) {
      throw StatusError.conflict(rt, name, `the ResourceVersion in the precondition (${String(preconditions.resourceVersion)}) `
        + `does not match the ResourceVersion in record (${current.metadata.resourceVersion}). The object might have been modified`);
    }
    if (preconditions.uid !== undefined && preconditions.uid !== current.metadata.uid) {
      throw StatusError.conflict(rt, name, `the UID in the precondition (${String(preconditions.uid)}) does not match the UID `
        + `in record (${current.metadata.uid}). The object might have been deleted and then recreated`);
    }
    if ((current.metadata.finalizers ?? []).length === 0) return { object: this.remove(rt, current), removed: true };
    if (current.metadata.deletionTimestamp) return { object: current, removed: false };
    const next = structuredClone(current);
    next.metadata.deletionTimestamp = nowSeconds();
    next.metadata.deletionGracePeriodSeconds = 0;
    next.metadata.resourceVersion = this.nextRv();
    this.store(rt).set(objectKey(namespace, name), next);
    this.record('MODIFIED', storageKey(rt), next, current);
    return { object: next, removed: false };
  }

  /** Final removal: a DELETED event with the last state at a new resourceVersion. */
  private remove(rt: ResourceType, last: KubeObject): KubeObject {
    const removed = structuredClone(last);
    removed.metadata.resourceVersion = this.nextRv();
    this.store(rt).delete(objectKey(removed.metadata.namespace, removed.metadata.name ?? ''));
    this.record('DELETED', storageKey(rt), removed);
    if (rt.group === 'apiextensions.k8s.io') this.removeCrd(removed);
    return removed;
  }

  /** Like the apiserver's CRD finalizer: instances go first, then the resource leaves discovery and open watches end. */
  private removeCrd(crd: KubeObject): void {
    const served = this.registry.all().filter((r) => r.custom
      && `${r.plural}.${r.group}` === crd.metadata.name);
    const rt = served[0];
    if (rt) {
      for (const obj of [...this.store(rt).values()]) this.remove(rt, obj);
      for (const watcher of this.watchers) if (watcher.key === storageKey(rt)) this.endWatch(watcher);
      this.objects.delete(storageKey(rt));
    }
    this.registry.removeCrd(crd.metadata.name ?? '');
  }

  private record(type: EventType, key: StorageKey, object: KubeObject, previous?: KubeObject): void {
    const entry: HistoryEntry = { rv: Number(object.metadata.resourceVersion), type, key, object, previous };
    this.history.push(entry);
    while (this.history.length > this.watchWindow) this.compactedRv = this.history.shift()!.rv;
    for (const watcher of this.watchers) this.deliver(watcher, entry);
  }

  /** Selector-filtered watches see an object that starts or stops matching as ADDED or DELETED. */
  private deliver(watcher: Watcher, entry: HistoryEntry): void {
    if (entry.key !== watcher.key || this.frozen.has(watcher)) return;
    const visible = (o: KubeObject | undefined): boolean => o !== undefined
      && (watcher.namespace === undefined || o.metadata.namespace === watcher.namespace) && watcher.selector.matches(o);
    const now = visible(entry.object);
    let type: string | undefined = now ? entry.type : undefined;
    if (entry.type === 'MODIFIED') {
      const before = visible(entry.previous);
      type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    }
    if (type) this.sendEvent(watcher, type, this.present(watcher.rt, entry.object));
  }

  private sendEvent(watcher: Watcher, type: string, object: unknown): void {
    watcher.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private watch(route: Route, query: URLSearchParams, res: ServerResponse): void {
    const { rt, namespace } = route;
    const selector = ObjectSelector.parse(query.get('labelSelector'), query.get('fieldSelector'));
    const from = query.get('resourceVersion') ?? '';
    if (from !== '' && !/^\d+$/.test(from)) throw StatusError.badRequest(`invalid resource version: ${from}`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    // client-node's informer.start() waits for the response headers, and an idle watch writes nothing.
    res.flushHeaders();
    const watcher: Watcher = { key: storageKey(rt), rt, namespace, selector, res, timers: [] };
    if (from !== '' && from !== '0' && Number(from) < this.compactedRv) {
      // The real server reports this inside the stream, after the 200 (cacher.go).
      this.sendEvent(watcher, 'ERROR', StatusError.expired(from, this.compactedRv + 1).toStatus());
      res.end();
      return;
    }
    if (from === '' || from === '0') {
      for (const obj of this.items(rt, namespace, selector)) this.sendEvent(watcher, 'ADDED', this.present(rt, obj));
    } else {
      for (const entry of this.history) if (entry.rv > Number(from)) this.deliver(watcher, entry);
    }
    this.watchers.add(watcher);
    res.on('close', () => this.endWatch(watcher));
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) watcher.timers.push(setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000));
    if (query.get('allowWatchBookmarks') === 'true') {
      watcher.timers.push(setInterval(() => this.sendEvent(watcher, 'BOOKMARK',
        { kind: rt.kind, apiVersion: gv(rt), metadata: { resourceVersion: String(this.resourceVersion) } }), this.bookmarkIntervalMs));
    }
  }

  private endWatch(watcher: Watcher): void {
    if (!this.watchers.delete(watcher)) return;
    watcher.timers.forEach(clearTimeout);
    watcher.res.end();
  }
}
