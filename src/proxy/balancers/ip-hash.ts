import type { BalancedBackend, Balancer, PickContext } from './balancer.js';

/** Ring points per unit of weight, as NGINX `hash ... consistent` (ketama) uses. */
const POINTS_PER_WEIGHT = 160;

/**
 * Client-address affinity by consistent hashing: each backend owns `160 × weight` points on a 32-bit
 * ring and a client goes to the owner of the first point at or after the hash of its address. When a
 * backend joins or leaves, only the clients whose arc it owns (or takes) move; everyone else stays.
 * A retry walks on along the ring to the next backend not yet tried.
 */
export class IPHash<B extends BalancedBackend> implements Balancer<B> {
  readonly #backends: readonly B[];
  /** Sorted point hashes, and for each point the index of its backend. */
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;

  constructor(backends: readonly B[]) {
    this.#backends = backends;
    const ring: Array<{ hash: number; owner: number }> = [];
    backends.forEach((b, owner) => {
      // Points are keyed by address:port, not by list index, so they do not move when others change.
      const id = `${b.address}:${b.port}`;
      for (let p = 0; p < POINTS_PER_WEIGHT * b.weight; p++) ring.push({ hash: hash32(`${id}-${p}`), owner });
    });
    ring.sort((a, b) => a.hash - b.hash || a.owner - b.owner);
    this.#points = Uint32Array.from(ring, (r) => r.hash);
    this.#owners = Uint32Array.from(ring, (r) => r.owner);
  }

  pick(ctx: PickContext<B>): B | undefined {
    const points = this.#points;
    const n = points.length;
    if (n === 0) return undefined;
    const h = hash32(ctx.clientAddress);
    // First point with hash >= h (wrapping to 0).
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    const tried = ctx.tried;
    for (let k = 0; k < n; k++) {
      const b = this.#backends[this.#owners[(lo + k) % n]];
      if (!tried?.has(b)) return b;
    }
    return undefined;
  }
}

/** FNV-1a with murmur3's finaliser: cheap, and avalanches well enough for similar inputs (IPs). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
