import { z } from 'zod';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { parseOptions } from '../core/options.js';
import { MemoryPool, poolInternals } from './memory-pool.js';
import type { SharedBudget } from './memory-pool-events.js';
import type { MemoryPoolOptions } from './memory-pool-options.js';
import type { MemoryPoolStats } from './memory-pool-stats.js';

/** Options of {@link PoolGroup}. */
export interface PoolGroupOptions {
  /**
   * Most bytes all pools of the group hold together. When a pool needs room, idle buffers are
   * reclaimed from any pool of the group, least recently used first. Each pool's own
   * `maxBytes` still applies.
   * @default Infinity (only the per-pool budgets apply)
   */
  maxBytes?: number;
  /** Pools to create now, by name; their `name` option is set from the key. */
  pools?: Record<string, Omit<MemoryPoolOptions, 'name'>>;
}

const groupSchema = z
  .object({
    maxBytes: z.number().int().positive().optional(),
    pools: z.record(z.string().min(1), z.record(z.string(), z.unknown())).default({}),
  })
  .strict();

/** `stats()` of a {@link PoolGroup}: every pool's stats and the group's totals. */
export interface PoolGroupStats {
  readonly maxBytes: number;
  /** `bytesLeased + bytesPooled` over all pools. */
  readonly bytesRetained: number;
  readonly pools: Readonly<Record<string, MemoryPoolStats>>;
}

/**
 * Named pools with their own budgets under one optional shared budget: one pool per service
 * or per model (`ocr`, `detector`, `frames`), so one cannot starve the others.
 */
export class PoolGroup implements SharedBudget {
  /** The group budget in bytes; `Infinity` when unset. */
  readonly maxBytes: number;
  readonly #pools = new Map<string, MemoryPool>();
  readonly #lifecycle = new Lifecycle('PoolGroup', () => this.#shutdown());

  constructor(options: PoolGroupOptions = {}) {
    const o = parseOptions('PoolGroup', groupSchema, options);
    this.maxBytes = o.maxBytes ?? Number.POSITIVE_INFINITY;
    for (const [name, poolOptions] of Object.entries(options.pools ?? {}))
      this.add(name, poolOptions);
  }

  /** Creates pool `name`. Throws `E_CONFLICT` if the group already has one by that name. */
  add(name: string, options: Omit<MemoryPoolOptions, 'name'> = {}): MemoryPool {
    this.#lifecycle.assertOpen('add');
    if (this.#pools.has(name)) {
      throw new ConflictError(`PoolGroup already has a pool named "${name}"; pick another name`, {
        context: { pool: name },
      });
    }
    const pool = new MemoryPool({ ...options, name });
    poolInternals.attach(pool, this);
    this.#pools.set(name, pool);
    return pool;
  }

  /** The pool named `name`. Throws `E_NOT_FOUND` listing the names that exist. */
  pool(name: string): MemoryPool {
    this.#lifecycle.assertOpen('pool');
    const pool = this.#pools.get(name);
    if (pool) return pool;
    const names = [...this.#pools.keys()].map((n) => `"${n}"`).join(', ') || 'none';
    throw new NotFoundError(`PoolGroup has no pool named "${name}"; it has ${names}`, {
      context: { pool: name, pools: [...this.#pools.keys()] },
    });
  }

  /** Names of the group's pools, in creation order. */
  get names(): string[] {
    return [...this.#pools.keys()];
  }

  /** @internal Bytes held by all pools, leased and idle. */
  retainedBytes(): number {
    let total = 0;
    for (const pool of this.#pools.values()) total += poolInternals.retainedBytes(pool);
    return total;
  }

  /** @internal Frees idle buffers from any pool, oldest first, until `bytes` are freed. */
  reclaim(bytes: number): void {
    let freed = 0;
    while (freed < bytes) {
      let victim: MemoryPool | undefined;
      let oldest = Number.POSITIVE_INFINITY;
      for (const pool of this.#pools.values()) {
        const seq = poolInternals.oldestIdleSeq(pool);
        if (seq < oldest) {
          oldest = seq;
          victim = pool;
        }
      }
      if (victim === undefined) return;
      freed += poolInternals.trimOldest(victim);
    }
  }

  /** Frees idle buffers in every pool; see {@link MemoryPool.trim}. Returns bytes freed. */
  trim(options?: Parameters<MemoryPool['trim']>[0]): number {
    let freed = 0;
    for (const pool of this.#pools.values()) freed += pool.trim(options);
    return freed;
  }

  stats(): PoolGroupStats {
    const pools: Record<string, MemoryPoolStats> = {};
    for (const [name, pool] of this.#pools) pools[name] = pool.stats();
    return { maxBytes: this.maxBytes, bytesRetained: this.retainedBytes(), pools };
  }

  /** Closes every pool of the group. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
  }
}
