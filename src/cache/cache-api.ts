import { describeValue, InvalidArgumentError } from '../core/errors.js';
import type { Lifecycle } from '../core/lifecycle.js';
import type { CacheCore } from './cache-core.js';
import type { CacheFetchResult, Loader } from './cache-events.js';
import {
  type EntryOptions,
  type GetOrSetOptions,
  type ResolvedEntryOptions,
  resolveEntryOptions,
} from './cache-options.js';
import type { CacheLoader } from './loader.js';
import { expireAt } from './tag-registry.js';

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
  // NUL is kept for the cache's own records (tags, locks), which no user key may reach.
  if (typeof key !== 'string' || key.length === 0 || key.includes('\u0000')) {
    throw new InvalidArgumentError(
      `${operation}(): expected a non-empty string key without NUL characters, received ${describeValue(key)}`,
      {
        context: { operation },
      },
    );
  }
}

/** What a cache and its namespaces share; internal. */
export interface CacheShared {
  readonly core: CacheCore;
  readonly loader: CacheLoader;
  readonly lifecycle: Lifecycle;
}

/**
 * The operations of a cache, on the root ({@link MultiLevelCache}) and on each namespace. Keys
 * of a namespace are stored as `<namespace>:<key>`.
 */
export abstract class CacheApi {
  readonly #shared: CacheShared;
  readonly #prefix: string;

  protected constructor(shared: CacheShared, prefix: string) {
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
    await core.write(full, expireAt(found.entry, core.clock.now(), core.defaults.graceMs), true);
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
  constructor(shared: CacheShared, prefix: string) {
    super(shared, prefix);
  }
}
