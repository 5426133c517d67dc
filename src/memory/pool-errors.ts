/**
 * Every error MemoryPool throws, built in one place so each path says the same thing: the pool,
 * what was expected, what came instead, and how to fix it.
 */
import {
  DoubleReleaseError,
  describeValue,
  InvalidArgumentError,
  InvalidSizeError,
  PoolExhaustedError,
} from '../core/errors.js';
import type { DType } from './dtypes.js';

function shown(value: unknown): string {
  return Array.isArray(value)
    ? `[${value.map((v) => describeValue(v)).join(', ')}]`
    : describeValue(value);
}

/** A malformed argument: a negative length, fractional dims, a negative trim bound. */
export function badArgument(
  pool: string,
  method: string,
  argument: string,
  expected: string,
  received: unknown,
): InvalidArgumentError {
  return new InvalidArgumentError(
    `MemoryPool.${method}(): ${argument} must be ${expected}, received ${shown(received)}`,
    { context: { pool, argument, received } },
  );
}

/** A lease given back to a pool that did not hand it out. */
export function foreignLease(
  pool: string,
  owner: string | undefined,
  received: unknown,
): InvalidArgumentError {
  const what = owner === undefined ? describeValue(received) : `a lease of pool "${owner}"`;
  return new InvalidArgumentError(
    `MemoryPool "${pool}".release() expects a lease acquired from this pool, received ${what}`,
    { context: { pool, owner } },
  );
}

/** A lease released twice. */
export function doubleRelease(
  pool: string,
  dtype: DType,
  dims: readonly number[],
): DoubleReleaseError {
  return new DoubleReleaseError(
    `A ${dtype} lease of shape [${dims.join(', ')}] was released twice to pool "${pool}"; release each lease exactly once`,
    { context: { pool, dtype, dims } },
  );
}

/** A single request whose buffer (its size class) is larger than the pool's whole budget. */
export function oversize(
  pool: string,
  dtype: DType,
  length: number,
  bytes: number,
  capacity: number,
  maxBytes: number,
  dims: readonly number[],
): InvalidSizeError {
  const buffer = capacity === bytes ? '' : ` (a buffer of ${capacity} bytes, its size class)`;
  return new InvalidSizeError(
    `MemoryPool "${pool}": a ${dtype} array of ${length} elements needs ${bytes} bytes${buffer}, more than maxBytes (${maxBytes}); raise maxBytes or split the request`,
    { context: { pool, bytes, capacity, maxBytes, dtype, dims } },
  );
}

/** Leased buffers fill the pool's (or its group's) budget. */
export function exhausted(
  pool: string,
  facts: {
    dtype: DType;
    length: number;
    dims: readonly number[];
    bytesLeased: number;
    requestedBytes: number;
    maxBytes: number;
    groupMaxBytes: number | undefined;
  },
): PoolExhaustedError {
  const group =
    facts.groupMaxBytes === undefined ? '' : ` or the group budget (${facts.groupMaxBytes})`;
  return new PoolExhaustedError(
    `MemoryPool "${pool}" is exhausted: ${facts.bytesLeased} bytes are leased and ${facts.requestedBytes} more are needed for a ${facts.dtype} array of ${facts.length} elements, over maxBytes (${facts.maxBytes})${group}; release leases sooner, raise maxBytes, or set whenExhausted: 'allocate'`,
    { context: { pool, ...facts } },
  );
}
