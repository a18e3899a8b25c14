import http from 'node:http';
import type { Logger } from '../log.js';
import { runDev } from './dev.js';

export const DEMO_PORTS = [3000, 3001];

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

/** `ballast demo`: two demo backends and `ballast dev` on manifests/dev, whose pool listens on 8080. */
export async function runDemo({ admin, logger }: { admin: string; logger: Logger }): Promise<number> {
  const servers = await Promise.all(DEMO_PORTS.map((p) => startDemoBackend(p)));
  logger.info({ ports: DEMO_PORTS, dashboard: `http://${admin}/` }, 'demo backends listening; try: curl localhost:8080, and open the dashboard');
  try {
    return await runDev({ manifests: 'manifests/dev', admin, logger });
  } finally {
    for (const s of servers) s.close();
  }
}
