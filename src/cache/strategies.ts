/**
 * The seeds' cache strategies as option presets: pass `{ strategy: 'short' }` to `set`,
 * `getOrSet` or `wrap`, or spread `cacheStrategies.long` into options.
 */
export const cacheStrategies = Object.freeze({
  /** Never cached: `getOrSet` always calls the loader and stores nothing (unless `ttlMs` is given beside it). */
  noCache: Object.freeze({ ttlMs: 0 }),
  /** Five minutes. */
  short: Object.freeze({ ttlMs: 5 * 60_000 }),
  /** One hour. */
  medium: Object.freeze({ ttlMs: 60 * 60_000 }),
  /** Twenty-four hours. */
  long: Object.freeze({ ttlMs: 24 * 60 * 60_000 }),
  /** Until deleted or evicted. */
  persistent: Object.freeze({ ttlMs: Number.POSITIVE_INFINITY }),
});

/** A strategy's name. */
export type CacheStrategy = keyof typeof cacheStrategies;
