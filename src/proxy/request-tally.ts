// What the proxy counts about a backend's or a pool's traffic, and the only place the request path
// counts it: cumulative counts and a fixed latency histogram, bumped once per finished request, free
// of allocation once a status code has been seen. The admin side samples them (once a second) into
// the dashboard's rates and quantiles, and /metrics reads its counts from them when scraped
// (proxy-metrics.ts).
import { FAILURE_KINDS, type FailureKind } from './failure.js';

/** Upper bounds of the latency buckets in ms: 0.25 ms doubling to 65.5 s; one more bucket above. */
export const LATENCY_BOUNDS_MS: readonly number[] = Array.from({ length: 19 }, (_, i) => 0.25 * 2 ** i);

/** The bucket of a duration: the first whose upper bound is at least `seconds`. */
function bucketOf(seconds: number): number {
  const ms = seconds * 1000;
  if (!(ms > 0.25)) return 0;
  const i = Math.ceil(Math.log2(ms * 4));
  return i < LATENCY_BOUNDS_MS.length ? i : LATENCY_BOUNDS_MS.length;
}

export class RequestTally {
  /** Status codes answered, in order of first sight (a handful per backend)... */
  readonly codes: number[] = [];
  /** ...and how many responses had each. */
  readonly counts: number[] = [];
  /** Failed exchanges with a backend (connect failure, reset, timeout), retried elsewhere or not, by kind. */
  readonly failedByKind = Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<FailureKind, number>;
  /** Requests by latency bucket (LATENCY_BOUNDS_MS, then one above). */
  readonly latency = new Float64Array(LATENCY_BOUNDS_MS.length + 1);

  record(code: number, seconds: number): void {
    this.#add(code, 1);
    this.latency[bucketOf(seconds)]++;
  }

  recordFailure(kind: FailureKind): void {
    this.failedByKind[kind]++;
  }

  #add(code: number, n: number): void {
    let i = this.codes.indexOf(code);
    if (i < 0) {
      i = this.codes.push(code) - 1;
      this.counts.push(0);
    }
    this.counts[i] += n;
  }

  /** Finished requests and upgrades. */
  get requests(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /** Of which answered 5xx, the proxy's own 502/503/504 included. */
  get errors(): number {
    let n = 0;
    for (let i = 0; i < this.codes.length; i++) if (this.codes[i] >= 500) n += this.counts[i];
    return n;
  }

  /** Failed exchanges, of every kind. */
  get failures(): number {
    let n = 0;
    for (const k of FAILURE_KINDS) n += this.failedByKind[k];
    return n;
  }

  /** Sets the counts to the sum of `parts` (the proxy workers' tallies, sent over IPC as JSON). */
  setSum(parts: readonly TallyCounts[]): void {
    this.codes.length = this.counts.length = 0;
    for (const k of FAILURE_KINDS) this.failedByKind[k] = 0;
    this.latency.fill(0);
    for (const p of parts) {
      for (let i = 0; i < p.codes.length; i++) this.#add(p.codes[i], p.counts[i]);
      for (const k of FAILURE_KINDS) this.failedByKind[k] += p.failedByKind[k] ?? 0;
      for (let i = 0; i < this.latency.length; i++) this.latency[i] += p.latency[i] ?? 0;
    }
  }

  toJSON(): TallyCounts {
    return { codes: [...this.codes], counts: [...this.counts], failedByKind: { ...this.failedByKind }, latency: [...this.latency] };
  }
}

/** A RequestTally as plain data. */
export interface TallyCounts {
  codes: readonly number[];
  /** Responses by status code, at the same index as `codes`. */
  counts: readonly number[];
  failedByKind: Readonly<Record<FailureKind, number>>;
  latency: readonly number[];
}

/**
 * The `q` quantile (0..1) in ms of a latency histogram laid out as RequestTally's; undefined when it
 * is empty. Interpolated geometrically inside the bucket, as the buckets are.
 */
export function latencyQuantile(counts: ArrayLike<number>, q: number): number | undefined {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total <= 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (n <= 0) continue;
    if (seen + n >= rank) {
      if (i === LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[i - 1];
      const upper = LATENCY_BOUNDS_MS[i];
      const lower = i === 0 ? upper / 2 : LATENCY_BOUNDS_MS[i - 1];
      return lower * (upper / lower) ** ((rank - seen) / n);
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}
