/**
 * Tensors as JSON for queue jobs: dtype, dims and the bytes in base64. Results copy the
 * optimizer's output views, so a job's return value owns its memory.
 */
import { describeValue, InvalidInputError } from '../../core/errors.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { DType } from '../../memory/dtypes.js';

export interface WireTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  /** The elements' bytes, little-endian, base64. */
  readonly data: string;
}

/** One item's tensors by name (or a single tensor under `''`). */
export type WireTensors = Readonly<Record<string, WireTensor>>;

type ArrayOf = new (buffer: ArrayBuffer) => Tensor['data'];
/**
 * float16 travels as its raw 16-bit patterns and comes back as a Float16Array where the
 * runtime has one (Node 24), else as the patterns in a Uint16Array (Node 20).
 */
const Float16 = (globalThis as { Float16Array?: unknown }).Float16Array ?? Uint16Array;
const ARRAYS: Record<DType, ArrayOf & { BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Float16 as unknown as ArrayOf & { BYTES_PER_ELEMENT: number },
  int32: Int32Array,
  uint8: Uint8Array,
};

export function toWire(tensor: Tensor): WireTensor {
  const { data } = tensor;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { dtype: tensor.dtype, dims: [...tensor.dims], data: bytes.toString('base64') };
}

export function fromWire(wire: WireTensor, what: string): Tensor {
  const known = typeof wire?.dtype === 'string' && Object.hasOwn(ARRAYS, wire.dtype);
  const TypedArray = known ? ARRAYS[wire.dtype] : undefined;
  if (!TypedArray || !Array.isArray(wire.dims) || typeof wire.data !== 'string')
    throw new InvalidInputError(
      `${what}: expected a tensor { dtype, dims, data (base64) }, received ${describeValue(wire)}`,
    );
  if (!wire.dims.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw new InvalidInputError(
      `${what}: expected dims of non-negative integers, received ${describeValue(wire.dims)}`,
    );
  const bytes = Buffer.from(wire.data, 'base64');
  const expected = wire.dims.reduce((a, b) => a * b, 1) * TypedArray.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== expected)
    throw new InvalidInputError(
      `${what}: dims [${wire.dims.join(', ')}] of ${wire.dtype} need ${expected} bytes, received ${bytes.byteLength}`,
    );
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return { dtype: wire.dtype, dims: wire.dims, data: new TypedArray(copy) } as Tensor;
}

/** A single tensor goes under the name `''`; a record keeps its names. */
export function tensorsToWire(input: Tensor | Readonly<Record<string, Tensor>>): WireTensors {
  if (isTensor(input)) return { '': toWire(input) };
  const out: Record<string, WireTensor> = {};
  for (const [name, tensor] of Object.entries(input)) out[name] = toWire(tensor);
  return out;
}

export function tensorsFromWire(wire: WireTensors, what: string): Tensor | Record<string, Tensor> {
  if (typeof wire !== 'object' || wire === null)
    throw new InvalidInputError(
      `${what}: expected tensors by name, received ${describeValue(wire)}`,
    );
  const single = wire[''];
  if (single) return fromWire(single, what);
  const out: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(wire))
    out[name] = fromWire(tensor, `${what} "${name}"`);
  return out;
}

function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && 'dtype' in value && 'data' in value;
}
