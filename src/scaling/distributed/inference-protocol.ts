/**
 * What travels through the queue: a job's inputs, and its result either inline or as a key
 * holding it. Also the option checks both ends share.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { BackendFailedError } from '../../core/errors.js';
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

const redisSchema = z.custom<Redis>(
  (v) => typeof v === 'object' && v !== null && typeof (v as Redis).duplicate === 'function',
  { message: 'an ioredis connection' },
);
const queueSchema = z.strictObject({
  connection: redisSchema,
  name: z
    .string()
    .min(1)
    .regex(/^[^:]+$/, 'a name without ":"'),
  prefix: z.string().min(1).default('bull'),
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
  const [[, json]] = (await redis.multi().get(result.ref).del(result.ref).exec()) as [
    [Error | null, string | null],
  ];
  if (typeof json !== 'string')
    throw new BackendFailedError(
      `${what}: its result was stored under ${result.ref}, which is gone (expired or read already)`,
      { context: { key: result.ref } },
    );
  return tensorsFromWire(JSON.parse(json) as WireTensors, what) as InferResult;
}
