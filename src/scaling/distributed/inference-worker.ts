/**
 * The consuming end of {@link InferenceQueue}: a BullMQ worker that takes up to `concurrency`
 * jobs at once and runs each through the local GPUOptimizer, which batches them. A job's lock
 * is renewed while it runs; if this process dies, BullMQ finds the job stalled after
 * `lockDurationMs` and another worker runs it. A failure carries its salama code to the
 * submitter; input the target refuses fails at once instead of being retried. If the target
 * is closed, the worker stops taking jobs (the one that found out is retried elsewhere).
 */
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { SalamaError } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/logger.js';
import { parseOptions } from '../../core/options.js';
import type { InferOptions, InferResult } from '../../gpu/gpu-optimizer-types.js';
import type { Tensor } from '../../gpu/tensor.js';
import {
  blockingRedisSchema,
  type InferenceJob,
  type InferenceJobResult,
  jobFailure,
  loggerSchema,
  queueNameSchema,
  writeResult,
} from './inference-protocol.js';
import { tensorsFromWire } from './tensor-wire.js';

/** What runs the items: a GPUOptimizer, or anything with its `infer`. */
export interface InferenceTarget {
  infer(input: Tensor | Record<string, Tensor>, options?: InferOptions): Promise<InferResult>;
}

export interface InferenceWorkerOptions {
  /** An ioredis connection with `maxRetriesPerRequest: null` (BullMQ's blocking reads need it). */
  readonly connection: Redis;
  /** The queue's name. */
  readonly name: string;
  readonly target: InferenceTarget;
  /** BullMQ key prefix. @default 'bull' */
  readonly prefix?: string;
  /** Jobs run at once: the most one batch can gather from this worker. @default 32 */
  readonly concurrency?: number;
  /** A job whose lock is not renewed for this long is stalled and runs elsewhere. @default 30_000 */
  readonly lockDurationMs?: number;
  /** How often to look for stalled jobs, in ms. @default 30_000 */
  readonly stalledIntervalMs?: number;
  /** Times a job may stall before it fails. @default 1 */
  readonly maxStalledCount?: number;
  /** At most `max` jobs per `durationMs` across every worker of the queue. */
  readonly limiter?: { readonly max: number; readonly durationMs: number };
  /**
   * Results whose JSON is longer are stored under a key of their own. An inline result also
   * travels in the queue's event stream (about 10,000 events kept, read by every submitting
   * process), so keep this small. @default 8_192
   */
  readonly inlineResultBytes?: number;
  /** How long such a stored result waits for its submitter, in ms. @default 600_000 */
  readonly resultTtlMs?: number;
  /** Where lock-renewal and connection errors are reported. @default silent */
  readonly logger?: Logger;
}

const schema = z.strictObject({
  connection: blockingRedisSchema,
  name: queueNameSchema,
  target: z.custom<InferenceTarget>(
    (v) => typeof (v as InferenceTarget | undefined)?.infer === 'function',
    { message: 'an object with infer() (a GPUOptimizer)' },
  ),
  prefix: z.string().min(1).default('bull'),
  concurrency: z.number().int().positive().default(32),
  lockDurationMs: z.number().int().positive().default(30_000),
  stalledIntervalMs: z.number().int().positive().default(30_000),
  maxStalledCount: z.number().int().min(0).default(1),
  limiter: z
    .strictObject({ max: z.number().int().positive(), durationMs: z.number().int().positive() })
    .optional(),
  inlineResultBytes: z.number().int().min(0).default(8_192),
  resultTtlMs: z.number().int().positive().default(600_000),
  logger: loggerSchema.optional(),
});

export class InferenceWorker {
  readonly #worker: Worker<InferenceJob, InferenceJobResult>;

  constructor(options: InferenceWorkerOptions) {
    const o = parseOptions('InferenceWorker', schema, options);
    const logger = componentLogger(o.logger, 'InferenceWorker');
    const resultKey = (job: Job) => `${o.prefix}:${o.name}:result:${job.id}`;
    this.#worker = new Worker<InferenceJob, InferenceJobResult>(
      o.name,
      async (job) => {
        let outputs: InferResult;
        try {
          outputs = await o.target.infer(tensorsFromWire(job.data.inputs, `job ${job.id}`));
        } catch (error) {
          if (SalamaError.is(error, 'E_CLOSED')) {
            logger.warn({ queue: o.name }, 'the target is closed: this worker stops taking jobs');
            void this.close().catch(() => {});
          }
          throw jobFailure(error);
        }
        return writeResult(
          o.connection,
          outputs,
          o.inlineResultBytes,
          resultKey(job),
          o.resultTtlMs,
        );
      },
      {
        connection: o.connection,
        prefix: o.prefix,
        concurrency: o.concurrency,
        lockDuration: o.lockDurationMs,
        stalledInterval: o.stalledIntervalMs,
        maxStalledCount: o.maxStalledCount,
        ...(o.limiter ? { limiter: { max: o.limiter.max, duration: o.limiter.durationMs } } : {}),
      },
    );
    // Job failures reach the submitter through the job; these are the worker's own (a lost
    // lock, a dropped connection): reported, and kept off the process's error path.
    this.#worker.on('error', (error) =>
      logger.warn({ err: error, queue: o.name }, `inference worker: ${error.message}`),
    );
  }

  /** Subscribes to BullMQ's worker events (`active`, `completed`, `failed`, `stalled`…). */
  on(event: 'active' | 'completed' | 'failed', listener: (job: Job | undefined) => void): this {
    this.#worker.on(event, listener as never);
    return this;
  }

  /** Resolves once connected and taking jobs. */
  async ready(): Promise<void> {
    await this.#worker.waitUntilReady();
  }

  /** Stops taking jobs and waits for the running ones (`force`: abandons them). */
  async close(force = false): Promise<void> {
    await this.#worker.close(force);
  }
}
