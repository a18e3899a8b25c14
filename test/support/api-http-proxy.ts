// An HTTP proxy in front of the real kube-apiserver, for faults that need to see requests (the TCP
// proxy cannot: TLS): it holds back LIST answers, as a big cluster's slow LISTs are, and records
// each LIST. Clients talk plain HTTP to it (client-node allows that with insecure-skip-tls-verify);
// it talks TLS to the server, verifying it, and passes the client's bearer token on.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { ClusterInfo } from './control-plane.js';

export interface ListRecord {
  path: string;
  started: number;
  /** When the answer went back to the client; absent while held or in flight. */
  answered?: number;
}

export class ApiHttpProxy {
  /** LISTs (GETs of a collection without watch) whose path includes this are answered `ms` late. */
  delayLists?: { pathIncludes: string; ms: number };
  /** Requests are taken and never answered, on open connections and new ones (a frozen path), until cleared. */
  frozen = false;
  readonly lists: ListRecord[] = [];
  private readonly watches = new Set<Socket>();

  private constructor(private readonly server: http.Server) {}

  static async start(info: Pick<ClusterInfo, 'server' | 'caFile'>): Promise<ApiHttpProxy> {
    const ca = readFileSync(info.caFile, 'utf8');
    const upstream = new URL(info.server);
    const server = http.createServer();
    const proxy = new ApiHttpProxy(server);
    server.on('request', (req, res) => {
      if (proxy.frozen) return;
      const url = new URL(req.url ?? '/', upstream);
      const isList = req.method === 'GET' && !url.searchParams.has('watch');
      const record: ListRecord | undefined = isList ? { path: url.pathname, started: Date.now() } : undefined;
      if (record) proxy.lists.push(record);
      else if (url.searchParams.has('watch')) {
        const socket = req.socket;
        proxy.watches.add(socket);
        socket.once('close', () => proxy.watches.delete(socket));
      }
      const out = https.request(url, { method: req.method, headers: { ...req.headers, host: upstream.host }, ca, agent: false }, (up) => {
        const delay = record && proxy.delayLists && url.pathname.includes(proxy.delayLists.pathIncludes) ? proxy.delayLists.ms : 0;
        const answer = () => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.flushHeaders(); // a watch answers headers first and events much later
          up.pipe(res);
          up.on('end', () => record && (record.answered = Date.now()));
        };
        if (delay > 0) setTimeout(answer, delay);
        else answer();
      });
      out.on('error', () => res.destroy());
      res.on('close', () => out.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** Watches open through the proxy now. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Cuts every open watch (the client sees its stream end in error); new ones go through. */
  dropWatches(): void {
    for (const socket of this.watches) socket.destroy();
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A kubeconfig that reaches the API server through this proxy with `token`. */
  async writeKubeconfig(file: string, token: string, namespace: string): Promise<void> {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'proxied', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'user', user: { token } }],
      contexts: [{ name: 'proxied', context: { cluster: 'proxied', user: 'user', namespace } }],
      'current-context': 'proxied',
    };
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
