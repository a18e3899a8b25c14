// The same churn through `ballast nginx-agent` in both modes, with a real nginx and keep-alive load:
// a rolling replacement of every backend (0 failed and 0 reset requests in dynamic mode; plain mode's
// reloads reset keep-alive connections, counted and printed beside), and the time from a
// manifest save to NGINX serving the new set over 100 saves (printed, never asserted).
// Reproduce the figures: NODE_OPTIONS=--experimental-vm-modules npx jest --maxWorkers=1 test/nginx/agent-churn.test.ts
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { startBackend, stopAllNginx, type Backend } from '../support/nginx.js';
import { poolYaml, startAgentRig, type AgentRig } from '../support/nginx-agent.js';
import { waitFor } from '../support/wait-for.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

const figures: Record<string, { rolling?: string; propagation?: string }> = { dynamic: {}, plain: {} };
afterAll(async () => {
  await stopAllNginx();
  console.log(
    ['[nginx-agent] same churn, both modes (one nginx worker, loopback):', ...Object.entries(figures).map(([mode, f]) => `  ${mode.padEnd(7)} ${f.rolling ?? '-'}; ${f.propagation ?? '-'}`)].join('\n'),
  );
});

async function backend(name: string): Promise<Backend> {
  const b = await startBackend(name);
  cleanup.push(() => b.close());
  return b;
}

async function rig(mode: 'dynamic' | 'plain', ports: number[]): Promise<AgentRig> {
  const r = await startAgentRig({ mode, files: { 'web.yaml': poolYaml('web', ports.map((port) => ({ port }))) } });
  cleanup.push(() => r.stop());
  return r;
}

/** Resolves once the agent has applied a change: a push in dynamic mode, a reload in plain mode. */
function applied(r: AgentRig, mode: 'dynamic' | 'plain'): () => Promise<void> {
  const count = () => (mode === 'dynamic' ? r.agent.status().pushes : r.agent.status().reloads);
  const before = count();
  return async () => void (await waitFor(() => count() > before, 10_000));
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

describe.each(['dynamic', 'plain'] as const)('nginx-agent %s mode under churn', (mode) => {
  it('replaces every backend, one at a time, under keep-alive load without a failed request', async () => {
    const old = [await backend('a0'), await backend('a1'), await backend('a2')];
    const live = [...old];
    const r = await rig(mode, live.map((b) => b.port));
    const reloads = r.agent.status().reloads;
    const load = new KeepAliveLoad(r.nginx.url(), { concurrency: 4, maxMs: 60_000 });
    cleanup.push(() => load.stop());
    await waitFor(() => load.replies.length >= 50);

    for (let i = 0; i < old.length; i++) {
      // A rolling update with maxSurge 1, maxUnavailable 0: the new Pod is ready first, then the old
      // one leaves the set, then it stops gracefully.
      const fresh = await backend(`b${i}`);
      live.push(fresh);
      let done = applied(r, mode);
      await r.save('web.yaml', poolYaml('web', live.map((b) => ({ port: b.port }))));
      await done();
      await waitFor(() => fresh.hits > 0);
      live.splice(live.indexOf(old[i]), 1);
      done = applied(r, mode);
      await r.save('web.yaml', poolYaml('web', live.map((b) => ({ port: b.port }))));
      await done();
      await old[i].drain();
    }
    const settled = load.replies.length;
    await waitFor(() => load.replies.length >= settled + 50);
    await load.stop();

    const servedAtEnd = new Set(load.replies.slice(-30).map((x) => x.body));
    expect(servedAtEnd).toEqual(new Set(['b0', 'b1', 'b2']));
    const reloadsDuringChurn = r.agent.status().reloads - reloads;
    figures[mode].rolling = `rolling replacement of 3 backends: ${load.replies.length} requests, ${load.failures.length} failed, ${load.retriedResets} reset (retried), ${reloadsDuringChurn} reloads`;
    // Plain mode's reloads close keep-alive connections: its counts are printed, not asserted.
    if (mode === 'dynamic') {
      expect(load.failures).toEqual([]);
      expect(load.retriedResets).toBe(0);
      expect(reloadsDuringChurn).toBe(0);
    } else {
      expect(reloadsDuringChurn).toBe(6);
    }
  }, 90_000);

  it('serves each manifest save: time from save to the new set, over 100 saves', async () => {
    const x = await backend('x');
    const y = await backend('y');
    const r = await rig(mode, [x.port]);
    const load = new KeepAliveLoad(r.nginx.url(), { concurrency: 1, maxMs: 150_000 });
    cleanup.push(() => load.stop());
    await waitFor(() => load.replies.length >= 5);

    const latencies: number[] = [];
    for (let k = 1; k <= 100; k++) {
      const target = k % 2 === 1 ? y : x;
      const t0 = performance.now();
      await r.save('web.yaml', poolYaml('web', [{ port: target.port }]));
      const first = await waitFor(() => load.replies.find((reply) => reply.at >= t0 && reply.body === target.name), 10_000);
      latencies.push(first.at - t0);
    }
    await load.stop();
    if (mode === 'dynamic') expect(load.failures).toEqual([]);
    const sorted = [...latencies].sort((a, b) => a - b);
    // The agent's share: from the store change to the reconcile done (set pushed, or reload signalled).
    const sync = (await r.running.app!.registry.getSingleMetric('ballast_sync_latency_seconds')!.get()).values;
    const total = (suffix: string) => (sync as Array<{ metricName?: string; value: number }>).filter((v) => v.metricName === `ballast_sync_latency_seconds_${suffix}`).reduce((a, v) => a + v.value, 0);
    figures[mode].propagation =
      `manifest save -> new set served over 100 saves: p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms ` +
      `(store change -> applied: mean ${((1000 * total('sum')) / total('count')).toFixed(1)} ms; ${load.failures.length} failed, ${load.retriedResets} reset)`;
  }, 180_000);
});
