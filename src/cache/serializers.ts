import { deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8';
import { describeValue, InvalidArgumentError } from '../core/errors.js';

/**
 * How values become bytes for the Redis and file tiers (the memory tier keeps live values).
 * The serializer's `id` is written into every record, so a reader configured with another
 * serializer treats the record as a miss instead of misreading it.
 */
export interface CacheSerializer {
  /** 1–255, stored in each record; 1 and 2 are taken by the built-ins. */
  readonly id: number;
  readonly name: string;
  /** Throws for values it cannot represent; the cache turns that into `E_INVALID_ARGUMENT`. */
  serialize(value: unknown): Uint8Array;
  deserialize(bytes: Uint8Array): unknown;
}

function notSerializable(
  serializer: string,
  value: unknown,
  cause?: unknown,
): InvalidArgumentError {
  const why = cause instanceof Error ? ` (${cause.message})` : '';
  return new InvalidArgumentError(
    `Cache value cannot be serialised by the ${serializer} serializer: expected ${
      serializer === 'json'
        ? 'a JSON value (object, array, string, number, boolean or null)'
        : 'a structured-cloneable value'
    }, received ${describeValue(value)}${why}`,
    { cause, context: { serializer } },
  );
}

const asBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * JSON, the default: fast and readable from other languages. Dates come back as strings and
 * Maps, Sets, typed arrays and `undefined` members do not survive; use {@link binarySerializer}
 * for those. BigInt, functions, symbols and cycles are refused.
 */
export const jsonSerializer: CacheSerializer = Object.freeze({
  id: 1,
  name: 'json',
  serialize(value: unknown): Uint8Array {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (cause) {
      throw notSerializable('json', value, cause);
    }
    if (text === undefined) throw notSerializable('json', value);
    return Buffer.from(text, 'utf8');
  },
  deserialize(bytes: Uint8Array): unknown {
    return JSON.parse(asBuffer(bytes).toString('utf8'));
  },
});

/**
 * V8's structured-clone format (`node:v8`): Buffers, typed arrays, Dates, Maps, Sets, BigInt,
 * `undefined`, `-0` and cycles round-trip exactly; functions and symbols are refused. Readable
 * only by Node.js.
 */
export const binarySerializer: CacheSerializer = Object.freeze({
  id: 2,
  name: 'binary',
  serialize(value: unknown): Uint8Array {
    try {
      return v8Serialize(value);
    } catch (cause) {
      throw notSerializable('binary', value, cause);
    }
  },
  deserialize(bytes: Uint8Array): unknown {
    return v8Deserialize(bytes);
  },
});
