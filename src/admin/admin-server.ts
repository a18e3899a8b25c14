// The admin listener: liveness, readiness, Prometheus metrics, the pool debug view and the dashboard. Loopback by
// default: /debug/pools shows backend addresses. A probes-only listener (`--health-address`) serves
// /healthz /livez /readyz /metrics alone, for the kubelet and Prometheus on the Pod IP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Dashboard } from './dashboard.js';
import { hostAllowed } from './host-check.js';
import type { Readiness } from './readiness.js';

export interface AdminOptions {
  /** `host:port`; port 0 picks a free one. */
  address: string;
  /** What /metrics answers: a registry, or one that gathers the proxy workers' too. */
  metrics: Pick<Registry, 'metrics' | 'contentType'>;
  /** Ready to take traffic (sources synced, first reconcile succeeded, a listener open, not shutting down), and why not. */
  readiness: () => Readiness;
  /** JSON for /debug/pools. */
  pools: () => unknown;
  /** GET / and its data; absent: 404. */
  dashboard?: Pick<Dashboard, 'serve'>;
  /** Host names besides loopback, IP literals and the admin host that requests may name (`--admin-allowed-hosts`). */
  allowedHosts?: readonly string[];
  /** Serve only the probes and /metrics (a listener reachable from outside the Pod). */
  probesOnly?: boolean;
}

const PROBES = new Set(['/healthz', '/livez', '/readyz', '/metrics']);

export function parseHostPort(address: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address) ?? /^()()(\d+)$/.exec(address);
  if (!m) throw new Error(`"${address}" is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`"${address}": port must be <= 65535`);
  return { host: m[1] || m[2] || defaultHost, port };
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly hostAllowed: (host: string | undefined) => boolean;

  constructor(private readonly opts: AdminOptions) {
    this.server = http.createServer((req, res) =>
      this.handle(req, res).catch((err: unknown) => {
        // A proxy worker that could not be asked: say so, and keep the admin listener up.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${(err as Error).message}\n`);
      }),
    );
    this.hostAllowed = hostAllowed(parseHostPort(opts.address).host, opts.allowedHosts ?? []);
  }

  async listen(): Promise<string> {
    const { host, port } = parseHostPort(this.opts.address);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (!this.hostAllowed(req.headers.host)) return send(403, 'host not allowed (see --admin-allowed-hosts)\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (this.opts.probesOnly && !PROBES.has(path)) return send(404, 'not found\n');
    switch (path) {
      case '/healthz':
      case '/livez':
        return send(200, 'ok\n');
      case '/readyz': {
        const { ready, body } = this.opts.readiness();
        return send(ready ? 200 : 503, body);
      }
      case '/metrics':
        return send(200, await this.opts.metrics.metrics(), this.opts.metrics.contentType);
      case '/debug/pools':
        return send(200, JSON.stringify(await this.opts.pools(), null, 2) + '\n', 'application/json');
      default:
        if (this.opts.dashboard?.serve(path, req, res)) return;
        return send(404, 'not found\n');
    }
  }
}
