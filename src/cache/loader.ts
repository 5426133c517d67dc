import { sleep } from '../core/clock.js';
import { InvalidArgumentError, LockedError, TimeoutError } from '../core/errors.js';
import type { CacheCore, Found } from './cache-core.js';
import type { CacheFetchResult, Loader } from './cache-events.js';
import type { LockOptions, ResolvedEntryOptions } from './cache-options.js';
import { raceClock } from './clock-race.js';
import { type CacheEntry, isLockingStore } from './store.js';
import type { Tier } from './tier.js';

/** What one load of a key produced, shared by every caller waiting on it. */
interface Flight {
  readonly entry: CacheEntry;
  /** True when the loader failed and `entry` is the stale copy kept by fail-safe. */
  readonly failSafe: boolean;
}

const NOOP = () => {};

/** How old `entry` is at `now`; creation instants can run a few µs ahead of the clock. */
const ageOf = (entry: CacheEntry, now: number) => Math.max(0, now - entry.createdAt);

/**
 * `getOrSet`'s machinery: one load per key at a time in this process (and, with the distributed
 * lock, across processes), soft and hard timeouts, fail-safe fallback to a stale copy, and
 * background refreshes for grace and eager refresh.
 */
export class CacheLoader {
  readonly #core: CacheCore;
  readonly #lock: LockOptions;
  readonly #lockTier: number;
  /** Loads in progress, with the stale copy (if any) their callers may be served meanwhile. */
  readonly #flights = new Map<
    string,
    { promise: Promise<Flight>; stale: CacheEntry | undefined; eager: boolean }
  >();

  constructor(core: CacheCore, lock: LockOptions) {
    this.#core = core;
    this.#lock = lock;
    this.#lockTier = core.tiers.findIndex((tier) => isLockingStore(tier.store));
  }

  /** The signals of the loaders running now, aborted by {@link abortAll}. */
  readonly #running = new Set<AbortController>();

  /** Aborts every running loader's signal with `reason` (the cache is closing). */
  abortAll(reason: Error): void {
    for (const controller of this.#running) controller.abort(reason);
  }

  /** Tier walks in progress, shared by the callers of one key. */
  readonly #lookups = new Map<string, Promise<Found | undefined>>();

  get inflight(): number {
    return this.#flights.size;
  }

  async fetch<T>(
    key: string,
    loader: Loader<T>,
    options: ResolvedEntryOptions,
  ): Promise<CacheFetchResult<T>> {
    const core = this.#core;
    if (options.noCache) {
      core.counters.loaderCalls++;
      return {
        value: await loader({ signal: new AbortController().signal, stale: undefined }),
        state: 'miss',
        ageMs: 0,
      };
    }
    if (options.distributedLock && this.#lockTier < 0) {
      throw new InvalidArgumentError(
        'getOrSet(): distributedLock: true needs a tier that can lock across processes (RedisStore); this cache has none',
        { context: { option: 'distributedLock' } },
      );
    }
    // A load already running means the tiers hold nothing fresh: join it without reading them.
    const running = this.#flights.get(key);
    if (running !== undefined && !running.eager) {
      core.counters.misses++;
      return this.#await(key, running.promise, running.stale, options);
    }
    // Concurrent callers of one key share one walk of the tiers, so a burst on a cold key costs
    // one Redis read, not one per caller.
    let lookup = this.#lookups.get(key);
    if (lookup === undefined) {
      lookup = core.lookup(key).finally(() => this.#lookups.delete(key));
      this.#lookups.set(key, lookup);
    }
    const found = await lookup;
    const running2 = this.#flights.get(key);
    if (found === undefined && running2 !== undefined && !running2.eager) {
      core.counters.misses++;
      return this.#await(key, running2.promise, running2.stale, options);
    }
    const now = core.clock.now();
    if (found !== undefined && found.entry.staleAt > now) {
      core.counters.hits++;
      const { entry } = found;
      if (
        options.eagerRefresh !== undefined &&
        entry.staleAt - now < options.eagerRefresh * (entry.staleAt - entry.createdAt)
      ) {
        this.#background(key, this.#flight(key, loader, options, entry, true));
      }
      return { value: entry.value as T, state: 'hit', ageMs: ageOf(entry, now) };
    }
    core.counters.misses++;
    const stale = found?.entry;
    return this.#await(key, this.#flight(key, loader, options, stale), stale, options);
  }

  async #await<T>(
    key: string,
    flight: Promise<Flight>,
    stale: CacheEntry | undefined,
    options: ResolvedEntryOptions,
  ): Promise<CacheFetchResult<T>> {
    const core = this.#core;
    if (stale === undefined) return this.#answer(await flight);
    this.#background(key, flight);
    if (options.softTimeoutMs > 0) {
      const settled = await this.#within(flight, options.softTimeoutMs);
      if (settled !== undefined) return this.#answer(settled);
    }
    core.counters.staleServed++;
    return { value: stale.value as T, state: 'stale', ageMs: ageOf(stale, core.clock.now()) };
  }

  #answer<T>(flight: Flight): CacheFetchResult<T> {
    const core = this.#core;
    if (flight.failSafe) core.counters.staleServed++;
    return {
      value: flight.entry.value as T,
      state: flight.failSafe ? 'stale' : 'miss',
      ageMs: ageOf(flight.entry, core.clock.now()),
    };
  }

  /** Reports a background flight's failure instead of leaving it unhandled. */
  #background(key: string, flight: Promise<Flight>): void {
    flight.catch((error: unknown) => this.#core.emit('loader:error', { key, error }));
  }

  /** Resolves to the flight's result if it settles within `ms`, else to `undefined`. */
  #within(flight: Promise<Flight>, ms: number): Promise<Flight | undefined> {
    return raceClock(this.#core.clock, flight, ms, () => undefined);
  }

  #flight<T>(
    key: string,
    loader: Loader<T>,
    options: ResolvedEntryOptions,
    stale: CacheEntry | undefined,
    eager = false,
  ): Promise<Flight> {
    const running = this.#flights.get(key);
    if (running !== undefined) return running.promise;
    const promise = (
      options.distributedLock
        ? this.#locked(key, loader, options, stale)
        : this.#load(key, loader, options, stale)
    ).finally(() => this.#flights.delete(key));
    this.#flights.set(key, { promise, stale, eager });
    return promise;
  }

  async #load<T>(
    key: string,
    loader: Loader<T>,
    options: ResolvedEntryOptions,
    stale: CacheEntry | undefined,
  ): Promise<Flight> {
    const core = this.#core;
    core.counters.loaderCalls++;
    let value: T;
    try {
      value = await this.#run(key, loader, options, stale);
    } catch (error) {
      core.counters.loaderErrors++;
      if (error instanceof TimeoutError) core.counters.loaderTimeouts++;
      const now = core.clock.now();
      if (stale !== undefined && options.failSafe && stale.expiresAt > now) {
        // Throttle: no new loader call for a while. An eager refresh's entry is still fresh; keep it so.
        const throttledUntil = Math.min(now + options.failSafeThrottleMs, stale.expiresAt);
        const kept: CacheEntry = { ...stale, staleAt: Math.max(stale.staleAt, throttledUntil) };
        core.writeLocal(key, kept);
        core.emit('failsafe', { key, error });
        return { entry: kept, failSafe: true };
      }
      throw error;
    }
    const negative = value === undefined;
    const entry = core.createEntry(value, options, negative);
    if (!negative || options.negativeTtlMs !== undefined) await core.write(key, entry, true);
    return { entry, failSafe: false };
  }

  /** Calls the loader under the hard timeout; the loader's own errors pass through unchanged. */
  #run<T>(
    key: string,
    loader: Loader<T>,
    options: ResolvedEntryOptions,
    stale: CacheEntry | undefined,
  ): Promise<T> {
    const controller = new AbortController();
    const context = { signal: controller.signal, stale: stale?.value as T | undefined };
    const hard = options.hardTimeoutMs;
    let pending: Promise<T>;
    try {
      pending = Promise.resolve(loader(context));
    } catch (error) {
      return Promise.reject(error);
    }
    this.#running.add(controller);
    pending = pending.finally(() => this.#running.delete(controller));
    if (hard === undefined) return pending;
    return raceClock(this.#core.clock, pending, hard, () => {
      const error = new TimeoutError(
        `Cache loader for "${key}" did not finish within hardTimeoutMs ${hard} ms`,
        {
          context: { key, hardTimeoutMs: hard },
        },
      );
      controller.abort(error);
      throw error;
    });
  }

  /**
   * One loader run across processes: the lock holder loads; the others poll the shared tier
   * for its value until `waitMs`, then fail with `E_LOCKED` (or fall back to a stale copy).
   * If the lock's tier is unreachable, the load goes ahead in this process alone.
   */
  async #locked<T>(
    key: string,
    loader: Loader<T>,
    options: ResolvedEntryOptions,
    stale: CacheEntry | undefined,
  ): Promise<Flight> {
    const core = this.#core;
    const tier = core.tiers[this.#lockTier] as Tier;
    const store = tier.store;
    if (!isLockingStore(store)) return this.#load(key, loader, options, stale);
    const deadline = core.clock.now() + this.#lock.waitMs;
    for (;;) {
      const attempt = await tier.call('lock', async () => ({
        token: await store.lock.tryAcquire(key, this.#lock.ttlMs),
      }));
      if (attempt === undefined) return this.#load(key, loader, options, stale);
      if (attempt.token !== undefined) {
        const token = attempt.token;
        try {
          const fresh = this.#fresh(await core.lookup(key, this.#lockTier));
          return fresh ?? (await this.#load(key, loader, options, stale));
        } finally {
          void tier.call('unlock', () => store.lock.release(key, token)).then(NOOP);
        }
      }
      if (core.clock.now() >= deadline) {
        if (stale !== undefined && options.failSafe) return { entry: stale, failSafe: true };
        throw new LockedError(
          `getOrSet("${key}"): another process held the loader lock for more than lock.waitMs ${this.#lock.waitMs} ms`,
          { context: { key, waitMs: this.#lock.waitMs } },
        );
      }
      await sleep(core.clock, this.#lock.retryMs);
      const fresh = this.#fresh(await core.lookup(key, this.#lockTier));
      if (fresh) return fresh;
    }
  }

  #fresh(found: Found | undefined): Flight | undefined {
    return found !== undefined && found.entry.staleAt > this.#core.clock.now()
      ? { entry: found.entry, failSafe: false }
      : undefined;
  }
}
