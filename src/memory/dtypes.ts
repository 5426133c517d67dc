import { describeValue, InvalidTypeError } from '../core/errors.js';

/**
 * Element types a pool hands out, named as ONNX Runtime names tensor types. `float16` needs a
 * runtime with `Float16Array` (Node.js 24+); on older runtimes asking for it is `E_INVALID_TYPE`.
 */
export type DType = 'float32' | 'float64' | 'float16' | 'int32' | 'uint8';

/** The typed array each {@link DType} gives. */
export interface DTypeArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Float16ArrayLike;
  int32: Int32Array;
  uint8: Uint8Array;
}

/**
 * The subset of `Float16Array` salama relies on, declared structurally because the TypeScript
 * libraries for Node.js 20 do not define it.
 */
export interface Float16ArrayLike extends ArrayLike<number> {
  readonly buffer: ArrayBufferLike;
  readonly byteLength: number;
  readonly byteOffset: number;
  readonly BYTES_PER_ELEMENT: 2;
  [index: number]: number;
  fill(value: number, start?: number, end?: number): this;
}

/** A typed-array constructor accepted in place of a {@link DType} name. */
export type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int32ArrayConstructor
  | Uint8ArrayConstructor;

/** The dtype of a constructor, so `acquire(Float32Array, n)` types like `acquire('float32', n)`. */
export type DTypeOf<C> = C extends Float32ArrayConstructor
  ? 'float32'
  : C extends Float64ArrayConstructor
    ? 'float64'
    : C extends Int32ArrayConstructor
      ? 'int32'
      : C extends Uint8ArrayConstructor
        ? 'uint8'
        : never;

type ViewConstructor = new (
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
) => DTypeArrays[DType];

/** How to build views of one dtype. */
export interface DTypeInfo {
  readonly name: DType;
  readonly bytesPerElement: number;
  readonly View: ViewConstructor;
}

const float16 = (globalThis as { Float16Array?: ViewConstructor }).Float16Array;

/** Whether this runtime has `Float16Array`, and so whether `float16` pools work. */
export const hasFloat16Array = float16 !== undefined;

const table = new Map<DType, DTypeInfo>([
  ['float32', { name: 'float32', bytesPerElement: 4, View: Float32Array as ViewConstructor }],
  ['float64', { name: 'float64', bytesPerElement: 8, View: Float64Array as ViewConstructor }],
  ['int32', { name: 'int32', bytesPerElement: 4, View: Int32Array as ViewConstructor }],
  ['uint8', { name: 'uint8', bytesPerElement: 1, View: Uint8Array as ViewConstructor }],
]);
if (float16) table.set('float16', { name: 'float16', bytesPerElement: 2, View: float16 });

const byConstructor = new Map<unknown, DTypeInfo>(
  [...table.values()].map((info) => [info.View, info] as const),
);

const known =
  'one of "float32", "float64", "int32", "uint8", "float16", or a typed-array constructor';

/** Resolves a dtype name or constructor, or throws `E_INVALID_TYPE` saying what is accepted. */
export function resolveDType(type: unknown): DTypeInfo {
  const info = typeof type === 'string' ? table.get(type as DType) : byConstructor.get(type);
  if (info) return info;
  if (type === 'float16') {
    throw new InvalidTypeError(
      `dtype "float16" needs Float16Array, which this runtime (Node.js ${process.versions.node}) lacks; use Node.js 24+ or "float32"`,
      { context: { expected: known, received: 'float16' } },
    );
  }
  throw new InvalidTypeError(`Unknown dtype: expected ${known}, received ${describeValue(type)}`, {
    context: { expected: known, received: describeValue(type) },
  });
}
