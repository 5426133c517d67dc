import type { Attributes, Meter } from '@opentelemetry/api';
import { declareInstruments, type Instruments } from '../core/metrics.js';
import { type GPUOptimizerStats, gpuInstruments, RecentRate, RecentSamples } from './gpu-stats.js';

type Rejection = keyof GPUOptimizerStats['rejected'];
type Outcome = 'completed' | 'failed' | Rejection;

/** The counters and windows of `stats()`, and the synchronous OTel instruments beside them. */
export type RecordedStats = Pick<
  GPUOptimizerStats,
  | 'completed'
  | 'failed'
  | 'rejected'
  | 'batches'
  | 'avgBatchSize'
  | 'batchSizes'
  | 'queueMs'
  | 'executionMs'
  | 'throughputPerS'
  | 'restarts'
  | 'swaps'
>;

/**
 * Records what a GPUOptimizer does: one place for counters, latency windows and metrics. The
 * attribute object of each outcome is built once, so recording allocates nothing per request.
 */
export class GpuRecorder {
  readonly #metrics: Instruments<typeof gpuInstruments>;
  readonly #attributes: Attributes;
  readonly #outcomes = new Map<Outcome, Attributes>();
  readonly #queueMs = new RecentSamples();
  readonly #executionMs = new RecentSamples();
  readonly #rate = new RecentRate();
  readonly #batchSizes: Record<number, number> = {};
  readonly #counts = { completed: 0, failed: 0, batches: 0, items: 0, restarts: 0, swaps: 0 };
  readonly #rejected: Record<Rejection, number> = {
    queueFull: 0,
    deadline: 0,
    aborted: 0,
    invalid: 0,
    closed: 0,
  };

  constructor(meter: Meter, attributes: Attributes) {
    this.#metrics = declareInstruments(meter, gpuInstruments);
    this.#attributes = attributes;
  }

  /** A request left the queue after `waitMs`. */
  dispatched(waitMs: number): void {
    this.#queueMs.add(waitMs);
    this.#metrics.queueTime.record(waitMs, this.#attributes);
  }

  completed(): void {
    this.#counts.completed++;
    this.#count('completed');
  }

  failed(): void {
    this.#counts.failed++;
    this.#count('failed');
  }

  rejected(reason: Rejection): void {
    this.#rejected[reason]++;
    this.#count(reason);
  }

  /** A batch of `size` ran for `executionMs` and finished at `now`. */
  batch(size: number, executionMs: number, now: number): void {
    this.#counts.batches++;
    this.#counts.items += size;
    this.#batchSizes[size] = (this.#batchSizes[size] ?? 0) + 1;
    this.#executionMs.add(executionMs);
    this.#rate.add(now, size);
    this.#metrics.executionTime.record(executionMs, this.#attributes);
    this.#metrics.batchSize.record(size, this.#attributes);
  }

  restarted(): void {
    this.#counts.restarts++;
  }

  swapped(): void {
    this.#counts.swaps++;
  }

  snapshot(): RecordedStats {
    const { batches, items } = this.#counts;
    return {
      completed: this.#counts.completed,
      failed: this.#counts.failed,
      rejected: { ...this.#rejected },
      batches,
      avgBatchSize: batches === 0 ? 0 : items / batches,
      batchSizes: { ...this.#batchSizes },
      queueMs: this.#queueMs.summary(),
      executionMs: this.#executionMs.summary(),
      throughputPerS: this.#rate.perSecond(),
      restarts: this.#counts.restarts,
      swaps: this.#counts.swaps,
    };
  }

  #count(outcome: Outcome): void {
    let attributes = this.#outcomes.get(outcome);
    if (!attributes) {
      attributes = Object.freeze({ ...this.#attributes, outcome });
      this.#outcomes.set(outcome, attributes);
    }
    this.#metrics.requests.add(1, attributes);
  }
}
