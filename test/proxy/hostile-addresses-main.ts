// The hostile-address scenario, run by hostile-addresses.test.ts inside a network namespace of its own
// (nothing it connects to or resolves can leave the machine). Pools whose backend address no engine can
// use, fed to the proxy directly (the schema would refuse them), next to a good pool: every request to a
// bad pool must get 502 (HTTP) or a 502 and a closed socket (upgrade), and the process must live on.
// Prints one JSON line: { results, good, logged }.
import { ProxyPools } from '../../src/proxy/proxy-pools.js';
import { httpRequest, startEchoBackend } from '../support/backends.js';
import { captureLogs } from '../support/log-capture.js';
import { rawExchange } from '../support/raw-http.js';
import { listenerPort, poolPlan } from './plans.js';

const addresses = JSON.parse(process.argv[2]) as string[];
const { logger, lines } = captureLogs('warn');
const backend = await startEchoBackend();
const proxy = new ProxyPools({ logger });
const good = poolPlan([backend.port], { key: 'test/good', name: 'good' });
const goodPort = listenerPort((await proxy.apply(good.key, good)).facts);
const results: Record<string, { http: number[]; upgrade: string }> = {};
for (const [i, address] of addresses.entries()) {
  const plan = poolPlan([{ address, port: 80 }], { key: `test/bad-${i}`, name: `bad-${i}` });
  const port = listenerPort((await proxy.apply(plan.key, plan)).facts);
  // Twice: the first request may be what creates the backend's connection pool.
  const http = [(await httpRequest(port, '/')).status, (await httpRequest(port, '/')).status];
  const { reply } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  results[address] = { http, upgrade: reply.split('\r\n')[0] };
}
const goodStatus = (await httpRequest(goodPort, '/')).status;
await proxy.close();
await backend.close();
const logged = lines().map((l) => ({ msg: l.msg, pool: l.pool }));
process.stdout.write(`${JSON.stringify({ results, good: goodStatus, logged })}\n`);
