import type { InstrumentSpec, ObservedSpec } from '../core/metrics.js';
import type { TunedPolicy } from './batch-tuner.js';

/** Percentiles of a recent window of samples, in ms. */
export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly avg: number;
}

/** `stats()` of a {@link GPUOptimizer}. Latencies cover the most recent 1024 requests. */
export interface GPUOptimizerStats {
  /** Label of the runtime serving new batches. */
  readonly runtime: string;
  /** Execution provider in use (`'cpu'`, `'cuda'`, ...), once loaded. */
  readonly provider: string | undefined;
  readonly instances: number;
  readonly busyInstances: number;
  /** Requests waiting for a batch. */
  readonly queued: number;
  readonly completed: number;
  /** Requests that ran and failed (backend error, worker crash). */
  readonly failed: number;
  /** Requests refused or dropped before running, by reason. */
  readonly rejected: {
    readonly queueFull: number;
    readonly deadline: number;
    readonly aborted: number;
    readonly invalid: number;
    readonly closed: number;
  };
  readonly batches: number;
  readonly avgBatchSize: number;
  /** How many batches ran at each size. */
  readonly batchSizes: Readonly<Record<number, number>>;
  /** From submission to dispatch. */
  readonly queueMs: LatencySummary;
  /** Batch run time in the worker. */
  readonly executionMs: LatencySummary;
  /** Items per second over the recent batches. */
  readonly throughputPerS: number;
  readonly restarts: number;
  readonly swaps: number;
  /** What adaptive batching chose last (with `latencyTargetMs`): batch size, delay, fit. */
  readonly tuned: TunedPolicy | undefined;
}

/** A fixed window of the most recent samples. */
export class RecentSamples {
  readonly #values: Float64Array;
  #count = 0;

  constructor(size = 1024) {
    this.#values = new Float64Array(size);
  }

  add(value: number): void {
    this.#values[this.#count % this.#values.length] = value;
    this.#count++;
  }

  summary(): LatencySummary {
    const n = Math.min(this.#count, this.#values.length);
    if (n === 0) return { p50: 0, p95: 0, p99: 0, avg: 0 };
    const sorted = this.#values.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] as number;
    let sum = 0;
    for (const v of sorted) sum += v;
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), avg: sum / n };
  }
}

/** Items per second over the last `size` batches. */
export class RecentRate {
  readonly #times: Float64Array;
  readonly #items: Float64Array;
  #count = 0;

  constructor(size = 256) {
    this.#times = new Float64Array(size);
    this.#items = new Float64Array(size);
  }

  add(time: number, items: number): void {
    const i = this.#count % this.#times.length;
    this.#times[i] = time;
    this.#items[i] = items;
    this.#count++;
  }

  perSecond(): number {
    const n = Math.min(this.#count, this.#times.length);
    if (n < 2) return 0;
    const newest = (this.#count - 1) % this.#times.length;
    const oldest = (this.#count - n) % this.#times.length;
    const span = (this.#times[newest] as number) - (this.#times[oldest] as number);
    let items = 0;
    for (let k = 0; k < n; k++) if (k !== oldest) items += this.#items[k] as number;
    return span > 0 ? (items / span) * 1000 : 0;
  }
}

export const gpuInstruments = {
  queueTime: {
    kind: 'histogram',
    name: 'salama.gpu.queue_time',
    unit: 'ms',
    description: 'Time from submission to dispatch',
  },
  executionTime: {
    kind: 'histogram',
    name: 'salama.gpu.execution_time',
    unit: 'ms',
    description: 'Batch run time in the worker',
  },
  batchSize: {
    kind: 'histogram',
    name: 'salama.gpu.batch_size',
    unit: '{request}',
    description: 'Requests per batch',
  },
  requests: {
    kind: 'counter',
    name: 'salama.gpu.requests',
    unit: '{request}',
    description: 'Requests by outcome',
  },
} as const satisfies Record<string, InstrumentSpec>;

export const gpuObserved = {
  queued: {
    kind: 'gauge',
    name: 'salama.gpu.queue_length',
    unit: '{request}',
    description: 'Requests waiting',
  },
  busyInstances: {
    kind: 'gauge',
    name: 'salama.gpu.busy_instances',
    unit: '{instance}',
    description: 'Instances running a batch',
  },
  throughputPerS: {
    kind: 'gauge',
    name: 'salama.gpu.throughput',
    unit: '{request}/s',
    description: 'Recent items per second',
  },
} as const satisfies Record<string, ObservedSpec>;
