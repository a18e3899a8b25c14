// The health of one backend as seen by one pool: passive (outlierDetection, NGINX max_fails /
// fail_timeout) and active (healthCheck thresholds). Pure state; the pool decides what follows.

export interface OutlierSettings {
  /** Failures within failTimeoutMs that eject the backend; 0 disables ejection. */
  maxFails: number;
  failTimeoutMs: number;
}

export interface ProbeThresholds {
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export class BackendHealth {
  #fails = 0;
  #windowStart = Number.NEGATIVE_INFINITY;
  /** Epoch ms until which the backend is ejected. */
  ejectedUntil = 0;
  /** Active health; a backend starts healthy, since discovery only lists ready endpoints. */
  healthy = true;
  /** Consecutive probe results: positive successes, negative failures. */
  #streak = 0;

  /**
   * Records a failed exchange at `now`; returns true when this failure ejects the backend:
   * `maxFails` failures within `failTimeoutMs` eject it for `failTimeoutMs`. As in NGINX, a backend
   * back from ejection is ejected again by its first failure, and any success clears the count.
   */
  failed(now: number, outlier: OutlierSettings): boolean {
    if (outlier.maxFails === 0 || now < this.ejectedUntil) return false;
    if (now - this.#windowStart > outlier.failTimeoutMs) {
      this.#fails = 0;
      this.#windowStart = now;
    }
    if (++this.#fails < outlier.maxFails) return false;
    this.ejectedUntil = now + outlier.failTimeoutMs;
    // One failure short, in a window that opens when the ejection ends: the next failure re-ejects.
    this.#fails = outlier.maxFails - 1;
    this.#windowStart = this.ejectedUntil;
    return true;
  }

  succeeded(): void {
    this.#fails = 0;
  }

  ejected(now: number): boolean {
    return now < this.ejectedUntil;
  }

  /** Records an active probe; returns true when `healthy` flipped. */
  probed(ok: boolean, thresholds: ProbeThresholds): boolean {
    this.#streak = ok ? Math.max(this.#streak, 0) + 1 : Math.min(this.#streak, 0) - 1;
    const flip = this.healthy ? this.#streak <= -thresholds.unhealthyThreshold : this.#streak >= thresholds.healthyThreshold;
    if (flip) this.healthy = !this.healthy;
    return flip;
  }

  /** Forgets active-health results (health checks were turned off). */
  resetProbes(): void {
    this.healthy = true;
    this.#streak = 0;
  }
}
