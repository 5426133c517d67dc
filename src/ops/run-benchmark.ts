import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { parseOptions } from '../core/options.js';
import { type LatencySummary, summarizeDurations } from './performance-latency.js';

/** One thing to measure. */
export interface BenchmarkCase {
  /** Unique within the run (`ocr_single`). */
  readonly name: string;
  /** One iteration; may return a promise. A throw or rejection counts as an error. */
  readonly fn: (iteration: number) => unknown;
  /** Runs once before the case's warmup; a failure rejects the run. */
  readonly setup?: () => unknown;
  /** Runs once after the case, also when iterations failed. */
  readonly teardown?: () => unknown;
}

/** Progress of {@link runBenchmark}, after every measured iteration. */
export interface BenchmarkProgress {
  readonly caseName: string;
  /** 0-based index of the case in `cases`. */
  readonly caseIndex: number;
  readonly cases: number;
  readonly completed: number;
  readonly iterations: number;
}

/** Options of {@link runBenchmark}. */
export interface BenchmarkOptions {
  /** The cases, run one after another in this order. */
  cases: readonly BenchmarkCase[];
  /** Measured iterations per case, >= 1. */
  iterations: number;
  /** Iterations in flight at once, >= 1. @default 1 */
  concurrency?: number;
  /** Unmeasured iterations per case before measuring (JIT, caches, pools). @default 0 */
  warmup?: number;
  /** Called after every measured iteration. */
  onProgress?: (progress: BenchmarkProgress) => void;
}

/** What {@link runBenchmark} measured for one case. Latencies cover every measured iteration. */
export interface BenchmarkResult extends LatencySummary {
  readonly name: string;
  readonly iterations: number;
  readonly concurrency: number;
  /** Iterations that threw or rejected. */
  readonly errors: number;
  /** The first iteration error, to say why `errors` is not 0. */
  readonly firstError: unknown;
  /** Wall time of the measured iterations, in ms. */
  readonly durationMs: number;
  /** Successful iterations per second of wall time. */
  readonly throughput: number;
}

const fn = <F>(message: string) => z.custom<F>((v) => typeof v === 'function', { message });

const caseSchema = z
  .object({
    name: z.string().min(1),
    fn: fn<BenchmarkCase['fn']>('a function (iteration) => unknown'),
    setup: fn<() => unknown>('a function').optional(),
    teardown: fn<() => unknown>('a function').optional(),
  })
  .strict();

const optionsSchema = z
  .object({
    cases: z
      .array(caseSchema)
      .min(1)
      .refine((cases) => new Set(cases.map((c) => c.name)).size === cases.length, {
        message: 'cases with distinct names',
      }),
    iterations: z.number().int().min(1),
    concurrency: z.number().int().min(1).default(1),
    warmup: z.number().int().min(0).default(0),
    onProgress: fn<NonNullable<BenchmarkOptions['onProgress']>>(
      'a function (progress) => void',
    ).optional(),
  })
  .strict();

/**
 * Measures each case: `setup`, `warmup` unmeasured iterations, `iterations` measured ones with
 * at most `concurrency` in flight, then `teardown`. Percentiles are exact (nearest rank) over
 * every measured iteration. The seed's PerformanceBenchmark, for `bench/` and for users.
 *
 * ```ts
 * const [ocr] = await runBenchmark({
 *   cases: [{ name: 'ocr_single', fn: () => ocr.recognize(plate) }],
 *   iterations: 100,
 *   concurrency: 4,
 * });
 * console.log(`p95 ${ocr.p95Ms} ms, ${ocr.throughput} images/s`);
 * ```
 *
 * Rejects with `E_INVALID_OPTIONS` naming each bad option with what was expected and received.
 */
export async function runBenchmark(options: BenchmarkOptions): Promise<BenchmarkResult[]> {
  const o = parseOptions('runBenchmark', optionsSchema, options);
  const results: BenchmarkResult[] = [];
  for (const [caseIndex, benchmarkCase] of o.cases.entries()) {
    await benchmarkCase.setup?.();
    try {
      if (o.warmup > 0) await runIterations(benchmarkCase.fn, o.warmup, o.concurrency);
      const progress = o.onProgress;
      const onDone = progress
        ? (completed: number) =>
            progress({
              caseName: benchmarkCase.name,
              caseIndex,
              cases: o.cases.length,
              completed,
              iterations: o.iterations,
            })
        : undefined;
      const started = performance.now();
      const run = await runIterations(benchmarkCase.fn, o.iterations, o.concurrency, onDone);
      const durationMs = performance.now() - started;
      results.push({
        name: benchmarkCase.name,
        iterations: o.iterations,
        concurrency: o.concurrency,
        errors: run.errors,
        firstError: run.firstError,
        durationMs,
        throughput: durationMs > 0 ? ((o.iterations - run.errors) / durationMs) * 1000 : 0,
        ...summarizeDurations(run.durations),
      });
    } finally {
      await benchmarkCase.teardown?.();
    }
  }
  return results;
}

interface IterationsRun {
  readonly durations: Float64Array;
  readonly errors: number;
  readonly firstError: unknown;
}

/** Runs `fn` `count` times with up to `concurrency` workers pulling the next iteration. */
async function runIterations(
  fn: BenchmarkCase['fn'],
  count: number,
  concurrency: number,
  onDone?: (completed: number) => void,
): Promise<IterationsRun> {
  const durations = new Float64Array(count);
  let next = 0;
  let completed = 0;
  let errors = 0;
  let firstError: unknown;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const start = performance.now();
      try {
        await fn(i);
      } catch (error) {
        if (errors++ === 0) firstError = error;
      }
      durations[i] = performance.now() - start;
      onDone?.(++completed);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { durations, errors, firstError };
}
