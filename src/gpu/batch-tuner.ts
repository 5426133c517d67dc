/**
 * Online batch-size tuning. Batch time is modelled as t(n) ≈ a·n + b from recent batches (least
 * squares), the arrival rate λ is measured, and the batch size is the one that maximises
 * throughput n / t(n) while a request's expected latency — the time to gather n requests,
 * (n − 1) / λ, plus t(n) — stays within the latency target. The queue delay is the slack left.
 */

/** The batching parameters the tuner recommends. */
export interface TunedPolicy {
  readonly batchSize: number;
  readonly queueDelayMs: number;
  /** Fitted ms per item. */
  readonly a: number;
  /** Fitted fixed ms per batch. */
  readonly b: number;
}

const WINDOW = 64;

export class BatchTuner {
  readonly #sizes = new Float64Array(WINDOW);
  readonly #times = new Float64Array(WINDOW);
  readonly #arrivals = new Float64Array(WINDOW);
  #samples = 0;
  #arrivalCount = 0;
  /** The last fit that had batches of two sizes to go on. */
  #lastFit: { a: number; b: number } | undefined;
  readonly #maxBatchSize: number;
  readonly #maxQueueDelayMs: number;
  readonly #latencyTargetMs: number;

  constructor(maxBatchSize: number, maxQueueDelayMs: number, latencyTargetMs: number) {
    this.#maxBatchSize = maxBatchSize;
    this.#maxQueueDelayMs = maxQueueDelayMs;
    this.#latencyTargetMs = latencyTargetMs;
  }

  /** Records when a request arrived (ms). */
  arrival(at: number): void {
    this.#arrivals[this.#arrivalCount % WINDOW] = at;
    this.#arrivalCount++;
  }

  /** Records a finished batch. */
  batch(size: number, executionMs: number): void {
    const i = this.#samples % WINDOW;
    this.#sizes[i] = size;
    this.#times[i] = executionMs;
    this.#samples++;
    this.#lastFit = this.#fitWindow() ?? this.#lastFit;
  }

  /** Requests per ms over the recent arrivals; 0 until there are two. */
  arrivalRate(now: number): number {
    const n = Math.min(this.#arrivalCount, WINDOW);
    if (n < 2) return 0;
    const oldest = this.#arrivals[(this.#arrivalCount - n) % WINDOW] as number;
    const span = now - oldest;
    return span > 0 ? (n - 1) / span : 0;
  }

  /**
   * The fitted t(n) = a·n + b, or undefined until batches of two different sizes were seen.
   * Once the tuner caps the batch size, recent batches may all have one size; the last fit
   * made from two sizes is kept then, so the tuner can still grow batches when load rises.
   */
  fit(): { a: number; b: number } | undefined {
    return this.#lastFit;
  }

  #fitWindow(): { a: number; b: number } | undefined {
    const n = Math.min(this.#samples, WINDOW);
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      const x = this.#sizes[i] as number;
      const y = this.#times[i] as number;
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    const denominator = n * sxx - sx * sx;
    if (n < 2 || denominator <= 1e-9) return undefined;
    const a = Math.max(0, (n * sxy - sx * sy) / denominator);
    const b = Math.max(0, (sy - a * sx) / n);
    return { a, b };
  }

  /** The recommended batch size and queue delay now, or undefined while there is too little data. */
  recommend(now: number): TunedPolicy | undefined {
    const model = this.fit();
    if (!model) return undefined;
    const { a, b } = model;
    const rate = this.arrivalRate(now);
    let best = 1;
    let bestThroughput = 0;
    for (let n = 1; n <= this.#maxBatchSize; n++) {
      const time = a * n + b;
      const gather = rate > 0 ? (n - 1) / rate : Number.POSITIVE_INFINITY;
      if (n > 1 && gather + time > this.#latencyTargetMs) break;
      const throughput = time > 0 ? n / time : Number.POSITIVE_INFINITY;
      if (throughput > bestThroughput) {
        bestThroughput = throughput;
        best = n;
      }
    }
    // Waiting only pays when more requests are expected within the slack.
    const slack = this.#latencyTargetMs - (a * best + b);
    const gather = rate > 0 ? (best - 1) / rate : 0;
    const queueDelayMs =
      best === 1 ? 0 : Math.max(0, Math.min(this.#maxQueueDelayMs, slack, gather));
    return { batchSize: best, queueDelayMs, a, b };
  }
}
