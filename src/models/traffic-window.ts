/**
 * What live traffic did on each arm of a rollout (the champion and the candidate) since the last
 * look: the window canary analysis measures. Latencies are kept as samples for the window only,
 * so percentiles are exact and memory is bounded by one interval's requests.
 */

/** One arm's traffic over a window. */
export interface ArmStats {
  readonly requests: number;
  readonly errors: number;
  /** `errors / requests`; undefined without requests. */
  readonly errorRate: number | undefined;
  /** Latency percentiles in ms of the requests that succeeded; undefined without any. */
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** Both arms over the same window. */
export interface TrafficWindow {
  readonly champion: ArmStats;
  readonly candidate: ArmStats;
  /** The window's length in ms. */
  readonly durationMs: number;
}

export type Arm = keyof Omit<TrafficWindow, 'durationMs'>;

/** Most latency samples one arm keeps per window; beyond it, reservoir sampling. */
const MAX_SAMPLES = 100_000;

class ArmRecorder {
  requests = 0;
  errors = 0;
  latencies: number[] = [];
  #seen = 0;

  record(ok: boolean, latencyMs: number) {
    this.requests++;
    if (!ok) {
      this.errors++;
      return;
    }
    this.#seen++;
    if (this.latencies.length < MAX_SAMPLES) this.latencies.push(latencyMs);
    else {
      const slot = Math.floor(Math.random() * this.#seen);
      if (slot < MAX_SAMPLES) this.latencies[slot] = latencyMs;
    }
  }

  take(): ArmStats {
    const sorted = this.latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length === 0
        ? undefined
        : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const stats: ArmStats = {
      requests: this.requests,
      errors: this.errors,
      errorRate: this.requests === 0 ? undefined : this.errors / this.requests,
      p50Ms: at(0.5),
      p95Ms: at(0.95),
      p99Ms: at(0.99),
    };
    this.requests = 0;
    this.errors = 0;
    this.latencies = [];
    this.#seen = 0;
    return stats;
  }
}

/** Records requests per arm and hands out windows. */
export class TrafficRecorder {
  readonly #arms = { champion: new ArmRecorder(), candidate: new ArmRecorder() };
  #since: number;
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
    this.#since = now();
  }

  record(arm: Arm, ok: boolean, latencyMs: number): void {
    this.#arms[arm].record(ok, latencyMs);
  }

  /** The window since the previous call (or construction), and a new one begins. */
  take(): TrafficWindow {
    const now = this.#now();
    const window: TrafficWindow = {
      champion: this.#arms.champion.take(),
      candidate: this.#arms.candidate.take(),
      durationMs: now - this.#since,
    };
    this.#since = now;
    return window;
  }
}
