import { UseAfterReleaseError } from '../core/errors.js';
import type { DType } from './dtypes.js';

/** One pooled buffer as the pool tracks it while it is leased or idle. */
export interface Slot {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Byte length of `buffer`: the size class. */
  readonly capacity: number;
  /** True for a one-off buffer made past the budget (`whenExhausted: 'allocate'`); never pooled. */
  readonly overflow: boolean;
  /** The last view handed out over this buffer, reused when the next lease asks for the same one. */
  view: ArrayLike<number> | undefined;
  /** Global release order, for least-recently-used trimming across pools. */
  releasedSeq: number;
  /** `clock.now()` at release, for idle trimming. */
  releasedAt: number;
}

/** What the pool must do when a lease comes back. Implemented by MemoryPool. */
export interface LeaseOwner {
  readonly name: string;
  release(lease: Lease<ArrayLike<number>>): void;
}

/** Internal: detaches and returns a lease's slot, or `undefined` when it was already released. */
export let takeSlot: (lease: Lease<ArrayLike<number>>) => Slot | undefined;
/** Internal: the pool a lease came from. */
export let ownerOf: (lease: Lease<ArrayLike<number>>) => LeaseOwner;

/**
 * A typed array borrowed from a {@link MemoryPool}. Give it back with `release()`, or bind it
 * with `using` so it is released when the block ends. After release, `array` throws
 * `E_USE_AFTER_RELEASE`; a second `release()` throws `E_DOUBLE_RELEASE`.
 */
export class Lease<A extends ArrayLike<number>> implements Disposable {
  #slot: Slot | undefined;
  readonly #array: A;
  readonly #owner: LeaseOwner;
  /** Element type of `array`. */
  readonly dtype: DType;
  /** Shape the lease was acquired with; `[length]` for `acquire()`. */
  readonly dims: readonly number[];

  static {
    takeSlot = (lease) => {
      const slot = lease.#slot;
      lease.#slot = undefined;
      return slot;
    };
    ownerOf = (lease) => lease.#owner;
  }

  /** @internal Leases are made by `MemoryPool.acquire`, never by callers. */
  constructor(owner: LeaseOwner, slot: Slot, array: A, dtype: DType, dims: readonly number[]) {
    this.#owner = owner;
    this.#slot = slot;
    this.#array = array;
    this.dtype = dtype;
    this.dims = dims;
  }

  /** The typed array: exactly the requested length, over a pooled buffer. */
  get array(): A {
    if (this.#slot === undefined) throw this.#released('array');
    return this.#array;
  }

  /** The whole backing buffer (a `SharedArrayBuffer` in a `shared` pool); may be longer than `array`. */
  get buffer(): ArrayBuffer | SharedArrayBuffer {
    if (this.#slot === undefined) throw this.#released('buffer');
    return this.#slot.buffer;
  }

  /** Number of elements in `array`. */
  get length(): number {
    return this.#array.length;
  }

  /** Bytes of the backing buffer: the size class this lease was served from. */
  get capacityBytes(): number {
    if (this.#slot === undefined) throw this.#released('capacityBytes');
    return this.#slot.capacity;
  }

  /** Whether the lease has been given back. */
  get released(): boolean {
    return this.#slot === undefined;
  }

  /** Returns the buffer to its pool. Throws `E_DOUBLE_RELEASE` if already released. */
  release(): void {
    this.#owner.release(this);
  }

  /** Releases the lease if it is still held; what `using` calls at the end of a block. */
  [Symbol.dispose](): void {
    if (this.#slot !== undefined) this.#owner.release(this);
  }

  #released(what: string): UseAfterReleaseError {
    return new UseAfterReleaseError(
      `Lease.${what} was read after release(); acquire a new lease from pool "${this.#owner.name}"`,
      { context: { pool: this.#owner.name, dtype: this.dtype, dims: this.dims } },
    );
  }
}
