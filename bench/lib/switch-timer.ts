// Measures "change → first request served by the new backend": after `change()` runs, a tight loop of
// keep-alive GETs against the listener until a response names the new backend's port.
import http from 'node:http';
import { percentile } from './table.js';

function body(agent: http.Agent, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: 2000 }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (b += c));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export interface SwitchStats {
  samplesMs: number[];
  failures: number;
  /** Requests sent while polling, all changes together. */
  polls: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export function stats(samplesMs: number[], failures = 0, polls = 0): SwitchStats {
  return {
    samplesMs,
    failures,
    polls,
    p50Ms: percentile(samplesMs, 50),
    p90Ms: percentile(samplesMs, 90),
    p99Ms: percentile(samplesMs, 99),
    maxMs: samplesMs.length ? Math.max(...samplesMs) : NaN,
    meanMs: samplesMs.reduce((a, b) => a + b, 0) / (samplesMs.length || 1),
  };
}

/**
 * Alternates the listener between backend ports `a` and `b` `changes` times. `change(port)` makes
 * the change (a file rename, an API write); the clock starts just before it is called.
 */
export async function measureSwitches(opts: {
  listenerUrl: string;
  ports: [number, number];
  changes: number;
  change: (port: number) => Promise<void> | void;
  timeoutMs?: number;
  gapMs?: number;
  log?: (line: string) => void;
}): Promise<SwitchStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  let failures = 0;
  let polls = 0;
  const timeoutMs = opts.timeoutMs ?? 5000;
  for (let i = 0; i < opts.changes; i++) {
    const port = opts.ports[(i + 1) % 2];
    const needle = `port ${port}\n`;
    const t0 = performance.now();
    await opts.change(port);
    let done = false;
    while (!done) {
      let text = '';
      try {
        text = await body(agent, opts.listenerUrl);
      } catch {
        // a refused or reset request counts as "not yet"; Ballast should never cause one here
      }
      polls++;
      const t = performance.now() - t0;
      if (text.startsWith('200 ') && text.endsWith(needle)) {
        samples.push(t);
        done = true;
      } else if (t > timeoutMs) {
        failures++;
        opts.log?.(`  change ${i + 1}: port ${port} not served after ${timeoutMs} ms (last: ${text.slice(0, 80)})`);
        done = true;
      }
    }
    if ((i + 1) % 25 === 0) opts.log?.(`  ${i + 1}/${opts.changes} changes, p50 so far ${percentile(samples, 50).toFixed(1)} ms`);
    // A short random gap, so changes do not fall into a rhythm with the watcher or the queue.
    await new Promise((r) => setTimeout(r, (opts.gapMs ?? 30) + Math.random() * 30));
  }
  agent.destroy();
  return stats(samples, failures, polls);
}
