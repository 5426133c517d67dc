import { z } from 'zod';
import { parseOptions } from '../core/options.js';
import { GPUOptimizer } from './gpu-optimizer.js';
import type { GPUOptimizerOptions } from './gpu-optimizer-options.js';
import type { InferOptions } from './gpu-optimizer-types.js';
import type { Tensor } from './tensor.js';

/** Options of {@link tune}. */
export interface TuneOptions {
  /** Items to submit, cycled through; use real ones (the latency depends on the data's shape). */
  samples: (Tensor | Record<string, Tensor>)[];
  /** Batch sizes to try, ascending. @default [1, 2, 4, 8, 16, 32] */
  batchSizes?: number[];
  /** Instance counts to try, ascending. @default [1, 2] */
  instances?: number[];
  /** Requests per trial, after warm-up. @default 256 */
  requests?: number;
  /** Callers submitting at once (closed loop: each waits for its answer, then sends again). @default 32 */
  concurrency?: number;
  /** Only configurations whose p95 latency is within this many ms can be best. @default no limit */
  latencyTargetMs?: number;
  /** Called after every trial. */
  onProgress?: (progress: { readonly done: number; readonly trial: TuneTrial }) => void;
}

/** One configuration's measurement. */
export interface TuneTrial {
  readonly instances: number;
  readonly maxBatchSize: number;
  readonly itemsPerS: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly avgBatchSize: number;
}

/** What {@link tune} found: every trial, the best one, and the options to use. */
export interface TuneResult {
  readonly table: readonly TuneTrial[];
  readonly best: TuneTrial;
  readonly options: { readonly instances: number; readonly maxBatchSize: number };
}

const ascending = (values: readonly number[]) =>
  values.every((v, i) => i === 0 || v > (values[i - 1] as number));

const schema = z
  .object({
    samples: z.array(z.unknown()).min(1),
    batchSizes: z
      .array(z.number().int().min(1))
      .min(1)
      .refine(ascending, 'ascending sizes (the plateau rule reads them in order)')
      .default([1, 2, 4, 8, 16, 32]),
    instances: z
      .array(z.number().int().min(1))
      .min(1)
      .refine(ascending, 'ascending counts (the plateau rule reads them in order)')
      .default([1, 2]),
    requests: z.number().int().min(1).default(256),
    concurrency: z.number().int().min(1).default(32),
    latencyTargetMs: z.number().positive().optional(),
    onProgress: z.custom<TuneOptions['onProgress']>((v) => typeof v === 'function').optional(),
  })
  .strict();

/** Internal, exported for tests: a dimension stops once the best of its last 4 trials is within 5 % of the first of them. */
export function plateaued(throughputs: readonly number[]): boolean {
  if (throughputs.length < 4) return false;
  const last = throughputs.slice(-4);
  return Math.max(...last) <= (last[0] as number) * 1.05;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

async function trial(
  base: GPUOptimizerOptions,
  instances: number,
  maxBatchSize: number,
  o: z.output<typeof schema>,
): Promise<TuneTrial> {
  const { latencyTargetMs: _ignored, preferredBatchSizes, ...fixed } = base;
  const preferred = (preferredBatchSizes ?? []).filter((n) => n <= maxBatchSize);
  const gpu = new GPUOptimizer({
    ...fixed,
    instances,
    maxBatchSize,
    preferredBatchSizes: preferred,
  });
  try {
    await gpu.ready();
    const samples = o.samples as (Tensor | Record<string, Tensor>)[];
    const options: InferOptions = {};
    const run = async (count: number, latencies?: number[]) => {
      let next = 0;
      const caller = async () => {
        while (next < count) {
          const i = next++;
          const start = performance.now();
          await gpu.infer(samples[i % samples.length] as Tensor, options);
          latencies?.push(performance.now() - start);
        }
      };
      await Promise.all(Array.from({ length: Math.min(o.concurrency, count) }, caller));
    };
    await run(Math.min(o.requests, o.concurrency * 2));
    const batchesBefore = gpu.stats().batches;
    const latencies: number[] = [];
    const start = performance.now();
    await run(o.requests, latencies);
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    const batches = gpu.stats().batches - batchesBefore;
    return {
      instances,
      maxBatchSize,
      itemsPerS: o.requests / seconds,
      p50Ms: percentile(latencies, 0.5),
      p95Ms: percentile(latencies, 0.95),
      avgBatchSize: batches === 0 ? 0 : o.requests / batches,
    };
  } finally {
    await gpu.close();
  }
}

/**
 * Sweeps instance counts and batch sizes for `options` on real samples and returns a table and
 * the best configuration: the highest throughput, within `latencyTargetMs` when given. Batch
 * sizes are tried in ascending order and the sweep of a dimension stops once the best of its
 * last 4 trials is within 5 % of the first of them.
 */
export async function tune(options: GPUOptimizerOptions, sweep: TuneOptions): Promise<TuneResult> {
  const o = parseOptions('tune', schema, sweep);
  const table: TuneTrial[] = [];
  const bestPerInstances: number[] = [];
  for (const instances of o.instances) {
    const throughputs: number[] = [];
    for (const maxBatchSize of o.batchSizes) {
      const result = await trial(options, instances, maxBatchSize, o);
      table.push(result);
      throughputs.push(result.itemsPerS);
      o.onProgress?.({ done: table.length, trial: result });
      if (plateaued(throughputs)) break;
    }
    bestPerInstances.push(Math.max(...throughputs));
    if (plateaued(bestPerInstances)) break;
  }
  const target = o.latencyTargetMs;
  const eligible = target === undefined ? table : table.filter((t) => t.p95Ms <= target);
  const pool =
    eligible.length > 0 ? eligible : [...table].sort((a, b) => a.p95Ms - b.p95Ms).slice(0, 1);
  const best = pool.reduce((a, b) => (b.itemsPerS > a.itemsPerS ? b : a));
  return { table, best, options: { instances: best.instances, maxBatchSize: best.maxBatchSize } };
}
