import type { DType } from './dtypes.js';

/** Why idle buffers were freed. */
export type TrimReason = 'manual' | 'budget' | 'idle' | 'close';

/** Payload of the `trim` event. */
export interface TrimEvent {
  readonly pool: string;
  readonly reason: TrimReason;
  readonly buffers: number;
  readonly bytes: number;
}

/** Payload of the `leak` event: a lease was garbage-collected without being released. */
export interface LeakEvent {
  readonly pool: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  /** Bytes of the buffer that was lost to the pool. */
  readonly bytes: number;
  /** Where the lease was acquired; only with `debug: true`. */
  readonly stack: string | undefined;
}

/** Events a {@link MemoryPool} emits. */
export interface MemoryPoolEvents {
  leak: [LeakEvent];
  trim: [TrimEvent];
}

/** Options of {@link MemoryPool.trim}. */
export interface TrimOptions {
  /** Stop once at most this many idle bytes remain. @default 0 */
  keepBytes?: number;
  /** Free only buffers idle for at least this long (ms). @default 0 */
  idleForMs?: number;
}

/** A budget shared by several pools (a {@link PoolGroup}); internal protocol. */
export interface SharedBudget {
  readonly maxBytes: number;
  retainedBytes(): number;
  /** Frees idle buffers across the group, least recently used first, until `bytes` are free. */
  reclaim(bytes: number): void;
}

/** What the pool remembers of a lease, to report it if it leaks. */
export interface LeakRecord {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly capacity: number;
  readonly overflow: boolean;
  readonly stack: string | undefined;
}
