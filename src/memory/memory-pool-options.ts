import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import { MIN_CLASS_BYTES } from './size-classes.js';

/** 256 MiB, the default `maxBytes`. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

export const memoryPoolOptionsSchema = z
  .object({
    name: z.string().min(1).default('default'),
    // Below the smallest size class no request could ever be served.
    maxBytes: z
      .number()
      .int()
      .min(MIN_CLASS_BYTES)
      .max(Number.MAX_SAFE_INTEGER)
      .default(DEFAULT_MAX_BYTES),
    shared: z.boolean().default(false),
    zero: z.boolean().default(false),
    whenExhausted: z.enum(['throw', 'allocate']).default('throw'),
    idleTimeoutMs: z.union([z.literal(false), z.number().int().positive()]).default(60_000),
    debug: z.boolean().default(false),
    clock: commonOptionSchemas.clock.optional(),
    logger: commonOptionSchemas.logger.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict();

/** Options of {@link MemoryPool}. Every field is optional. */
export interface MemoryPoolOptions {
  /**
   * Names the pool in stats, metrics (`pool` attribute), events and error messages.
   * @default 'default'
   */
  name?: string;
  /**
   * Most bytes the pool holds at once, leased and idle together. Idle buffers are trimmed
   * least-recently-used first to make room. A single request whose size class (the request
   * rounded up by less than 12.5 %, at least 64 bytes) is larger than this is `E_INVALID_SIZE`.
   * At least 64. @default 268435456 (256 MiB)
   */
  maxBytes?: number;
  /**
   * Back buffers with `SharedArrayBuffer`, so a lease can be posted to a worker thread without a
   * copy (what the GPU module does with batches).
   * @default false
   */
  shared?: boolean;
  /**
   * Zero-fill the requested bytes when a buffer is reused. Off by default: a reused buffer holds
   * what its previous lease wrote, as with `Buffer.allocUnsafe`. Costs one `fill(0)` per reuse
   * (bench/memory.ts: 0.07–0.14 ms per frame of nine buffers, 6.5 MB); fresh buffers are
   * always zero.
   * @default false
   */
  zero?: boolean;
  /**
   * What `acquire` does when leased buffers already fill `maxBytes`: `'throw'`
   * `E_POOL_EXHAUSTED`, or `'allocate'` a one-off buffer that is dropped on release.
   * @default 'throw'
   */
  whenExhausted?: 'throw' | 'allocate';
  /**
   * Idle buffers unused for this long are freed, checked every `idleTimeoutMs` (so a buffer
   * lives idle for less than twice this). `false` keeps idle buffers until `trim()`.
   * @default 60000
   */
  idleTimeoutMs?: number | false;
  /**
   * Record the acquiring stack of every lease, reported by the `leak` event. Costs a stack
   * capture (a few microseconds) per `acquire`.
   * @default false
   */
  debug?: boolean;
  /** Time source for idle trimming. @default systemClock */
  clock?: Clock;
  /** A pino-compatible logger; leaks are logged at `warn`. @default silent */
  logger?: Logger;
  /** Where metrics go. @default the global OpenTelemetry MeterProvider */
  meterProvider?: MeterProvider;
}
