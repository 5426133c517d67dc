export type { InvalidationBus, InvalidationMessage, InvalidationType } from './bus.js';
export { MemoryBus } from './buses/memory-bus.js';
export {
  CacheApi,
  CacheNamespace,
  type GetOptions,
  type WrapOptions,
} from './cache-api.js';
export type {
  CacheEvents,
  CacheFetchResult,
  CacheFetchState,
  CacheStats,
  Loader,
  LoaderContext,
} from './cache-events.js';
export type {
  EntryOptions,
  GetOrSetOptions,
  LockOptions,
  MultiLevelCacheOptions,
} from './cache-options.js';
export { cached } from './cached.js';
export type { CircuitBreakerOptions, CircuitState } from './circuit-breaker.js';
export type { CompressionOptions } from './entry-codec.js';
export {
  type HttpResponseData,
  type ServeCachedOptions,
  serveCached,
} from './http-response-cache.js';
export { MultiLevelCache } from './multi-level-cache.js';
export { binarySerializer, type CacheSerializer, jsonSerializer } from './serializers.js';
export type {
  ByteCacheStore,
  CacheEntry,
  CacheStore,
  DistributedLock,
  EvictionListener,
  EvictionReason,
  LockingStore,
  MaybePromise,
  ObjectCacheStore,
} from './store.js';
export { FileStore, type FileStoreOptions } from './stores/file-store.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory-store.js';
export { type CacheStrategy, cacheStrategies } from './strategies.js';
export type { RemoteTierOptions, TierStats } from './tier.js';
