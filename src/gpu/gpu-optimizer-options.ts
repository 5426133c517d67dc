import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import { MemoryPool } from '../memory/index.js';
import type { PaddingRule, UnpadRule } from './padding.js';
import type { PreprocessSpec } from './preprocess/index.js';
import type { RuntimeSource } from './runtime.js';

/** Options of {@link GPUOptimizer}. */
export interface GPUOptimizerOptions {
  /** The model and backend, from `onnxRuntime()`, `kserveRuntime()` or `runtimeModule()`. */
  runtime: RuntimeSource;
  /**
   * Worker threads, each with its own runtime session (the seeds' "CUDA streams"). `'auto'`
   * is half the available cores, at least 1 and at most 4: each ONNX Runtime session already
   * uses several threads.
   * @default 'auto'
   */
  instances?: number | 'auto';
  /** Most requests in one batch. @default 8 */
  maxBatchSize?: number;
  /**
   * Longest a request waits for others to fill its batch, in ms, once an instance is free.
   * @default 2
   */
  maxQueueDelayMs?: number;
  /** Batch sizes dispatched as soon as they can be filled (Triton `preferred_batch_size`). */
  preferredBatchSizes?: number[];
  /**
   * Turns on adaptive batching: batch time is fitted as a·n + b over recent batches and the
   * batch size (up to `maxBatchSize`) and queue delay (up to `maxQueueDelayMs`) are chosen to
   * maximise throughput while gather time plus batch time stays under this many ms.
   * @default off (fixed `maxBatchSize` and `maxQueueDelayMs`)
   */
  latencyTargetMs?: number;
  /**
   * Batches an instance may hold at once: the running one plus full batches queued in its
   * worker, so the worker never idles while the main thread turns a finished batch around. Only
   * full batches (`maxBatchSize`) are queued this way; `1` is Triton's strict behaviour, where a
   * request that arrives later with a higher priority never waits behind a queued batch.
   * @default 2
   */
  pipelineDepth?: number;
  /** Most requests waiting; beyond it `infer` rejects at once with `E_QUEUE_FULL`. @default 1024 */
  maxQueueSize?: number;
  /** Deadline for requests that give none, in ms from submission. @default none */
  defaultDeadlineMs?: number;
  /** Lets inputs of different sizes share a batch by padding one axis to buckets. */
  padding?: PaddingRule;
  /**
   * Turns images into the model input inside the workers, for `inferImage()`: resize
   * (`'stretch'`, `'letterbox'`, `'fit-height'`), scale, mean/std, NCHW layout. `input` names
   * the model input (default: its first); `unpad` cuts an output back to the part that saw the
   * image (for `'fit-height'`: `{ axis: 0, scale: 1 / 8, offset: 3, rounding: 'floor' }` on PP-OCR's recogniser).
   */
  preprocess?: PreprocessSpec & { input?: string; unpad?: UnpadRule };
  /**
   * Item dims to warm up with, per input, for inputs with dynamic dimensions (with a padding
   * rule, each bucket is warmed up). Warm-up runs batches of 1 and `maxBatchSize` on every
   * instance before `ready()` resolves. `false` skips it.
   * @default derived from static dims and padding buckets
   */
  warmup?: { inputs: Record<string, number[]> } | false;
  /**
   * The pool batches are assembled in; it must be `shared: true`. @default a pool of its own
   * (`name: 'gpu'`, 256 MiB)
   */
  pool?: MemoryPool;
  /** First delay before restarting a crashed worker, doubled per failed attempt up to 5 s. @default 100 */
  restartDelayMs?: number;
  clock?: Clock;
  logger?: Logger;
  meterProvider?: MeterProvider;
}

const unpadSchema = z
  .object({
    output: z.string().optional(),
    axis: z.number().int().nonnegative(),
    scale: z.number().positive(),
    offset: z.number().optional(),
    rounding: z.enum(['ceil', 'floor']).optional(),
  })
  .strict();

const preprocessSchema = z
  .object({
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    resize: z.enum(['stretch', 'letterbox', 'fit-height']),
    mean: z.tuple([z.number(), z.number(), z.number()]).optional(),
    std: z.tuple([z.number(), z.number(), z.number()]).optional(),
    scale: z.number().optional(),
    channelOrder: z.enum(['rgb', 'bgr']).optional(),
    padValue: z.number().optional(),
    input: z.string().optional(),
    unpad: unpadSchema.optional(),
  })
  .strict();

const paddingSchema = z
  .object({
    input: z.string().optional(),
    axis: z.number().int().nonnegative(),
    buckets: z
      .array(z.number().int().positive())
      .min(1)
      .refine(
        (b) => b.every((v, i) => i === 0 || v > (b[i - 1] as number)),
        'ascending bucket sizes',
      ),
    value: z.number().default(0),
    unpad: unpadSchema.optional(),
  })
  .strict();

export const gpuOptimizerOptionsSchema = z
  .object({
    runtime: z
      .object({ module: z.string().min(1), options: z.unknown(), label: z.string().min(1) })
      .strict(),
    instances: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
    maxBatchSize: z.number().int().min(1).max(4096).default(8),
    maxQueueDelayMs: z.number().min(0).max(60_000).default(2),
    preferredBatchSizes: z.array(z.number().int().min(1)).default([]),
    maxQueueSize: z.number().int().min(1).default(1024),
    latencyTargetMs: z.number().positive().optional(),
    pipelineDepth: z.number().int().min(1).max(8).default(2),
    defaultDeadlineMs: z.number().positive().optional(),
    padding: paddingSchema.optional(),
    preprocess: preprocessSchema.optional(),
    warmup: z
      .union([
        z.literal(false),
        z
          .object({ inputs: z.record(z.string(), z.array(z.number().int().nonnegative())) })
          .strict(),
      ])
      .optional(),
    pool: z
      .custom<MemoryPool>((v) => v instanceof MemoryPool, { message: 'a MemoryPool' })
      .optional(),
    restartDelayMs: z.number().positive().default(100),
    clock: commonOptionSchemas.clock.optional(),
    logger: commonOptionSchemas.logger.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict()
  .refine((o) => o.preferredBatchSizes.every((s) => s <= o.maxBatchSize), {
    message: 'preferredBatchSizes no larger than maxBatchSize',
    path: ['preferredBatchSizes'],
  })
  .refine((o) => !(o.padding && o.preprocess), {
    message: 'either padding (tensors) or preprocess (images), not both',
    path: ['preprocess'],
  });
