// A constant-rate (open-loop) HTTP/1.1 load generator, wrk2's model: request k is due at
// start + k / rate whatever happened to the requests before it, and its latency is measured from
// that due time. A server that stalls is charged for every request it held up, including the ones
// that could not even be sent meanwhile (no coordinated omission, which a closed-loop tool like wrk
// has: it stops sending while the server stalls, so the stall hides from its percentiles).
// Requests go out on `connections` keep-alive connections, one in flight on each; a due request
// waits for a free connection, and that wait is part of its latency. Debian 12 has no wrk2, and
// npm's autocannon rate-limits with a per-second budget per connection, sending each request after
// the previous response on it (a closed loop), hence this file.
//
// As a child process (so it can be pinned next to wrk and be measured alike):
//   node --import tsx bench/lib/constant-rate.ts --url URL --rate N --duration S [--warmup S] [--connections C]
// prints one JSON line, a ConstantRateResult.
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT } from './ballast.js';
import { run } from './proc.js';

export interface ConstantRateOptions {
  url: string;
  /** Requests per second, spread evenly. */
  rate: number;
  durationS: number;
  /** Run at the same rate this long first; those requests are not counted. */
  warmupS: number;
  connections: number;
  cpu?: number;
}

export interface ConstantRateResult {
  rate: number;
  /** Requests due in the measured window. */
  scheduled: number;
  /** Of those, answered with a complete 2xx/3xx response. */
  completed: number;
  /** Non-2xx/3xx answers, and requests lost to a socket error. */
  errors: number;
  /** Due but never answered (still queued or in flight when the run ended, a grace period after the last was due). */
  unfinished: number;
  achievedRps: number;
  /** Latency from the due time; unanswered requests count as infinitely late. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Send time − due time at p50 and p99: the generator's own lateness (and queueing behind busy connections), already inside the latencies. */
  sendLagP50Ms: number;
  sendLagP99Ms: number;
}

/** The ticker thread: sleeps until the due time the main thread set, posts, waits for the next one. */
const TICKER = `
const { parentPort, workerData } = require('node:worker_threads');
const seq = new Int32Array(workerData, 0, 2);
const dueAt = new Float64Array(workerData, 8, 1);
for (;;) {
  const s = Atomics.load(seq, 0);
  if (Atomics.load(seq, 1)) break;
  const wait = dueAt[0] - (performance.timeOrigin + performance.now());
  if (wait > 0) {
    Atomics.wait(seq, 0, s, wait === Infinity ? undefined : wait);
    continue;
  }
  parentPort.postMessage(0);
  Atomics.wait(seq, 0, s); // until the main thread has pumped and set the next due time
}
`;

/** Where one HTTP/1.1 response ends in `buf`: the index after it, or -1 when it is not complete yet. */
export function responseEnd(buf: Buffer): { end: number; status: number; close: boolean } | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const status = Number(buf.toString('latin1', 9, 12));
  const head = buf.toString('latin1', 0, headEnd).toLowerCase();
  const close = /\r\nconnection:[^\r]*close/.test(head);
  const bodyStart = headEnd + 4;
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { end: bodyStart, status, close };
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length) {
    const end = bodyStart + Number(length[1]);
    return end <= buf.length ? { end, status, close } : undefined;
  }
  if (!/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) throw new Error(`response without Content-Length or chunked encoding: ${head.split('\r\n')[0]}`);
  let i = bodyStart;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', i);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buf.toString('latin1', i, lineEnd).split(';')[0], 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size line');
    if (size === 0) {
      // Trailer fields, then an empty line.
      let j = lineEnd + 2;
      for (;;) {
        const e = buf.indexOf('\r\n', j);
        if (e < 0) return undefined;
        if (e === j) return { end: j + 2, status, close };
        j = e + 2;
      }
    }
    i = lineEnd + 2 + size + 2;
    if (i > buf.length) return undefined;
  }
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface Conn {
  socket: net.Socket;
  /** Index of the request in flight, -1 when idle. */
  k: number;
  buf?: Buffer;
}

/** Runs the schedule in this process. */
export function generate(o: Omit<ConstantRateOptions, 'cpu'>, graceMs = 2000): Promise<ConstantRateResult> {
  const u = new URL(o.url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 80);
  const request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`, 'latin1');
  const period = 1000 / o.rate;
  const skip = Math.round(o.warmupS * o.rate);
  const total = skip + Math.round(o.durationS * o.rate);
  const n = total - skip;
  const latency = new Float64Array(n).fill(Infinity);
  const lag = new Float64Array(n).fill(Infinity);
  let errors = 0;
  let lost = 0;
  let completed = 0;
  let next = 0; // the next request to fall due
  const queue: number[] = [];
  let qHead = 0;
  const idle: Conn[] = [];
  let inFlight = 0;
  let t0 = 0;
  let done: (r: ConstantRateResult) => void = () => {};
  let failed: (e: Error) => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  let finished = false;

  const due = (k: number) => t0 + k * period;

  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    Atomics.store(seq, 1, 1);
    Atomics.add(seq, 0, 1);
    Atomics.notify(seq, 0);
    void ticker.terminate();
    for (const c of all) c.socket.destroy();
    const sorted = Float64Array.from(latency).sort();
    const lagSorted = Float64Array.from(lag.filter(Number.isFinite)).sort();
    let unfinished = 0;
    for (let i = 0; i < n; i++) if (latency[i] === Infinity) unfinished++;
    done({
      rate: o.rate,
      scheduled: n,
      completed,
      errors: errors + lost,
      unfinished: unfinished - lost,
      achievedRps: completed / o.durationS,
      p50Ms: pct(sorted, 50),
      p90Ms: pct(sorted, 90),
      p99Ms: pct(sorted, 99),
      p999Ms: pct(sorted, 99.9),
      maxMs: sorted[sorted.length - 1],
      sendLagP50Ms: pct(lagSorted, 50),
      sendLagP99Ms: pct(lagSorted, 99),
    });
  };

  const send = (c: Conn, k: number) => {
    c.k = k;
    inFlight++;
    if (k >= skip) lag[k - skip] = performance.now() - due(k);
    c.socket.write(request);
  };

  // Wake up when the next request falls due. Node's timers have 1 ms granularity, far coarser than
  // the gaps between requests (0.1 ms at 10k req/s), and spinning on setImmediate would take the
  // core from the backend beside it. So a ticker thread sleeps until the due time (Atomics.wait
  // takes fractional milliseconds) and then posts a message, which wakes this event loop; every
  // pump() tells it the next due time. Responses wake the loop too, and pump() on each.
  const shared = new SharedArrayBuffer(16);
  const seq = new Int32Array(shared, 0, 2); // [0]: bumped on every new due time; [1]: stop
  const dueAt = new Float64Array(shared, 8, 1); // absolute (timeOrigin-based) ms
  const ticker = new Worker(TICKER, { eval: true, workerData: shared });
  ticker.on('message', () => pump());
  const arm = () => {
    if (finished) return;
    if (next >= total) {
      if (inFlight === 0 && qHead === queue.length) finish();
      else if (!timer) timer = setTimeout(finish, Math.max(0, due(total) + graceMs - performance.now()));
      dueAt[0] = Infinity;
    } else dueAt[0] = performance.timeOrigin + due(next);
    Atomics.add(seq, 0, 1);
    Atomics.notify(seq, 0);
  };

  function pump() {
    const now = performance.now();
    while (next < total && due(next) <= now) queue.push(next++);
    while (qHead < queue.length && idle.length > 0) send(idle.pop()!, queue[qHead++]);
    if (qHead > 4096 && qHead === queue.length) {
      queue.length = 0;
      qHead = 0;
    }
    arm();
  }

  const all = new Set<Conn>();
  const connect = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.setNoDelay(true);
      const c: Conn = { socket, k: -1 };
      all.add(c);
      socket.once('connect', () => {
        idle.push(c);
        resolve();
        if (t0) pump();
      });
      socket.on('data', (chunk: Buffer) => {
        c.buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
        let r: ReturnType<typeof responseEnd>;
        try {
          r = responseEnd(c.buf);
        } catch (err) {
          failed(err as Error);
          return;
        }
        if (!r || c.k < 0) return;
        const k = c.k;
        if (k >= skip) {
          latency[k - skip] = performance.now() - due(k);
          if (r.status >= 200 && r.status < 400) completed++;
          else errors++;
        }
        c.k = -1;
        c.buf = undefined;
        inFlight--;
        if (r.close) socket.destroy();
        else idle.push(c);
        pump();
      });
      const gone = () => {
        if (!all.delete(c)) return;
        const i = idle.indexOf(c);
        if (i >= 0) idle.splice(i, 1);
        if (c.k >= 0) {
          if (c.k >= skip) lost++;
          inFlight--;
        }
        if (!t0) reject(new Error(`cannot connect to ${o.url}`));
        else if (!finished) void connect().catch(() => {});
      };
      socket.on('error', gone);
      socket.on('close', gone);
    });

  return new Promise((resolve, reject) => {
    done = resolve;
    failed = (e) => {
      finished = true;
      void ticker.terminate();
      for (const c of all) c.socket.destroy();
      reject(e);
    };
    Promise.all(Array.from({ length: o.connections }, connect)).then(() => {
      t0 = performance.now();
      pump();
    }, failed);
  });
}

const SELF = fileURLToPath(import.meta.url);

/** Runs the generator as a child process (pinned to `cpu`), so that its CPU is accounted like wrk's. */
export async function constantRate(o: ConstantRateOptions): Promise<ConstantRateResult> {
  const args = ['--import', 'tsx', SELF, '--url', o.url, '--rate', String(o.rate), '--duration', String(o.durationS), '--warmup', String(o.warmupS), '--connections', String(o.connections)];
  const r = await run(process.execPath, args, { cpu: o.cpu, cwd: ROOT, timeoutMs: (o.durationS + o.warmupS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`constant-rate generator exited ${r.code}: ${r.stderr}${r.stdout}`);
  // JSON has no Infinity (an unanswered request's latency): it comes back as null.
  return JSON.parse(r.stdout.trim().split('\n').pop()!, (_k, v: unknown) => (v === null ? Infinity : v)) as ConstantRateResult;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '32' },
    },
  });
  if (!values.url || !values.rate) {
    console.error('usage: constant-rate.ts --url URL --rate N [--duration S] [--warmup S] [--connections C]');
    process.exit(2);
  }
  generate({ url: values.url, rate: Number(values.rate), durationS: Number(values.duration), warmupS: Number(values.warmup), connections: Number(values.connections) }).then(
    (r) => console.log(JSON.stringify(r)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
