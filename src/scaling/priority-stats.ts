import type { Priority } from './priority-options.js';

/** Counts for one level of a {@link PriorityScheduler}, by each task's own level. */
export interface PriorityLevelStats {
  /** Tasks waiting to start: for a level slot, or for a slot overall. */
  readonly queued: number;
  /** Attempts running now. */
  readonly running: number;
  /** Tasks waiting out a retry backoff, holding no slot. */
  readonly backingOff: number;
  /** Tasks that resolved. */
  readonly completed: number;
  /** Tasks that rejected after their last attempt, including timeouts; not cancellations. */
  readonly failed: number;
  /** Tasks cancelled through their signal or by `close({ drain: false })`. */
  readonly cancelled: number;
  /** Retry attempts started after a failure. */
  readonly retried: number;
  /** Attempts that hit their time limit. */
  readonly timedOut: number;
  /** Ageing steps taken by waiting tasks of this level (one task may age several times). */
  readonly aged: number;
  /** Median wait from entering the level to starting, in ms, over the recent window; 0 when none. */
  readonly waitP50Ms: number;
  /** 95th-percentile wait, in ms, over the recent window; 0 when none. */
  readonly waitP95Ms: number;
}

/** A snapshot of {@link PriorityScheduler.stats}: one entry per level. */
export type PrioritySchedulerStats = { readonly [P in Priority]: PriorityLevelStats };

/**
 * The live counters of one level. Wait times go into a preallocated ring so recording is
 * O(1); percentiles are computed only when `stats()` asks.
 */
export class LevelCounters {
  queued = 0;
  running = 0;
  backingOff = 0;
  completed = 0;
  failed = 0;
  cancelled = 0;
  retried = 0;
  timedOut = 0;
  aged = 0;
  readonly #waits: Float64Array;
  #recorded = 0;

  constructor(window: number) {
    this.#waits = new Float64Array(window);
  }

  /** Remembers one wait, in ms, dropping the oldest once the window is full. */
  recordWait(ms: number): void {
    this.#waits[this.#recorded % this.#waits.length] = ms;
    this.#recorded++;
  }

  snapshot(): PriorityLevelStats {
    const waits = this.#waits.slice(0, Math.min(this.#recorded, this.#waits.length)).sort();
    return {
      queued: this.queued,
      running: this.running,
      backingOff: this.backingOff,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      retried: this.retried,
      timedOut: this.timedOut,
      aged: this.aged,
      waitP50Ms: nearestRank(waits, 0.5),
      waitP95Ms: nearestRank(waits, 0.95),
    };
  }
}

/** The nearest-rank percentile of sorted `values`: the smallest value with `q` of them at or below. */
function nearestRank(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}
