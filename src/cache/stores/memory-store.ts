import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { commonOptionSchemas, parseOptions } from '../../core/options.js';
import type { CacheEntry, EvictionListener, ObjectCacheStore } from '../store.js';
import { estimateSize } from '../value-size.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** At most this many entries; the least recently used go first. @default 10000 */
  maxEntries?: number;
  /**
   * At most this many bytes of values. A value's size is its serialised size when another tier
   * already serialised it, else an estimate from walking it (cost: one walk per `set`).
   * @default no byte bound
   */
  maxBytes?: number;
  clock?: Clock;
}

const schema = z.strictObject({
  maxEntries: z.number().int().positive().optional(),
  maxBytes: z.number().int().positive().optional(),
  clock: commonOptionSchemas.clock.optional(),
});

/**
 * The L1 tier: live values in an `lru-cache`, bounded by entries and optionally by bytes. Reads
 * are synchronous and copy nothing, so callers share the cached object: do not mutate it.
 */
export class MemoryStore implements ObjectCacheStore {
  readonly kind = 'object';
  readonly name = 'memory';
  readonly shared = false;
  readonly #lru: LRUCache<string, CacheEntry>;
  #onEvict: EvictionListener | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const opts = parseOptions('MemoryStore', schema, options);
    const clock = opts.clock ?? systemClock;
    this.#lru = new LRUCache<string, CacheEntry>({
      max: opts.maxEntries ?? 10_000,
      ...(opts.maxBytes === undefined
        ? {}
        : {
            maxSize: opts.maxBytes,
            sizeCalculation: (entry: CacheEntry) =>
              Math.max(1, entry.size ?? estimateSize(entry.value)),
          }),
      perf: { now: () => clock.now() },
      // lru-cache caches now() for ttlResolution ms on a real timer; the clock may be a manual one.
      ttlResolution: 0,
      disposeAfter: (_entry, key, reason) => {
        if (reason === 'evict') this.#onEvict?.(key, 'capacity');
        else if (reason === 'expire') this.#onEvict?.(key, 'expired');
      },
    });
  }

  /** Entries held now. */
  get size(): number {
    return this.#lru.size;
  }

  /** Bytes held now (0 without `maxBytes`). */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  get(key: string): CacheEntry | undefined {
    return this.#lru.get(key);
  }

  set(key: string, record: CacheEntry, ttlMs: number | undefined): void {
    this.#lru.set(key, record, ttlMs === undefined ? undefined : { ttl: ttlMs });
  }

  delete(keys: readonly string[]): void {
    for (const key of keys) this.#lru.delete(key);
  }

  clear(prefix: string): void {
    if (prefix === '') {
      this.#lru.clear();
      return;
    }
    const doomed: string[] = [];
    for (const key of this.#lru.keys()) if (key.startsWith(prefix)) doomed.push(key);
    this.delete(doomed);
  }

  onEvict(listener: EvictionListener): void {
    this.#onEvict = listener;
  }

  async close(): Promise<void> {
    this.#lru.clear();
  }
}
