import http from 'node:http';
import type { Logger } from '../log.js';
import { runDev } from './dev.js';
import { listenError } from './errors.js';

/** The ports manifests/dev/web.yaml balances, then the spare it does not use yet. */
export const DEMO_PORTS = [3000, 3001, 3002];
export const DEMO_MANIFESTS = 'manifests/dev';

/** The seed's Express servers, as plain node:http: `Handled by server on port N` (port 0 picks one). */
export function startDemoBackend(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Handled by server on port ${(server.address() as { port: number }).port}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** The line that adds the spare backend to the demo pool, as the README shows it. */
export function spareEndpoint(port: number): string {
  return `- { address: 127.0.0.1, port: ${port} }`;
}

/**
 * `ballast demo`: demo backends on `ports` and `ballast dev` on manifests/dev, whose pool balances all
 * but the last port. The last is a spare, so that adding it to the file shows the pool grow to three
 * backends instead of one that is ejected because nothing listens there.
 */
export async function runDemo({ admin, logger, ports = DEMO_PORTS, workers }: { admin: string; logger: Logger; ports?: number[]; workers?: number }): Promise<number> {
  const started = await Promise.allSettled(ports.map((p) => startDemoBackend(p)));
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.findIndex((r) => r.status === 'rejected');
  if (failed >= 0) {
    for (const s of servers) s.close();
    const err = (started[failed] as PromiseRejectedResult).reason;
    throw listenError(`demo backend 127.0.0.1:${ports[failed]}`, err, "stop the other 'ballast demo' (npm start) first") ?? err;
  }
  const spare = ports[ports.length - 1];
  logger.info({ ports: ports.slice(0, -1), dashboard: `http://${admin}/` }, 'demo backends listening; try: curl localhost:8080, and open the dashboard');
  logger.info({ port: spare }, `spare backend listening, not in the pool yet: add "${spareEndpoint(spare)}" under endpoints in ${DEMO_MANIFESTS}/web.yaml`);
  try {
    return await runDev({ manifests: DEMO_MANIFESTS, admin, workers, logger });
  } finally {
    for (const s of servers) s.close();
  }
}
