import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { systemClock } from '../core/clock.js';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { componentLogger } from '../core/logger.js';
import { salamaMeter } from '../core/metrics.js';
import { parseOptions } from '../core/options.js';
import { CacheCore } from './cache-core.js';
import type { CacheEvents, CacheFetchResult, CacheStats, Loader } from './cache-events.js';
import { recordCacheMetrics } from './cache-metrics.js';
import {
  cacheOptionsSchema,
  type EntryOptions,
  type GetOrSetOptions,
  type MultiLevelCacheOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
} from './cache-options.js';
import { defaultCompression } from './entry-codec.js';
import { CacheLoader } from './loader.js';
import { jsonSerializer } from './serializers.js';
import { Tier } from './tier.js';

/** Options of {@link CacheApi.get}. */
export interface GetOptions {
  /** Return a stale copy (within its grace period) instead of `undefined`. @default false */
  allowStale?: boolean;
}

/** Options of {@link CacheApi.wrap}. */
export interface WrapOptions<A extends unknown[]> extends GetOrSetOptions {
  /** The cache key of a call. @default the function's name and its JSON-encoded arguments */
  key?: (...args: A) => string;
}

function checkKey(operation: string, key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError(
      `${operation}(): expected a non-empty string key, received ${describeValue(key)}`,
      {
        context: { operation },
      },
    );
  }
}

interface Shared {
  readonly core: CacheCore;
  readonly loader: CacheLoader;
  readonly lifecycle: Lifecycle;
}

/**
 * The operations of a cache, on the root ({@link MultiLevelCache}) and on each namespace. Keys
 * of a namespace are stored as `<namespace>:<key>`.
 */
export abstract class CacheApi {
  readonly #shared: Shared;
  readonly #prefix: string;

  protected constructor(shared: Shared, prefix: string) {
    this.#shared = shared;
    this.#prefix = prefix;
  }

  /** The fresh value of `key`, or `undefined` (also for a cached "nothing there"). */
  get<T = unknown>(key: string, options?: GetOptions): Promise<T | undefined> {
    try {
      this.#open('get');
      checkKey('get', key);
    } catch (error) {
      return Promise.reject(error);
    }
    const { core } = this.#shared;
    const full = this.#prefix + key;
    const hit = core.peekFresh(full, core.clock.now());
    if (hit !== undefined) return Promise.resolve(hit.value as T);
    return this.#getFromTiers(full, options?.allowStale === true);
  }

  async #getFromTiers<T>(full: string, allowStale: boolean): Promise<T | undefined> {
    const { core } = this.#shared;
    const found = await core.lookup(full);
    if (found !== undefined && (found.entry.staleAt > core.clock.now() || allowStale)) {
      core.counters.hits++;
      return found.entry.value as T;
    }
    core.counters.misses++;
    return undefined;
  }

  /** True when `key` has a fresh value (a cached "nothing there" is not a value). */
  async has(key: string): Promise<boolean> {
    this.#open('has');
    checkKey('has', key);
    const { core } = this.#shared;
    const found = await core.lookup(this.#prefix + key);
    return found !== undefined && !found.entry.negative && found.entry.staleAt > core.clock.now();
  }

  /**
   * Stores `value` in every tier and tells other caches to drop their copies. `undefined`
   * cannot be stored (use `delete`); a value the serializer refuses leaves the cache unchanged.
   */
  async set(key: string, value: unknown, options?: EntryOptions): Promise<void> {
    this.#open('set');
    checkKey('set', key);
    if (value === undefined) {
      throw new InvalidArgumentError(
        'set(): expected a value, received undefined; use delete() to remove a key',
        {
          context: { operation: 'set', key },
        },
      );
    }
    const resolved = this.#options('set', options);
    if (resolved.noCache) return;
    const { core } = this.#shared;
    await core.write(this.#prefix + key, core.createEntry(value, resolved, false), true);
  }

  /** Removes `key` from every tier here and, through the bus, from other caches' local tiers. */
  async delete(key: string): Promise<void> {
    this.#open('delete');
    checkKey('delete', key);
    await this.#shared.core.delete([this.#prefix + key]);
  }

  /** Marks `key` stale everywhere: a grace period still lets it be served while it refreshes. */
  async expire(key: string): Promise<void> {
    this.#open('expire');
    checkKey('expire', key);
    const { core } = this.#shared;
    const full = this.#prefix + key;
    const found = await core.lookup(full);
    if (found === undefined) return;
    const now = core.clock.now();
    await core.write(full, { ...found.entry, staleAt: Math.min(found.entry.staleAt, now) }, true);
  }

  /**
   * The value of `key`; on a miss `loader` runs once however many callers ask at the same time,
   * and its result is stored. See {@link GetOrSetOptions} for grace, fail-safe, timeouts,
   * eager refresh, negative caching and the distributed lock. The loader's errors reach the
   * caller unchanged; a hard timeout is `E_TIMEOUT`.
   */
  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T> {
    let resolved: ResolvedEntryOptions;
    try {
      resolved = this.#checkFetch(key, loader, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { core } = this.#shared;
    const full = this.#prefix + key;
    if (resolved.eagerRefresh === undefined && !resolved.noCache) {
      const hit = core.peekFresh(full, core.clock.now());
      if (hit !== undefined) return Promise.resolve(hit.value as T);
    }
    return this.#shared.loader.fetch(full, loader, resolved).then((result) => result.value);
  }

  /** {@link getOrSet}, also saying whether the value was a hit, a miss or a stale copy, and its age. */
  fetch<T>(
    key: string,
    loader: Loader<T>,
    options?: GetOrSetOptions,
  ): Promise<CacheFetchResult<T>> {
    let resolved: ResolvedEntryOptions;
    try {
      resolved = this.#checkFetch(key, loader, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#shared.loader.fetch(this.#prefix + key, loader, resolved);
  }

  #checkFetch(
    key: string,
    loader: unknown,
    options: GetOrSetOptions | undefined,
  ): ResolvedEntryOptions {
    this.#open('getOrSet');
    checkKey('getOrSet', key);
    if (typeof loader !== 'function') {
      throw new InvalidArgumentError(
        `getOrSet(): expected a loader function, received ${describeValue(loader)}`,
        {
          context: { operation: 'getOrSet', key },
        },
      );
    }
    return this.#options('getOrSet', options);
  }

  /** `fn` with its results cached per arguments. */
  wrap<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: WrapOptions<A> = {},
  ): (...args: A) => Promise<R> {
    const { key, ...rest } = options;
    if (key === undefined && fn.name === '') {
      throw new InvalidArgumentError(
        'wrap(): an anonymous function needs options.key to name its cache entries',
        {
          context: { operation: 'wrap' },
        },
      );
    }
    const keyOf = key ?? ((...args: A) => `${fn.name}:${JSON.stringify(args)}`);
    const resolved = this.#options('wrap', rest);
    return (...args: A) => {
      this.#open('wrap');
      const cacheKey = keyOf(...args);
      checkKey('wrap', cacheKey);
      return this.#shared.loader
        .fetch(this.#prefix + cacheKey, () => fn(...args), resolved)
        .then((result) => result.value as R);
    };
  }

  /** Every entry carrying one of `tags` becomes a miss, here and on other caches. */
  async deleteByTag(tags: readonly string[]): Promise<void> {
    this.#open('deleteByTag');
    await this.#shared.core.tags.invalidate('delete-tags', this.#tags('deleteByTag', tags));
  }

  /** Every entry carrying one of `tags` becomes stale (servable within its grace period). */
  async expireByTag(tags: readonly string[]): Promise<void> {
    this.#open('expireByTag');
    await this.#shared.core.tags.invalidate('expire-tags', this.#tags('expireByTag', tags));
  }

  /** Removes every key of this namespace (all keys on the root) from every tier and every cache. */
  async clear(): Promise<void> {
    this.#open('clear');
    await this.#shared.core.clear(this.#prefix);
  }

  /** A view whose keys live under `name`; `clear()` on it clears only them. */
  namespace(name: string): CacheNamespace {
    checkKey('namespace', name);
    return new CacheNamespace(this.#shared, `${this.#prefix}${name}:`);
  }

  #open(operation: string): void {
    this.#shared.lifecycle.assertOpen(operation);
  }

  #options(operation: string, options: GetOrSetOptions | undefined): ResolvedEntryOptions {
    return resolveEntryOptions(operation, this.#shared.core.defaults, options);
  }

  #tags(operation: string, tags: readonly string[]): readonly string[] {
    if (
      !Array.isArray(tags) ||
      tags.length === 0 ||
      !tags.every((t) => typeof t === 'string' && t.length > 0)
    ) {
      throw new InvalidArgumentError(
        `${operation}(): expected a non-empty array of non-empty tag strings, received ${describeValue(tags)}`,
        {
          context: { operation },
        },
      );
    }
    return tags;
  }
}

/** A namespace of a {@link MultiLevelCache}: same tiers, keys under a prefix. */
export class CacheNamespace extends CacheApi {
  /** @internal */
  constructor(shared: Shared, prefix: string) {
    super(shared, prefix);
  }
}

/**
 * A cache over tiers (memory, Redis, files, in the order given) that loads each missing key
 * once, serves stale copies while refreshing or when the loader fails, keeps going when a tier
 * is slow or down, and stays coherent with other caches through an invalidation bus.
 */
export class MultiLevelCache extends CacheApi {
  readonly #shared: Shared;
  readonly #events: EventEmitter<CacheEvents>;

  constructor(options: MultiLevelCacheOptions) {
    const opts = parseOptions('MultiLevelCache', cacheOptionsSchema, options);
    const clock = opts.clock ?? systemClock;
    const logger = componentLogger(opts.logger, 'MultiLevelCache');
    const events = new EventEmitter<CacheEvents>();
    const remote = {
      timeoutMs: opts.remote?.timeoutMs ?? 250,
      failureThreshold: opts.remote?.failureThreshold ?? 5,
      timeoutThreshold: opts.remote?.timeoutThreshold ?? 1,
      breakDurationMs: opts.remote?.breakDurationMs ?? 10_000,
    };
    let core: CacheCore | undefined;
    const tiers = opts.stores.map(
      (store) =>
        new Tier(store, remote, clock, {
          onError: (tier, operation, error) => core?.reportTierError(tier, operation, error),
          onCircuit: (tier, state) => core?.emit('circuit', { tier: tier.name, state }),
        }),
    );
    const defaults: ResolvedEntryOptions = Object.freeze({
      noCache: false,
      ttlMs: opts.ttlMs ?? 5 * 60_000,
      jitter: opts.jitter ?? 0,
      graceMs: opts.graceMs ?? 0,
      failSafe: opts.failSafe ?? true,
      failSafeThrottleMs: opts.failSafeThrottleMs ?? 30_000,
      softTimeoutMs: opts.softTimeoutMs ?? 0,
      hardTimeoutMs: opts.hardTimeoutMs,
      eagerRefresh: opts.eagerRefresh,
      tags: Object.freeze([]),
      negativeTtlMs: undefined,
      distributedLock: false,
    });
    core = new CacheCore({
      tiers,
      codec: {
        serializer: opts.serializer ?? jsonSerializer,
        compression:
          opts.compression === false ? false : { ...defaultCompression, ...opts.compression },
      },
      clock,
      logger,
      defaults,
      nodeId: opts.nodeId ?? randomBytes(9).toString('base64url'),
      bus: opts.bus,
      events,
    });
    const loader = new CacheLoader(core, {
      ttlMs: opts.lock?.ttlMs ?? 10_000,
      waitMs: opts.lock?.waitMs ?? 5_000,
      retryMs: opts.lock?.retryMs ?? 25,
    });
    let stopMetrics = () => {};
    const lifecycle = new Lifecycle('MultiLevelCache', async () => {
      stopMetrics();
      core.close();
      await Promise.all(opts.stores.map((store) => store.close()));
    });
    const shared: Shared = { core, loader, lifecycle };
    super(shared, '');
    this.#shared = shared;
    this.#events = events;
    for (const tier of tiers) {
      tier.store.onEvict((key, reason) => core.emit('evict', { tier: tier.name, key, reason }));
    }
    stopMetrics = recordCacheMetrics(salamaMeter(opts.meterProvider), opts.name ?? 'default', () =>
      this.stats(),
    );
  }

  /** This cache's identity on the bus. */
  get nodeId(): string {
    return this.#shared.core.nodeId;
  }

  /** Counters of the cache and of each tier. */
  stats(): CacheStats {
    const { core, loader } = this.#shared;
    const c = core.counters;
    const reads = c.hits + c.misses;
    return {
      hits: c.hits,
      misses: c.misses,
      hitRate: reads === 0 ? 0 : c.hits / reads,
      staleServed: c.staleServed,
      loaderCalls: c.loaderCalls,
      loaderErrors: c.loaderErrors,
      loaderTimeouts: c.loaderTimeouts,
      inflight: loader.inflight,
      bus: { published: c.busPublished, received: c.busReceived, errors: c.busErrors },
      tiers: core.tiers.map((tier) => tier.stats()),
    };
  }

  on<K extends keyof CacheEvents>(event: K, listener: (...args: CacheEvents[K]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  off<K extends keyof CacheEvents>(event: K, listener: (...args: CacheEvents[K]) => void): this {
    this.#events.off(event, listener as never);
    return this;
  }

  once<K extends keyof CacheEvents>(event: K, listener: (...args: CacheEvents[K]) => void): this {
    this.#events.once(event, listener as never);
    return this;
  }

  /** Stops bus delivery and metrics and closes the stores (not a Redis client you passed in). */
  close(): Promise<void> {
    return this.#shared.lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
