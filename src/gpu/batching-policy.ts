/**
 * The batch rules a GPUOptimizer forms batches by: Triton's (largest batch, preferred sizes,
 * longest queue delay) as configured, or, with a latency target, as the {@link BatchTuner}
 * recommends from the arrival rate and the measured cost per batch.
 */
import { BatchTuner, type TunedPolicy } from './batch-tuner.js';
import type { BatchPolicy } from './request-queue.js';

export class BatchingPolicy {
  /** What an idle instance's next batch is formed by. */
  current: BatchPolicy;
  /** `current` restricted to full batches: what may join a busy instance's pipeline. */
  fullOnly: BatchPolicy;
  /** The tuner's last recommendation, if it has made one. */
  tuned: TunedPolicy | undefined;
  /** The configured preferred sizes, ascending; a tuned policy keeps those it allows. */
  readonly #preferred: readonly number[];
  readonly #tuner: BatchTuner | undefined;

  constructor(o: {
    maxBatchSize: number;
    preferredBatchSizes: readonly number[];
    maxQueueDelayMs: number;
    latencyTargetMs?: number | undefined;
  }) {
    this.#preferred = Object.freeze([...o.preferredBatchSizes].sort((a, b) => a - b));
    this.current = {
      maxBatchSize: o.maxBatchSize,
      preferredBatchSizes: this.#preferred,
      maxQueueDelayMs: o.maxQueueDelayMs,
    };
    this.fullOnly = fullBatchesOnly(this.current);
    if (o.latencyTargetMs !== undefined)
      this.#tuner = new BatchTuner(o.maxBatchSize, o.maxQueueDelayMs, o.latencyTargetMs);
  }

  /** A request arrived at `now` (ms): the tuner's arrival rate. */
  arrival(now: number): void {
    this.#tuner?.arrival(now);
  }

  /** A batch of `size` ran in `executionMs`: with a latency target, the rules may change. */
  batch(size: number, executionMs: number, now: number): void {
    const tuner = this.#tuner;
    if (!tuner) return;
    tuner.batch(size, executionMs);
    const tuned = tuner.recommend(now);
    if (!tuned) return;
    this.tuned = tuned;
    this.current = {
      maxBatchSize: tuned.batchSize,
      preferredBatchSizes: this.#preferred.filter((n) => n <= tuned.batchSize),
      maxQueueDelayMs: tuned.queueDelayMs,
    };
    this.fullOnly = fullBatchesOnly(this.current);
  }
}

function fullBatchesOnly(policy: BatchPolicy): BatchPolicy {
  return {
    maxBatchSize: policy.maxBatchSize,
    preferredBatchSizes: [],
    maxQueueDelayMs: Number.POSITIVE_INFINITY,
  };
}
