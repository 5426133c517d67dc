/**
 * Distributed inference on BullMQ: `InferenceQueue` puts one item per job on a Redis queue and
 * resolves with that job's result; `InferenceWorker` (any host) pulls jobs into its local
 * GPUOptimizer, many at once, so they are still batched. BullMQ brings the delivery guarantees:
 * a job whose worker dies is found stalled (its lock not renewed within `lockDuration`) and run
 * again elsewhere; a failed attempt is retried with exponential backoff; workers may be rate
 * limited. A submit resolves exactly once, when its job completes, or rejects once all
 * attempts have failed. Results larger than `inlineResultBytes` are not kept in the job: the
 * worker stores them under a key of their own, which the submitter reads and deletes.
 */
import { randomUUID } from 'node:crypto';
import { type Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AbortedError,
  BackendFailedError,
  describeValue,
  InvalidArgumentError,
  TimeoutError,
} from '../../core/errors.js';
import type { InferResult } from '../../gpu/gpu-optimizer-types.js';
import type { Tensor } from '../../gpu/tensor.js';
import {
  type InferenceJob,
  type InferenceJobResult,
  parseQueueOptions,
  readResult,
} from './inference-protocol.js';
import { tensorsToWire } from './tensor-wire.js';

export interface InferenceQueueOptions {
  /** An ioredis connection; a duplicate of it carries the blocking reads of job events. */
  readonly connection: Redis;
  /** The queue's name; workers use the same. */
  readonly name: string;
  /** BullMQ key prefix. @default 'bull' */
  readonly prefix?: string;
  /** Attempts per job, the first included. @default 3 */
  readonly attempts?: number;
  /** First retry delay in ms, doubled for each further one. @default 500 */
  readonly backoffMs?: number;
  /** Completed and failed jobs are removed after this many ms. @default 60_000 */
  readonly keepJobsMs?: number;
}

export interface SubmitOptions {
  /** 0–100, higher served first. @default none (FIFO, BullMQ's fastest path) */
  readonly priority?: number;
  /** Reject with `E_TIMEOUT` when no result came within this many ms. */
  readonly timeoutMs?: number;
  /** Aborting removes a job no worker has taken yet and rejects with `E_ABORTED`. */
  readonly signal?: AbortSignal;
}

export class InferenceQueue {
  readonly #queue: Queue<InferenceJob, InferenceJobResult>;
  readonly #events: QueueEvents;
  readonly #eventsConnection: Redis;
  readonly #redis: Redis;
  readonly #o: ReturnType<typeof parseQueueOptions>;
  readonly #ready: Promise<void>;

  constructor(options: InferenceQueueOptions) {
    this.#o = parseQueueOptions('InferenceQueue', options);
    const { connection, name, prefix } = this.#o;
    this.#redis = connection;
    this.#queue = new Queue<InferenceJob, InferenceJobResult>(name, { connection, prefix });
    // Every waiting submit listens for the queue closing (Job.waitUntilFinished): any number
    // may wait at once, so this is not a leak.
    this.#queue.setMaxListeners(0);
    // QueueEvents blocks on its connection: one of its own, retrying forever as BullMQ requires.
    this.#eventsConnection = connection.duplicate({ maxRetriesPerRequest: null });
    this.#events = new QueueEvents(name, { connection: this.#eventsConnection, prefix });
    this.#ready = this.#events.waitUntilReady().then(() => undefined);
  }

  /** Runs one item on some worker; resolves with its outputs. */
  async submit(
    input: Tensor | Readonly<Record<string, Tensor>>,
    options: SubmitOptions = {},
  ): Promise<InferResult> {
    const priority = options.priority;
    if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 100))
      throw new InvalidArgumentError(
        `InferenceQueue.submit(): expected priority to be an integer from 0 to 100, received ${describeValue(priority)}`,
      );
    options.signal?.throwIfAborted();
    await this.#ready;
    const { attempts, backoffMs, keepJobsMs } = this.#o;
    const job = await this.#queue.add(
      'infer',
      { inputs: tensorsToWire(input) },
      {
        jobId: randomUUID(),
        attempts,
        backoff: { type: 'exponential', delay: backoffMs },
        ...(priority === undefined ? {} : { priority: 101 - priority }),
        removeOnComplete: { age: Math.ceil(keepJobsMs / 1000) },
        removeOnFail: { age: Math.ceil(keepJobsMs / 1000) },
      },
    );
    return this.#await(job, options);
  }

  /** Closes what the queue opened (not the connection passed in). */
  async close(): Promise<void> {
    await Promise.all([this.#events.close(), this.#queue.close()]);
    this.#eventsConnection.disconnect();
  }

  async #await(job: Job<InferenceJob, InferenceJobResult>, options: SubmitOptions) {
    const cleanups: (() => void)[] = [];
    const stop = new Promise<never>((_, reject) => {
      if (options.timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          reject(
            new TimeoutError(
              `InferenceQueue.submit(): no result for job ${job.id} within ${options.timeoutMs} ms`,
              { context: { jobId: job.id } },
            ),
          );
        }, options.timeoutMs);
        cleanups.push(() => clearTimeout(timer));
      }
      const signal = options.signal;
      if (signal) {
        const onAbort = () => {
          // Only a job still waiting can be taken back; a running one finishes unseen.
          void job.remove().catch(() => {});
          reject(
            new AbortedError(`InferenceQueue.submit(): aborted (job ${job.id})`, {
              cause: signal.reason,
            }),
          );
        };
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    });
    let result: InferenceJobResult;
    try {
      result = await Promise.race([job.waitUntilFinished(this.#events), stop]);
    } catch (error) {
      if (error instanceof TimeoutError || error instanceof AbortedError) throw error;
      throw new BackendFailedError(
        `InferenceQueue.submit(): job ${job.id} failed after ${this.#o.attempts} attempt(s): ${(error as Error).message}`,
        { cause: error, context: { jobId: job.id } },
      );
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
    return readResult(this.#redis, result, `job ${job.id}`);
  }
}
