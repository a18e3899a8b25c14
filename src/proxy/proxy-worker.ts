// One proxy worker process of `--workers N` (see ProxyWorkers for the primary's side). It only
// serves: it applies the plans the primary sends, in order per pool, and answers the primary's
// questions (snapshot, metrics). Listeners are shared through node:cluster.
import cluster from 'node:cluster';
import type { Logger } from '../log.js';
import { createRegistry } from '../admin/metrics.js';
import type { ObjectKey } from '../api/keys.js';
import { ProxyPools } from './proxy-pools.js';
import { plainTraffic, type ToPrimary, type ToWorker } from './proxy-workers.js';

/** Runs until the primary says shut down (or goes away); resolves with the exit code. */
export function runProxyWorker(logger: Logger): Promise<number> {
  const log = logger.child({ worker: Number(process.env.BALLAST_WORKER) });
  const send = (message: ToPrimary) => process.send?.(message);
  const registry = createRegistry();
  const proxy: ProxyPools = new ProxyPools({ logger: log, registry, onListenerClosed: () => send({ type: 'ballast:listeners', listeners: [...proxy.listeners()] }) });
  // The reconciler applies one plan per pool at a time; a restarted worker's replay and a new plan
  // may both be on their way, so each pool's applies are chained here.
  const chains = new Map<ObjectKey, Promise<unknown>>();
  // Signals are the primary's to handle (a terminal's Ctrl-C reaches the whole process group):
  // the worker stops when the primary tells it to, after draining.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});
  return new Promise((resolve) => {
    process.on('message', (message: ToWorker) => {
      const reply = (work: () => Promise<unknown> | unknown) =>
        Promise.resolve()
          .then(work)
          .then(
            (result) => send({ type: 'ballast:reply', id: message.id, result }),
            (err: unknown) => send({ type: 'ballast:reply', id: message.id, error: (err as Error).message }),
          );
      switch (message.type) {
        case 'ballast:apply': {
          const { key, plan } = message;
          const applied = (chains.get(key) ?? Promise.resolve()).then(() => proxy.apply(key, plan ?? undefined));
          const chain = applied.catch(() => {});
          chains.set(key, chain);
          void chain.then(() => chains.get(key) === chain && chains.delete(key));
          void reply(async () => ({ report: await applied, listeners: [...proxy.listeners()] }));
          return;
        }
        case 'ballast:snapshot':
          void reply(() => proxy.snapshot());
          return;
        case 'ballast:traffic':
          void reply(() => plainTraffic(proxy.traffic()));
          return;
        case 'ballast:metrics':
          void reply(() => registry.getMetricsAsJSON());
          return;
        case 'ballast:shutdown':
          void proxy
            .shutdown(message.options)
            .then(() => proxy.close())
            .then(() => {
              // Leaves the cluster: the process exits once its last handle is gone.
              cluster.worker?.disconnect();
              resolve(0);
            });
          return;
      }
    });
    send({ type: 'ballast:started' });
  });
}
