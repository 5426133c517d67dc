/**
 * MemoryPool: reusable typed arrays for frames and tensors. This file is the hot path of every
 * inference request (acquire/release per tensor), so acquire, release, budget and trimming keep
 * their bookkeeping in flat `#private` fields and per-class stacks here rather than behind
 * helper objects. Events and their types live in memory-pool-events.ts, every error message in
 * pool-errors.ts, size classes in size-classes.ts, leases in lease.ts.
 */
import { EventEmitter } from 'node:events';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { Lifecycle } from '../core/lifecycle.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { observeSnapshot, salamaMeter } from '../core/metrics.js';
import { parseOptions } from '../core/options.js';
import {
  type DType,
  type DTypeArrays,
  type DTypeInfo,
  type DTypeOf,
  resolveDType,
  type TypedArrayConstructor,
} from './dtypes.js';
import { Lease, type LeaseOwner, ownerOf, type Slot, takeSlot } from './lease.js';
import type {
  LeakEvent,
  LeakRecord,
  MemoryPoolEvents,
  SharedBudget,
  TrimOptions,
  TrimReason,
} from './memory-pool-events.js';
import { type MemoryPoolOptions, memoryPoolOptionsSchema } from './memory-pool-options.js';
import { type MemoryPoolStats, memoryPoolMetrics } from './memory-pool-stats.js';
import { badArgument, doubleRelease, exhausted, foreignLease, oversize } from './pool-errors.js';
import { sizeClassOf } from './size-classes.js';

let releaseSeq = 0;

/** Internal hooks PoolGroup uses; not part of the public API. */
export const poolInternals: {
  attach(pool: MemoryPool, budget: SharedBudget): void;
  oldestIdleSeq(pool: MemoryPool): number;
  trimOldest(pool: MemoryPool): number;
  retainedBytes(pool: MemoryPool): number;
} = {} as never;

/**
 * A pool of reusable typed arrays with a byte budget. `acquire` returns a {@link Lease} whose
 * `array` is exactly the requested length, served from a buffer of the nearest size class;
 * `release` returns it for the next caller. Buffers are allocated on demand, reused
 * last-in-first-out, and trimmed least-recently-used first when the budget needs room, when
 * idle too long, or on `trim()`.
 *
 * @example
 * ```ts
 * const pool = new MemoryPool({ maxBytes: 64 * 1024 ** 2, shared: true });
 * using input = pool.acquireShape('float32', [1, 3, 640, 640]);
 * input.array.set(pixels);
 * ```
 */
export class MemoryPool extends EventEmitter<MemoryPoolEvents> implements LeaseOwner {
  /** The pool's name, as given in options. */
  readonly name: string;
  readonly #maxBytes: number;
  readonly #shared: boolean;
  readonly #zero: boolean;
  readonly #overflow: boolean;
  readonly #debug: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lifecycle: Lifecycle;
  readonly #free = new Map<number, Slot[]>();
  readonly #registry: FinalizationRegistry<LeakRecord>;
  readonly #stopMetrics: () => void;
  readonly #idleTimer: TimerHandle | undefined;
  #budget: SharedBudget | undefined;
  #idleBytes = 0;
  #idleBuffers = 0;
  #leasedBytes = 0;
  #leases = 0;
  #peakBytes = 0;
  #hits = 0;
  #misses = 0;
  #allocations = 0;
  #overflowAllocations = 0;
  #trimmedBuffers = 0;
  #trimmedBytes = 0;
  #leaks = 0;

  static {
    Object.assign(poolInternals, {
      attach: (pool: MemoryPool, budget: SharedBudget) => {
        pool.#budget = budget;
      },
      oldestIdleSeq: (pool: MemoryPool) => {
        let oldest = Number.POSITIVE_INFINITY;
        for (const stack of pool.#free.values()) {
          const first = stack[0];
          if (first && first.releasedSeq < oldest) oldest = first.releasedSeq;
        }
        return oldest;
      },
      trimOldest: (pool: MemoryPool) => pool.#trimWhile(() => true, 1, 'budget'),
      retainedBytes: (pool: MemoryPool) => pool.#idleBytes + pool.#leasedBytes,
    });
  }

  constructor(options: MemoryPoolOptions = {}) {
    super();
    const o = parseOptions('MemoryPool', memoryPoolOptionsSchema, options);
    this.name = o.name;
    this.#maxBytes = o.maxBytes;
    this.#shared = o.shared;
    this.#zero = o.zero;
    this.#overflow = o.whenExhausted === 'allocate';
    this.#debug = o.debug;
    this.#clock = o.clock ?? systemClock;
    this.#logger = componentLogger(o.logger, 'MemoryPool');
    this.#lifecycle = new Lifecycle('MemoryPool', () => this.#shutdown());
    this.#registry = new FinalizationRegistry((record) => this.#onLeak(record));
    this.#stopMetrics = observeSnapshot(
      salamaMeter(o.meterProvider),
      memoryPoolMetrics,
      () => this.stats(),
      { pool: this.name },
    );
    const idleMs = o.idleTimeoutMs;
    if (idleMs !== false) {
      const expired = (oldest: Slot) => oldest.releasedAt <= this.#clock.now() - idleMs;
      this.#idleTimer = this.#clock
        .setInterval(() => this.#trimWhile(expired, Number.POSITIVE_INFINITY, 'idle'), idleMs)
        .unref();
    }
  }

  /** Whether the pool's buffers are SharedArrayBuffers (the `shared` option). */
  get shared(): boolean {
    return this.#shared;
  }

  /** Borrows an array of `length` elements of `type` (`'float32'` or `Float32Array`, ...). */
  acquire<T extends DType>(type: T, length: number): Lease<DTypeArrays[T]>;
  acquire<C extends TypedArrayConstructor>(type: C, length: number): Lease<DTypeArrays[DTypeOf<C>]>;
  acquire(type: DType | TypedArrayConstructor, length: number): Lease<DTypeArrays[DType]> {
    this.#lifecycle.assertOpen('acquire');
    const info = resolveDType(type);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw badArgument(this.name, 'acquire', 'length', 'a non-negative integer', length);
    }
    return this.#lease(info, length, [length]);
  }

  /** Borrows an array for a tensor of shape `dims` (`[1, 3, 640, 640]`); `lease.dims` keeps it. */
  acquireShape<T extends DType>(type: T, dims: readonly number[]): Lease<DTypeArrays[T]>;
  acquireShape<C extends TypedArrayConstructor>(
    type: C,
    dims: readonly number[],
  ): Lease<DTypeArrays[DTypeOf<C>]>;
  acquireShape(
    type: DType | TypedArrayConstructor,
    dims: readonly number[],
  ): Lease<DTypeArrays[DType]> {
    this.#lifecycle.assertOpen('acquireShape');
    const info = resolveDType(type);
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw badArgument(
        this.name,
        'acquireShape',
        'dims',
        'an array of non-negative integers',
        dims,
      );
    }
    let length = 1;
    for (const d of dims) length *= d;
    return this.#lease(info, length, Object.freeze([...dims]));
  }

  /** Gives a lease back; same as `lease.release()`. Throws `E_DOUBLE_RELEASE` the second time. */
  release(lease: Lease<ArrayLike<number>>): void {
    if (!(lease instanceof Lease) || ownerOf(lease) !== this) {
      throw foreignLease(
        this.name,
        lease instanceof Lease ? ownerOf(lease).name : undefined,
        lease,
      );
    }
    const slot = takeSlot(lease);
    if (slot === undefined) throw doubleRelease(this.name, lease.dtype, lease.dims);
    this.#registry.unregister(lease);
    this.#leases--;
    if (slot.overflow) return;
    this.#leasedBytes -= slot.capacity;
    if (this.#lifecycle.closed) return;
    slot.releasedSeq = ++releaseSeq;
    slot.releasedAt = this.#clock.now();
    let stack = this.#free.get(slot.capacity);
    if (stack === undefined) {
      stack = [];
      this.#free.set(slot.capacity, stack);
    }
    stack.push(slot);
    this.#idleBytes += slot.capacity;
    this.#idleBuffers++;
  }

  /**
   * Frees idle buffers, least recently used first: all of them by default, or down to
   * `keepBytes`, or only those idle for `idleForMs`. Returns the bytes freed.
   */
  trim(options: TrimOptions = {}): number {
    const keep = options.keepBytes ?? 0;
    const idleFor = options.idleForMs ?? 0;
    for (const [key, value] of [
      ['keepBytes', keep],
      ['idleForMs', idleFor],
    ] as const) {
      if (!Number.isFinite(value) || value < 0) {
        throw badArgument(this.name, 'trim', key, 'a non-negative number', value);
      }
    }
    const cutoff = this.#clock.now() - idleFor;
    return this.#trimWhile(
      (oldest) => this.#idleBytes > keep && oldest.releasedAt <= cutoff,
      Number.POSITIVE_INFINITY,
      'manual',
    );
  }

  /** A snapshot of the pool's counters and levels. */
  stats(): MemoryPoolStats {
    const served = this.#hits + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      hitRate: served === 0 ? 0 : this.#hits / served,
      allocations: this.#allocations,
      overflowAllocations: this.#overflowAllocations,
      leases: this.#leases,
      bytesLeased: this.#leasedBytes,
      bytesPooled: this.#idleBytes,
      buffersPooled: this.#idleBuffers,
      peakBytes: this.#peakBytes,
      maxBytes: this.#maxBytes,
      trims: this.#trimmedBuffers,
      bytesTrimmed: this.#trimmedBytes,
      leaks: this.#leaks,
    };
  }

  /** Frees every idle buffer and refuses further `acquire`s; leases released later are dropped. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #lease(info: DTypeInfo, length: number, dims: readonly number[]): Lease<DTypeArrays[DType]> {
    const bytes = length * info.bytesPerElement;
    // The size class, not the request, is what the budget must hold: a request just under
    // maxBytes can round up past it, and no release would ever make room for that.
    const capacity = sizeClassOf(bytes);
    if (capacity > this.#maxBytes) {
      throw oversize(this.name, info.name, length, bytes, capacity, this.#maxBytes, dims);
    }
    const slot = this.#free.get(capacity)?.pop();
    let view: DTypeArrays[DType];
    if (slot !== undefined) {
      this.#hits++;
      this.#idleBytes -= capacity;
      this.#idleBuffers--;
      const cached = slot.view as DTypeArrays[DType] | undefined;
      view =
        cached !== undefined && cached.length === length && cached.constructor === info.View
          ? cached
          : new info.View(slot.buffer, 0, length);
      slot.view = view;
      if (this.#zero) view.fill(0);
      this.#leasedBytes += capacity;
      return this.#track(new Lease(this, slot, view, info.name, dims), slot);
    }
    this.#misses++;
    const fresh = this.#allocate(capacity, info, length, dims);
    view = new info.View(fresh.buffer, 0, length);
    fresh.view = view;
    return this.#track(new Lease(this, fresh, view, info.name, dims), fresh);
  }

  #track<A extends DTypeArrays[DType]>(lease: Lease<A>, slot: Slot): Lease<A> {
    this.#leases++;
    const retained = this.#idleBytes + this.#leasedBytes;
    if (retained > this.#peakBytes) this.#peakBytes = retained;
    this.#registry.register(
      lease,
      {
        dtype: lease.dtype,
        dims: lease.dims,
        capacity: slot.capacity,
        overflow: slot.overflow,
        stack: this.#debug ? new Error('acquired here').stack : undefined,
      },
      lease,
    );
    return lease;
  }

  #allocate(capacity: number, info: DTypeInfo, length: number, dims: readonly number[]): Slot {
    const overflow = !this.#makeRoom(capacity);
    if (overflow && !this.#overflow) {
      throw exhausted(this.name, {
        dtype: info.name,
        length,
        dims,
        bytesLeased: this.#leasedBytes,
        requestedBytes: capacity,
        maxBytes: this.#maxBytes,
        groupMaxBytes: this.#budget?.maxBytes,
      });
    }
    const buffer = this.#shared ? new SharedArrayBuffer(capacity) : new ArrayBuffer(capacity);
    if (overflow) this.#overflowAllocations++;
    else {
      this.#allocations++;
      this.#leasedBytes += capacity;
    }
    return { buffer, capacity, overflow, view: undefined, releasedSeq: 0, releasedAt: 0 };
  }

  /** Trims idle buffers until `bytes` more fit in this pool's and the group's budget. */
  #makeRoom(bytes: number): boolean {
    const over = this.#idleBytes + this.#leasedBytes + bytes - this.#maxBytes;
    if (over > 0) {
      let freed = 0;
      this.#trimWhile(
        () => freed < over,
        Number.POSITIVE_INFINITY,
        'budget',
        (b) => {
          freed += b;
        },
      );
      if (this.#idleBytes + this.#leasedBytes + bytes > this.#maxBytes) return false;
    }
    const budget = this.#budget;
    if (budget === undefined) return true;
    const groupOver = budget.retainedBytes() + bytes - budget.maxBytes;
    if (groupOver > 0) budget.reclaim(groupOver);
    return budget.retainedBytes() + bytes <= budget.maxBytes;
  }

  /** Frees least-recently-released buffers while `more(oldest)` holds, at most `limit` of them. */
  #trimWhile(
    more: (oldest: Slot) => boolean,
    limit: number,
    reason: TrimReason,
    onFree?: (bytes: number) => void,
  ): number {
    let buffers = 0;
    let bytes = 0;
    while (buffers < limit && this.#idleBuffers > 0) {
      let oldest: Slot[] | undefined;
      for (const stack of this.#free.values()) {
        const first = stack[0];
        const best = oldest?.[0];
        if (first && (best === undefined || first.releasedSeq < best.releasedSeq)) oldest = stack;
      }
      const slot = oldest?.[0];
      if (oldest === undefined || slot === undefined || !more(slot)) break;
      oldest.shift();
      this.#idleBytes -= slot.capacity;
      this.#idleBuffers--;
      buffers++;
      bytes += slot.capacity;
      onFree?.(slot.capacity);
    }
    return this.#recordTrim(reason, buffers, bytes);
  }

  #recordTrim(reason: TrimReason, buffers: number, bytes: number): number {
    if (buffers === 0) return 0;
    this.#trimmedBuffers += buffers;
    this.#trimmedBytes += bytes;
    this.emit('trim', { pool: this.name, reason, buffers, bytes });
    return bytes;
  }

  #onLeak(record: LeakRecord): void {
    this.#leaks++;
    this.#leases--;
    if (!record.overflow) this.#leasedBytes -= record.capacity;
    if (this.#lifecycle.closed) return;
    const event: LeakEvent = {
      pool: this.name,
      dtype: record.dtype,
      dims: record.dims,
      bytes: record.capacity,
      stack: record.stack,
    };
    this.#logger.warn(
      { pool: this.name, dtype: record.dtype, dims: record.dims, stack: record.stack },
      'MemoryPool lease was garbage-collected without release()',
    );
    this.emit('leak', event);
  }

  #shutdown(): void {
    if (this.#idleTimer) this.#clock.clearTimer(this.#idleTimer);
    this.#stopMetrics();
    this.#trimWhile(() => true, Number.POSITIVE_INFINITY, 'close');
    this.#free.clear();
  }
}
