// Memory the proxy holds per backend behind a listener (no traffic): heap and RSS per endpoint.
// node --expose-gc --import tsx bench/proxy-memory.ts [ENDPOINTS=20000]
import { parseObject } from '../src/api/validate.js';
import type { BalancerPool } from '../src/api/schema.js';
import { silentLogger } from '../src/log.js';
import { computeDesiredPool } from '../src/plan/desired-pool.js';
import { ProxyPools } from '../src/proxy/proxy-pools.js';
import { freePort } from './lib/http.js';

const n = Number(process.argv[2] ?? 20_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const endpoints = Array.from({ length: n }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 80 }));
const parsed = parseObject({
  apiVersion: 'ballast.dev/v1alpha1',
  kind: 'BalancerPool',
  metadata: { name: 'web', namespace: 'default' },
  spec: { listener: { address: '127.0.0.1', port: await freePort() }, endpoints },
});
if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
const plan = computeDesiredPool(parsed.object as BalancerPool, undefined, []);
gc();
const before = process.memoryUsage();
const proxy = new ProxyPools({ logger: silentLogger });
await proxy.apply(plan.key, plan);
gc();
const after = process.memoryUsage();
const per = (a: number, b: number) => ((a - b) / n / 1024).toFixed(2);
console.log(`${n} endpoints behind one listener: heap ${per(after.heapUsed, before.heapUsed)} KiB/endpoint, RSS ${per(after.rss, before.rss)} KiB/endpoint`);
await proxy.close();
