import type { InvalidationMessage } from './bus.js';
import type { CircuitState } from './circuit-breaker.js';
import type { EvictionReason } from './store.js';
import type { TierStats } from './tier.js';

/** Events a {@link MultiLevelCache} emits. */
export interface CacheEvents {
  /** A tier dropped a value by itself (capacity or expiry). */
  evict: [{ readonly tier: string; readonly key: string; readonly reason: EvictionReason }];
  /** A message from another cache arrived on the bus and was applied. */
  bus: [InvalidationMessage];
  /** A byte tier's circuit changed state. */
  circuit: [{ readonly tier: string; readonly state: CircuitState }];
  /** A stale copy was kept because the loader failed or timed out. */
  failsafe: [{ readonly key: string; readonly error: unknown }];
  /** A tier call failed or timed out; the cache went on without it. */
  'tier:error': [{ readonly tier: string; readonly operation: string; readonly error: Error }];
  /** A background refresh (grace, soft timeout, eager refresh) failed with nobody awaiting it. */
  'loader:error': [{ readonly key: string; readonly error: unknown }];
}

/** A snapshot of a cache's counters. */
export interface CacheStats {
  /** Reads answered with a fresh value. */
  readonly hits: number;
  /** Reads that found nothing fresh. */
  readonly misses: number;
  /** `hits / (hits + misses)`, 0 before the first read. */
  readonly hitRate: number;
  /** Stale copies served (grace, soft timeout or fail-safe). */
  readonly staleServed: number;
  readonly loaderCalls: number;
  /** Loader calls that threw or hit the hard timeout. */
  readonly loaderErrors: number;
  readonly loaderTimeouts: number;
  /** Keys being loaded right now. */
  readonly inflight: number;
  readonly bus: {
    readonly published: number;
    readonly received: number;
    readonly errors: number;
  };
  /** One entry per tier, in stack order. */
  readonly tiers: readonly TierStats[];
}

/** How a `fetch` was answered. */
export type CacheFetchState = 'hit' | 'miss' | 'stale';

/** What `fetch` resolves to. */
export interface CacheFetchResult<T> {
  readonly value: T;
  /** `hit`: fresh from a tier; `miss`: from the loader; `stale`: a stale copy was served. */
  readonly state: CacheFetchState;
  /** Milliseconds since the value was produced. */
  readonly ageMs: number;
}

/** What a loader receives. */
export interface LoaderContext<T> {
  /** Aborted when the hard timeout passes; pass it on to `fetch`, database drivers, etc. */
  readonly signal: AbortSignal;
  /** The stale copy being refreshed, when there is one. */
  readonly stale: T | undefined;
}

/** Produces the value of a missing or stale key. */
export type Loader<T> = (context: LoaderContext<T>) => T | Promise<T>;
