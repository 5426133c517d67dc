/**
 * Distributed inference on BullMQ: `InferenceQueue` puts one item per job on a Redis queue and
 * resolves with that job's result; `InferenceWorker` (any host) pulls jobs into its local
 * GPUOptimizer, many at once, so they are still batched. BullMQ brings the delivery guarantees:
 * a job whose worker dies is found stalled (its lock not renewed within `lockDuration`) and run
 * again elsewhere; a failed attempt is retried with exponential backoff; workers may be rate
 * limited. A submit resolves exactly once, when its job completes, or rejects once all
 * attempts have failed (at once, with the worker's code, for input a retry cannot fix).
 * Results larger than `inlineResultBytes` are not kept in the job: the worker stores them
 * under a key of their own, which the submitter reads and deletes.
 *
 * One listener per queue hears every job's outcome (QueueEvents) and settles the submit
 * waiting for it, so waiting costs nothing per job beyond a map entry; `timeoutMs` and the
 * signal cover the whole submit, connecting and adding included, and take back a job no
 * worker has started.
 */
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AbortedError,
  ClosedError,
  describeValue,
  InvalidArgumentError,
  type SalamaError,
  TimeoutError,
} from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/logger.js';
import type { InferResult } from '../../gpu/gpu-optimizer-types.js';
import type { Tensor } from '../../gpu/tensor.js';
import {
  type InferenceJob,
  type InferenceJobResult,
  parseQueueOptions,
  readResult,
  submitFailure,
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
  /** Where Redis errors are reported. @default silent */
  readonly logger?: Logger;
}

export interface SubmitOptions {
  /** 0–100, higher served first. @default 50 */
  readonly priority?: number;
  /** Reject with `E_TIMEOUT` when no result came within this many ms of the call. */
  readonly timeoutMs?: number;
  /** Aborting rejects with `E_ABORTED` and takes back a job no worker has started. */
  readonly signal?: AbortSignal;
}

const DEFAULT_PRIORITY = 50;

interface Waiter {
  readonly resolve: (result: InferenceJobResult) => void;
  readonly reject: (error: SalamaError) => void;
}

export class InferenceQueue {
  readonly #queue: Queue<InferenceJob, InferenceJobResult>;
  readonly #events: QueueEvents;
  readonly #eventsConnection: Redis;
  readonly #redis: Redis;
  readonly #o: ReturnType<typeof parseQueueOptions>;
  readonly #ready: Promise<void>;
  readonly #waiters = new Map<string, Waiter>();
  #closed = false;

  constructor(options: InferenceQueueOptions) {
    this.#o = parseQueueOptions('InferenceQueue', options);
    const { connection, name, prefix } = this.#o;
    const logger = componentLogger(this.#o.logger, 'InferenceQueue');
    this.#redis = connection;
    this.#queue = new Queue<InferenceJob, InferenceJobResult>(name, { connection, prefix });
    // QueueEvents blocks on its connection: one of its own, retrying forever as BullMQ requires.
    this.#eventsConnection = connection.duplicate({ maxRetriesPerRequest: null });
    this.#events = new QueueEvents(name, { connection: this.#eventsConnection, prefix });
    const report = (error: Error) => logger.warn({ err: error }, `queue ${name}: ${error.message}`);
    this.#queue.on('error', report);
    this.#events.on('error', report);
    this.#events.on('completed', ({ jobId, returnvalue }) => {
      this.#waiters.get(jobId)?.resolve(returnvalue as unknown as InferenceJobResult);
    });
    this.#events.on('failed', ({ jobId, failedReason }) => void this.#failed(jobId, failedReason));
    this.#ready = this.#events.waitUntilReady().then(() => undefined);
  }

  /** Runs one item on some worker; resolves with its outputs. */
  async submit(
    input: Tensor | Readonly<Record<string, Tensor>>,
    options: SubmitOptions = {},
  ): Promise<InferResult> {
    const { priority = DEFAULT_PRIORITY, timeoutMs, signal } = options;
    if (!(Number.isInteger(priority) && priority >= 0 && priority <= 100))
      throw new InvalidArgumentError(
        `InferenceQueue.submit(): expected priority to be an integer from 0 to 100, received ${describeValue(priority)}`,
      );
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0))
      throw new InvalidArgumentError(
        `InferenceQueue.submit(): expected timeoutMs to be a positive number of ms, received ${describeValue(timeoutMs)}`,
      );
    if (this.#closed) throw new ClosedError('InferenceQueue.submit(): the queue is closed');
    if (signal?.aborted) throw aborted(signal, undefined);
    const inputs = tensorsToWire(input);
    const jobId = randomUUID();
    // Registered before the job exists, so no outcome can come before anyone listens.
    const outcome = new Promise<InferenceJobResult>((resolve, reject) => {
      this.#waiters.set(jobId, { resolve, reject });
    });
    // Settled by close() or an event while the job is still being added: read below.
    outcome.catch(() => {});
    let added = false;
    const cleanups: (() => void)[] = [() => this.#waiters.delete(jobId)];
    const stop = new Promise<never>((_, reject) => {
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          reject(
            new TimeoutError(
              `InferenceQueue.submit(): no result for job ${jobId} within ${timeoutMs} ms`,
              { context: { jobId, added } },
            ),
          );
        }, timeoutMs);
        cleanups.push(() => clearTimeout(timer));
      }
      if (signal) {
        const onAbort = () => reject(aborted(signal, jobId));
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    });
    stop.catch(() => {});
    try {
      await Promise.race([this.#ready, stop]);
      const { attempts, backoffMs, keepJobsMs } = this.#o;
      const adding = this.#queue.add(
        'infer',
        { inputs },
        {
          jobId,
          attempts,
          backoff: { type: 'exponential', delay: backoffMs },
          priority: 101 - priority,
          removeOnComplete: { age: Math.ceil(keepJobsMs / 1000) },
          removeOnFail: { age: Math.ceil(keepJobsMs / 1000) },
        },
      );
      // A timeout or abort during the add still takes the job back once it is there.
      adding.then(
        () => {
          added = true;
        },
        () => {},
      );
      await Promise.race([adding, stop]);
      void this.#settleIfFinished(jobId);
      const result = await Promise.race([outcome, stop]);
      return await readResult(this.#redis, result, `job ${jobId}`);
    } catch (error) {
      if (error instanceof TimeoutError || error instanceof AbortedError)
        void this.#takeBack(jobId);
      throw error;
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
  }

  /**
   * Stops taking submits, rejects the ones waiting with `E_CLOSED` (their jobs still run), and
   * closes what the queue opened (not the connection passed in).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [jobId, waiter] of this.#waiters)
      waiter.reject(
        new ClosedError(`InferenceQueue.submit(): the queue was closed while job ${jobId} waited`, {
          context: { jobId },
        }),
      );
    this.#waiters.clear();
    await Promise.all([this.#events.close(), this.#queue.close()]);
    this.#eventsConnection.disconnect();
  }

  async #failed(jobId: string, reason: string): Promise<void> {
    const waiter = this.#waiters.get(jobId);
    if (!waiter) return;
    const job = await this.#queue.getJob(jobId).catch(() => undefined);
    waiter.reject(submitFailure(reason, jobId, job?.attemptsMade));
  }

  /** In case the job finished before its events could be heard. */
  async #settleIfFinished(jobId: string): Promise<void> {
    try {
      const state = await this.#queue.getJobState(jobId);
      if (state !== 'completed' && state !== 'failed') return;
      const job = await this.#queue.getJob(jobId);
      if (!job) return;
      if (state === 'completed') this.#waiters.get(jobId)?.resolve(job.returnvalue);
      else
        this.#waiters.get(jobId)?.reject(submitFailure(job.failedReason, jobId, job.attemptsMade));
    } catch {
      // The events will tell.
    }
  }

  /** Removes a job no worker has started (a started one is locked and finishes unseen). */
  async #takeBack(jobId: string): Promise<void> {
    try {
      await this.#queue.remove(jobId);
    } catch {
      // Running, or already gone.
    }
  }
}

function aborted(signal: AbortSignal, jobId: string | undefined): AbortedError {
  const which = jobId === undefined ? '' : ` (job ${jobId})`;
  return new AbortedError(`InferenceQueue.submit(): aborted${which}`, {
    cause: signal.reason,
    context: { jobId },
  });
}
