export {
  type DType,
  type DTypeArrays,
  type DTypeOf,
  type Float16ArrayLike,
  hasFloat16Array,
  type TypedArrayConstructor,
} from './dtypes.js';
export { Lease } from './lease.js';
export { MemoryPool } from './memory-pool.js';
export type {
  LeakEvent,
  MemoryPoolEvents,
  TrimEvent,
  TrimOptions,
  TrimReason,
} from './memory-pool-events.js';
export type { MemoryPoolOptions } from './memory-pool-options.js';
export type { MemoryPoolStats } from './memory-pool-stats.js';
export { PoolGroup, type PoolGroupOptions, type PoolGroupStats } from './pool-group.js';
export { CLASSES_PER_DOUBLING, MIN_CLASS_BYTES, sizeClassOf } from './size-classes.js';
