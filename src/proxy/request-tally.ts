// What the dashboard reads about a backend's or a pool's traffic: cumulative counts and a fixed
// latency histogram, bumped once per finished request. Kept apart from the Prometheus series and free
// of allocation: the request path pays a few increments, and the admin side samples the counts (once
// a second) to turn them into rates and quantiles.

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
  /** Finished requests and upgrades. */
  requests = 0;
  /** Of which answered 5xx, the proxy's own 502/503/504 included. */
  errors = 0;
  /** Failed exchanges with a backend (connect failure, reset, timeout), retried elsewhere or not. */
  failures = 0;
  /** Requests by latency bucket (LATENCY_BOUNDS_MS, then one above). */
  readonly latency = new Float64Array(LATENCY_BOUNDS_MS.length + 1);

  record(code: number, seconds: number): void {
    this.requests++;
    if (code >= 500) this.errors++;
    this.latency[bucketOf(seconds)]++;
  }

  /** Sets the counts to the sum of `parts` (the proxy workers' tallies, sent over IPC as JSON). */
  setSum(parts: readonly TallyCounts[]): void {
    this.requests = this.errors = this.failures = 0;
    this.latency.fill(0);
    for (const p of parts) {
      this.requests += p.requests;
      this.errors += p.errors;
      this.failures += p.failures;
      for (let i = 0; i < this.latency.length; i++) this.latency[i] += p.latency[i] ?? 0;
    }
  }

  toJSON(): TallyCounts {
    return { requests: this.requests, errors: this.errors, failures: this.failures, latency: [...this.latency] };
  }
}

/** A RequestTally as plain data. */
export interface TallyCounts {
  requests: number;
  errors: number;
  failures: number;
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
