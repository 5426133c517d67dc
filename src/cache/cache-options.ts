import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import type { InvalidationBus } from './bus.js';
import type { CompressionOptions } from './entry-codec.js';
import type { CacheSerializer } from './serializers.js';
import type { CacheStore } from './store.js';
import { type CacheStrategy, cacheStrategies } from './strategies.js';
import type { RemoteTierOptions } from './tier.js';

/** How long values live and what happens around their expiry; per cache and per call. */
export interface EntryOptions {
  /** Time to live (ms); `Infinity` keeps values until deleted. @default 300000 (5 min) */
  ttlMs?: number;
  /**
   * A preset from `cacheStrategies`; explicit options given beside it win, so
   * `{ strategy: 'noCache', ttlMs: 60000 }` caches for a minute.
   */
  strategy?: CacheStrategy;
  /** Each TTL is lengthened by a random fraction up to this, so keys set together do not expire together. @default 0 */
  jitter?: number;
  /**
   * How long after its TTL a stale copy is kept (ms). Within it, `getOrSet` serves the stale
   * copy while the loader refreshes it in the background (see `softTimeoutMs`) and falls back
   * to it when the loader fails (fail-safe). @default 0
   */
  graceMs?: number;
  /** Serve a stale copy when the loader throws or times out. @default true */
  failSafe?: boolean;
  /** After a fail-safe fallback, the loader is not called again for this long (ms). @default 30000 */
  failSafeThrottleMs?: number;
  /**
   * With a stale copy at hand, wait this long for the loader before serving the stale copy
   * (the loader goes on in the background). 0 serves the stale copy at once. @default 0
   */
  softTimeoutMs?: number;
  /** The loader is abandoned (its `signal` aborted) after this long (ms). @default no limit */
  hardTimeoutMs?: number;
  /**
   * When a hit finds less than this fraction of the TTL left, the loader refreshes the value in
   * the background (0 < fraction < 1). @default off
   */
  eagerRefresh?: number;
  /** Tags to invalidate the value by (`deleteByTag`, `expireByTag`). */
  tags?: readonly string[];
}

/** Options of `getOrSet` and `wrap`. */
export interface GetOrSetOptions extends EntryOptions {
  /**
   * Cache a loader's `undefined` ("nothing there") for this long (ms), so a missing row is not
   * looked up on every request. @default not cached
   */
  negativeTtlMs?: number;
  /** Run the loader once across every process sharing the Redis tier, not once per process. @default false */
  distributedLock?: boolean;
}

/** Options of {@link MultiLevelCache}. */
export interface MultiLevelCacheOptions extends Omit<EntryOptions, 'tags' | 'strategy'> {
  /** Tiers, fastest first: e.g. `[new MemoryStore(), new RedisStore(...), new FileStore(...)]`. */
  stores: readonly CacheStore[];
  /** Tells other caches which keys changed here, and evicts what they change. */
  bus?: InvalidationBus;
  /** Encodes values for the byte tiers. @default jsonSerializer */
  serializer?: CacheSerializer;
  /** Deflate large values in the byte tiers; `false` never compresses. @default { thresholdBytes: 16384, level: 1 } */
  compression?: Partial<CompressionOptions> | false;
  /** Timeout and circuit breaker of every byte tier. @default { timeoutMs: 250, failureThreshold: 5, timeoutThreshold: 1, breakDurationMs: 10000 } */
  remote?: Partial<RemoteTierOptions>;
  /** The cross-process lock of `distributedLock: true`. @default { ttlMs: 10000, waitMs: 5000, retryMs: 25 } */
  lock?: Partial<LockOptions>;
  /** This cache's identity on the bus. @default random */
  nodeId?: string;
  /** Label of this cache in metrics. @default 'default' */
  name?: string;
  clock?: Clock;
  logger?: Logger;
  meterProvider?: MeterProvider;
}

/** The distributed lock's timing. */
export interface LockOptions {
  /** The lock expires after this long even if its holder died (ms). */
  ttlMs: number;
  /** A caller waits this long for the holder's value, then fails with `E_LOCKED` (ms). */
  waitMs: number;
  /** How often a waiter looks for the value and retries the lock (ms). */
  retryMs: number;
}

const positive = z.number().positive();
const nonNegative = z.number().min(0);
const fraction = z.number().gt(0).lt(1);

export const entryOptionShape = {
  ttlMs: positive.optional(),
  jitter: nonNegative.optional(),
  graceMs: nonNegative.optional(),
  failSafe: z.boolean().optional(),
  failSafeThrottleMs: nonNegative.optional(),
  softTimeoutMs: nonNegative.optional(),
  hardTimeoutMs: positive.optional(),
  eagerRefresh: fraction.optional(),
};

export const cacheOptionsSchema = z.strictObject({
  ...entryOptionShape,
  stores: z
    .array(
      z.custom<CacheStore>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          ((v as CacheStore).kind === 'object' || (v as CacheStore).kind === 'bytes') &&
          typeof (v as CacheStore).get === 'function',
        { message: 'a CacheStore (MemoryStore, RedisStore, FileStore, ...)' },
      ),
    )
    .min(1),
  bus: z
    .custom<InvalidationBus>(
      (v) =>
        typeof v === 'object' && v !== null && typeof (v as InvalidationBus).publish === 'function',
      { message: 'an InvalidationBus (MemoryBus, RedisBus)' },
    )
    .optional(),
  serializer: z
    .custom<CacheSerializer>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as CacheSerializer).serialize === 'function' &&
        Number.isInteger((v as CacheSerializer).id) &&
        (v as CacheSerializer).id >= 1 &&
        (v as CacheSerializer).id <= 255,
      { message: 'a CacheSerializer with an id from 1 to 255' },
    )
    .optional(),
  compression: z
    .union([
      z.literal(false),
      z.strictObject({
        thresholdBytes: z.number().int().min(0).optional(),
        level: z.number().int().min(1).max(9).optional(),
      }),
    ])
    .optional(),
  remote: z
    .strictObject({
      timeoutMs: positive.optional(),
      failureThreshold: z.number().int().positive().optional(),
      timeoutThreshold: z.number().int().positive().optional(),
      breakDurationMs: positive.optional(),
    })
    .optional(),
  lock: z
    .strictObject({
      ttlMs: positive.optional(),
      waitMs: positive.optional(),
      retryMs: positive.optional(),
    })
    .optional(),
  nodeId: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  clock: commonOptionSchemas.clock.optional(),
  logger: commonOptionSchemas.logger.optional(),
  meterProvider: commonOptionSchemas.meterProvider.optional(),
});

/** Entry options with every default filled in: what one `set`/`getOrSet` runs with. */
export interface ResolvedEntryOptions {
  readonly noCache: boolean;
  readonly ttlMs: number;
  readonly jitter: number;
  readonly graceMs: number;
  readonly failSafe: boolean;
  readonly failSafeThrottleMs: number;
  readonly softTimeoutMs: number;
  readonly hardTimeoutMs: number | undefined;
  readonly eagerRefresh: number | undefined;
  readonly tags: readonly string[];
  readonly negativeTtlMs: number | undefined;
  readonly distributedLock: boolean;
}

const KNOWN_CALL_OPTIONS = new Set([
  'ttlMs',
  'strategy',
  'jitter',
  'graceMs',
  'failSafe',
  'failSafeThrottleMs',
  'softTimeoutMs',
  'hardTimeoutMs',
  'eagerRefresh',
  'tags',
  'negativeTtlMs',
  'distributedLock',
]);

function bad(operation: string, path: string, expected: string, received: unknown): never {
  throw new InvalidArgumentError(
    `${operation}(): option ${path} expected ${expected}, received ${describeValue(received)}`,
    { context: { operation, option: path } },
  );
}

/**
 * Merges per-call options over the cache's defaults. Hand-written rather than zod because it
 * runs on every `set`/`getOrSet` that passes options; it checks the same rules.
 */
export function resolveEntryOptions(
  operation: string,
  defaults: ResolvedEntryOptions,
  call: GetOrSetOptions | undefined,
): ResolvedEntryOptions {
  if (call === undefined) return defaults;
  if (typeof call !== 'object' || call === null) bad(operation, '(options)', 'an object', call);
  for (const key of Object.keys(call)) {
    if (!KNOWN_CALL_OPTIONS.has(key)) {
      bad(operation, key, `one of ${[...KNOWN_CALL_OPTIONS].join(', ')}`, key);
    }
  }
  let ttlMs = defaults.ttlMs;
  let noCache = false;
  if (call.strategy !== undefined) {
    const preset = (cacheStrategies as Record<string, { ttlMs: number }>)[call.strategy];
    if (!preset)
      bad(
        operation,
        'strategy',
        `one of ${Object.keys(cacheStrategies).join(', ')}`,
        call.strategy,
      );
    // A preset fills in only what the call leaves out: `{ strategy: 'noCache', ttlMs }` caches.
    if (call.ttlMs === undefined) {
      if (preset.ttlMs === 0) noCache = true;
      else ttlMs = preset.ttlMs;
    }
  }
  if (call.ttlMs !== undefined) {
    if (typeof call.ttlMs !== 'number' || !(call.ttlMs > 0)) {
      bad(operation, 'ttlMs', 'a number of milliseconds > 0 (or Infinity)', call.ttlMs);
    }
    ttlMs = call.ttlMs;
  }
  const num = (key: keyof GetOrSetOptions, min: number, inclusive: boolean, fallback: number) => {
    const value = call[key];
    if (value === undefined) return fallback;
    if (
      typeof value !== 'number' ||
      Number.isNaN(value) ||
      (inclusive ? value < min : value <= min)
    ) {
      bad(operation, key, `a number ${inclusive ? '>=' : '>'} ${min}`, value);
    }
    return value;
  };
  const bool = (key: 'failSafe' | 'distributedLock', fallback: boolean) => {
    const value = call[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') bad(operation, key, 'a boolean', value);
    return value;
  };
  const eagerRefresh = call.eagerRefresh ?? defaults.eagerRefresh;
  if (
    eagerRefresh !== undefined &&
    !(typeof eagerRefresh === 'number' && eagerRefresh > 0 && eagerRefresh < 1)
  ) {
    bad(operation, 'eagerRefresh', 'a fraction between 0 and 1 (exclusive)', eagerRefresh);
  }
  let tags = defaults.tags;
  if (call.tags !== undefined) {
    if (
      !Array.isArray(call.tags) ||
      !call.tags.every((t) => typeof t === 'string' && t.length > 0)
    ) {
      bad(operation, 'tags', 'an array of non-empty strings', call.tags);
    }
    tags = call.tags;
  }
  const hard =
    call.hardTimeoutMs === undefined ? defaults.hardTimeoutMs : num('hardTimeoutMs', 0, false, 0);
  const negative =
    call.negativeTtlMs === undefined ? defaults.negativeTtlMs : num('negativeTtlMs', 0, false, 0);
  return {
    noCache,
    ttlMs,
    jitter: num('jitter', 0, true, defaults.jitter),
    graceMs: num('graceMs', 0, true, defaults.graceMs),
    failSafe: bool('failSafe', defaults.failSafe),
    failSafeThrottleMs: num('failSafeThrottleMs', 0, true, defaults.failSafeThrottleMs),
    softTimeoutMs: num('softTimeoutMs', 0, true, defaults.softTimeoutMs),
    hardTimeoutMs: hard,
    eagerRefresh,
    tags,
    negativeTtlMs: negative,
    distributedLock: bool('distributedLock', defaults.distributedLock),
  };
}
