/**
 * What travels through the queue: a job's inputs, and its result either inline or as a key
 * holding it. Also the option checks both ends share.
 */
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  BackendFailedError,
  DeadlineExceededError,
  InvalidArgumentError,
  InvalidInputError,
  SalamaError,
  TimeoutError,
} from '../../core/errors.js';
import { isLogger, type Logger } from '../../core/logger.js';
import { parseOptions } from '../../core/options.js';
import type { InferResult } from '../../gpu/gpu-optimizer-types.js';
import { tensorsFromWire, tensorsToWire, type WireTensors } from './tensor-wire.js';

export interface InferenceJob {
  readonly inputs: WireTensors;
}

/** The outputs inline, or the key a large result was stored under. */
export type InferenceJobResult =
  | { readonly outputs: WireTensors }
  | { readonly ref: string; readonly bytes: number };

const isRedis = (v: unknown): v is Redis =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Redis).duplicate === 'function' &&
  typeof (v as Redis).set === 'function';
const redisSchema = z.custom<Redis>(isRedis, { message: 'an ioredis connection' });
/** A Worker blocks on its connection, which BullMQ requires to retry every command forever. */
export const blockingRedisSchema = z.custom<Redis>(
  (v) => isRedis(v) && v.options?.maxRetriesPerRequest === null,
  { message: 'an ioredis connection created with maxRetriesPerRequest: null' },
);
export const loggerSchema = z.custom<Logger>(isLogger, {
  message: 'a logger (pino-compatible)',
});
/** BullMQ builds its keys as `prefix:name:…`. */
export const queueNameSchema = z
  .string()
  .min(1)
  .regex(/^[^:]+$/, 'a name without ":"');
const queueSchema = z.strictObject({
  connection: redisSchema,
  name: queueNameSchema,
  prefix: z.string().min(1).default('bull'),
  logger: loggerSchema.optional(),
  attempts: z.number().int().min(1).default(3),
  backoffMs: z.number().int().min(0).default(500),
  keepJobsMs: z.number().int().min(1000).default(60_000),
});

export function parseQueueOptions(component: string, options: unknown) {
  return parseOptions(component, queueSchema, options);
}

/** Stores `outputs` as a job result: inline up to `inlineBytes`, else under `key` for `ttlMs`. */
export async function writeResult(
  redis: Redis,
  outputs: InferResult,
  inlineBytes: number,
  key: string,
  ttlMs: number,
): Promise<InferenceJobResult> {
  const wire = tensorsToWire(outputs);
  const json = JSON.stringify(wire);
  if (json.length <= inlineBytes) return { outputs: wire };
  await redis.set(key, json, 'PX', ttlMs);
  return { ref: key, bytes: json.length };
}

/** The outputs of a job result, fetching (and deleting) a stored one. */
export async function readResult(
  redis: Redis,
  result: InferenceJobResult,
  what: string,
): Promise<InferResult> {
  if ('outputs' in result) return tensorsFromWire(result.outputs, what) as InferResult;
  let json: unknown;
  try {
    const replies = await redis.multi().get(result.ref).del(result.ref).exec();
    const [error, value] = replies?.[0] ?? [new Error('the transaction was discarded'), null];
    if (error) throw error;
    json = value;
  } catch (error) {
    throw new BackendFailedError(
      `${what}: could not read its result from ${result.ref}: ${(error as Error).message}`,
      { cause: error, context: { key: result.ref } },
    );
  }
  if (typeof json !== 'string')
    throw new BackendFailedError(
      `${what}: its result was stored under ${result.ref}, which is gone (expired or read already)`,
      { context: { key: result.ref } },
    );
  return tensorsFromWire(JSON.parse(json) as WireTensors, what) as InferResult;
}

/** Errors a retry cannot fix: the job fails at once instead of using up its attempts. */
const NOT_RETRIED = new Set([
  'E_INVALID_INPUT',
  'E_INVALID_ARGUMENT',
  'E_INVALID_TYPE',
  'E_INVALID_SIZE',
]);

/**
 * What a worker throws for a failed item: the salama code travels in front of the message
 * (BullMQ keeps only the message), and input errors are not retried.
 */
export function jobFailure(error: unknown): Error {
  if (!(error instanceof SalamaError))
    return error instanceof Error ? error : new Error(String(error));
  const reason = `[${error.code}] ${error.message}`;
  return NOT_RETRIED.has(error.code) ? new UnrecoverableError(reason) : new Error(reason);
}

const CODED = /^\[(E_[A-Z_]+)\] ([\s\S]*)$/;
const BY_CODE: Record<
  string,
  new (
    message: string,
    options?: { cause?: unknown; context?: Record<string, unknown> },
  ) => SalamaError
> = {
  E_INVALID_INPUT: InvalidInputError,
  E_INVALID_ARGUMENT: InvalidArgumentError,
  E_TIMEOUT: TimeoutError,
  E_DEADLINE_EXCEEDED: DeadlineExceededError,
};

/**
 * The error a submitter gets for a failed job: the worker's code where it is one a caller can
 * act on (bad input, a deadline), `E_BACKEND_FAILED` otherwise.
 */
export function submitFailure(
  reason: string,
  jobId: string,
  attemptsMade: number | undefined,
): SalamaError {
  const match = CODED.exec(reason);
  const code = match?.[1];
  const detail = match?.[2] ?? reason;
  const retried =
    code !== undefined && NOT_RETRIED.has(code)
      ? ', not retried'
      : ` after ${attemptsMade ?? 'its'} attempt(s)`;
  const message = `InferenceQueue.submit(): job ${jobId} failed${retried}: ${detail}`;
  const Class = (code && BY_CODE[code]) || BackendFailedError;
  return new Class(message, { context: { jobId, workerCode: code, attemptsMade } });
}
