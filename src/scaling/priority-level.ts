import type { Priority } from './priority-options.js';
import type { Task } from './priority-task.js';

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

/**
 * One level of a scheduler: its FIFO waiting list (tasks not yet handed to p-queue), its limit,
 * how many of its tasks p-queue holds (queued there or running), and its counters.
 */
export class PriorityLevel {
  readonly waiting: Task[] = [];
  readonly counters: LevelCounters;
  /** Tasks of this level handed to p-queue whose attempt has not ended. */
  admitted = 0;

  constructor(
    readonly limit: number,
    statsWindow: number,
  ) {
    this.counters = new LevelCounters(statsWindow);
  }

  /** The next waiting task when the level has room for it, else undefined. */
  takeAdmissible(): Task | undefined {
    if (this.admitted >= this.limit) return undefined;
    const task = this.waiting.shift();
    if (task) this.admitted++;
    return task;
  }

  /** Counts a handed-over task as running, after waiting `waitedMs`. */
  started(waitedMs: number): void {
    this.counters.queued--;
    this.counters.running++;
    this.counters.recordWait(waitedMs);
  }

  /** Gives back the slot of an attempt that ran or was still queued in p-queue. */
  release(wasRunning: boolean): void {
    if (wasRunning) this.counters.running--;
    else this.counters.queued--;
    this.admitted--;
  }

  /** Takes a cancelled task out of the waiting list. */
  removeWaiting(task: Task): void {
    const index = this.waiting.indexOf(task);
    if (index >= 0) this.waiting.splice(index, 1);
    this.counters.queued--;
  }
}
