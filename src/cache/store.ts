/**
 * The `CacheStore` contract: one tier of a {@link MultiLevelCache}. A store keeps records under
 * full keys (namespace prefix included) and knows nothing of TTL semantics beyond the physical
 * expiry it is given; freshness, grace and tags are the cache's business, read from the
 * {@link CacheEntry} it stores.
 *
 * Two kinds exist, so the memory tier never pays for serialisation:
 * - `object` stores (memory) keep the live {@link CacheEntry};
 * - `bytes` stores (Redis, file) keep the entry encoded by `encodeEntry` as one `Uint8Array`.
 */

/** A value or a promise of it: object stores answer synchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** What a cache keeps per key, in every tier. */
export interface CacheEntry {
  /** The cached value; `undefined` only for a negative entry. */
  readonly value: unknown;
  /** When the value was produced (ms since the epoch). */
  readonly createdAt: number;
  /** After this instant the value is stale (ms since the epoch; `Infinity` = never). */
  readonly staleAt: number;
  /** After this instant not even a stale copy may be served (`staleAt` + grace). */
  readonly expiresAt: number;
  /** Tags the entry was set with, for invalidation by tag. */
  readonly tags: readonly string[];
  /** True for an explicit negative entry: "the loader found nothing", cached. */
  readonly negative: boolean;
  /** Bytes of the serialised value when a byte tier produced it; sizes the memory tier. */
  readonly size?: number;
}

/** Why a store dropped a record on its own. */
export type EvictionReason = 'capacity' | 'expired';

/** Called by a store when it drops a record by itself (not on `delete`/`clear`). */
export type EvictionListener = (key: string, reason: EvictionReason) => void;

interface StoreBase<R> {
  /** Name in stats, metrics and errors: `memory`, `redis`, `file`. */
  readonly name: string;
  /**
   * True when other processes or hosts read this store (Redis). Local tiers (memory, a
   * directory on this host) are evicted when the invalidation bus reports a change elsewhere.
   */
  readonly shared: boolean;
  /** The record under `key`, or `undefined` when absent or physically expired. */
  get(key: string): MaybePromise<R | undefined>;
  /** Stores `record`; `ttlMs` is the physical lifetime (`undefined` = no expiry). */
  set(key: string, record: R, ttlMs: number | undefined): MaybePromise<void>;
  /** Removes the keys; absent keys are ignored. */
  delete(keys: readonly string[]): MaybePromise<void>;
  /** Removes every key that starts with `prefix` (`''` removes everything the store owns). */
  clear(prefix: string): MaybePromise<void>;
  /** Registers the listener for records the store evicts by itself. */
  onEvict(listener: EvictionListener): void;
  /** Releases connections, handles and timers; idempotent. */
  close(): Promise<void>;
}

/** A store that keeps live {@link CacheEntry} objects (the memory tier). */
export interface ObjectCacheStore extends StoreBase<CacheEntry> {
  readonly kind: 'object';
  /** Synchronous, so a memory hit costs no promise until the cache's own. */
  get(key: string): CacheEntry | undefined;
  set(key: string, record: CacheEntry, ttlMs: number | undefined): void;
  delete(keys: readonly string[]): void;
  clear(prefix: string): void;
}

/** A store that keeps entries encoded as bytes (Redis, files). */
export interface ByteCacheStore extends StoreBase<Uint8Array> {
  readonly kind: 'bytes';
}

/** Any tier a {@link MultiLevelCache} can stack. */
export type CacheStore = ObjectCacheStore | ByteCacheStore;

/**
 * A cross-process mutual exclusion a store may provide (Redis does), used by
 * `getOrSet(..., { distributedLock: true })`.
 */
export interface DistributedLock {
  /** Takes the lock for `ttlMs`; resolves to a release token, or `undefined` when held elsewhere. */
  tryAcquire(key: string, ttlMs: number): Promise<string | undefined>;
  /** Releases the lock if `token` still holds it. */
  release(key: string, token: string): Promise<void>;
}

/** A store that can also lock across processes. */
export interface LockingStore {
  readonly lock: DistributedLock;
}

/** True when `store` provides a {@link DistributedLock}. */
export function isLockingStore(store: CacheStore): store is CacheStore & LockingStore {
  return typeof (store as Partial<LockingStore>).lock === 'object';
}
