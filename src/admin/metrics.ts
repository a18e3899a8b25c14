// Controller metrics, Prometheus naming. The proxy registers its own on the same registry.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ControllerMetrics {
  reconciles: Counter<'result'>;
  reconcileDuration: Histogram;
  /** From a source change (file save, watch event) to the pool being live in every actuator. */
  syncLatency: Histogram;
}

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ballast_' });
  return registry;
}

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    reconciles: new Counter({ name: 'ballast_reconcile_total', help: 'Pool reconciles by result.', labelNames: ['result'], registers: [registry] }),
    reconcileDuration: new Histogram({ name: 'ballast_reconcile_duration_seconds', help: 'Time spent in one pool reconcile.', buckets, registers: [registry] }),
    syncLatency: new Histogram({
      name: 'ballast_sync_latency_seconds',
      help: 'From a source change (file, watch event) to the pool being live.',
      buckets,
      registers: [registry],
    }),
  };
}
