/**
 * Latency statistics shared by {@link PerformanceMonitor} and {@link runBenchmark}: exact
 * nearest-rank percentiles over a set of durations. The monitor keeps a bounded ring of the most
 * recent samples per operation, so its percentiles describe recent traffic and cost a sort of at
 * most `latencyWindow` numbers per operation per snapshot, never a walk over all history.
 */

/** Average, percentiles and extremes of a set of durations, in milliseconds. */
export interface LatencySummary {
  readonly avgMs: number;
  /** Median (nearest rank). */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** What {@link PerformanceMonitor} knows about one named operation. */
export interface OperationStats extends LatencySummary {
  /** Calls recorded since the monitor was created. */
  readonly count: number;
  /** Of `count`, the calls that failed. */
  readonly errors: number;
  /** How many of the most recent calls the latency figures and `errorRate` cover. */
  readonly windowCount: number;
  /** Failed fraction of the calls in the window, 0–1. */
  readonly errorRate: number;
}

/**
 * The nearest-rank percentile of ascending `sorted`: the smallest sample such that at least
 * `fraction` of the samples are less than or equal to it. 0 for an empty set.
 */
export function percentileOfSorted(sorted: ArrayLike<number>, fraction: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = Math.min(n, Math.max(1, Math.ceil(fraction * n)));
  return sorted[rank - 1] as number;
}

/** Sorts `durations` in place and summarises them; all zeros for an empty set. */
export function summarizeDurations(durations: Float64Array): LatencySummary {
  const n = durations.length;
  if (n === 0) return { avgMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, minMs: 0, maxMs: 0 };
  durations.sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += durations[i] as number;
  return {
    avgMs: sum / n,
    p50Ms: percentileOfSorted(durations, 0.5),
    p95Ms: percentileOfSorted(durations, 0.95),
    p99Ms: percentileOfSorted(durations, 0.99),
    minMs: durations[0] as number,
    maxMs: durations[n - 1] as number,
  };
}

/**
 * The last `capacity` durations of one operation with their outcomes, in preallocated typed
 * arrays so recording allocates nothing, plus lifetime counts.
 */
export class LatencyWindow {
  readonly #durations: Float64Array;
  readonly #failed: Uint8Array;
  #next = 0;
  #size = 0;
  #windowErrors = 0;
  #count = 0;
  #errors = 0;

  constructor(capacity: number) {
    this.#durations = new Float64Array(capacity);
    this.#failed = new Uint8Array(capacity);
  }

  /** Adds one call; the oldest one leaves the window once it is full. */
  record(durationMs: number, ok: boolean): void {
    const slot = this.#next;
    if (this.#size === this.#durations.length) this.#windowErrors -= this.#failed[slot] as number;
    else this.#size++;
    this.#durations[slot] = durationMs;
    this.#failed[slot] = ok ? 0 : 1;
    this.#next = slot + 1 === this.#durations.length ? 0 : slot + 1;
    this.#count++;
    if (!ok) {
      this.#windowErrors++;
      this.#errors++;
    }
  }

  /** Lifetime counts and the window's latency figures. */
  stats(): OperationStats {
    const size = this.#size;
    return {
      count: this.#count,
      errors: this.#errors,
      windowCount: size,
      errorRate: size === 0 ? 0 : this.#windowErrors / size,
      ...summarizeDurations(this.#durations.slice(0, size)),
    };
  }
}
