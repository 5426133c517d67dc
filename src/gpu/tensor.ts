import type { DType, DTypeArrays } from '../memory/index.js';

/** Any typed array a tensor can hold. */
export type TensorData = DTypeArrays[DType];

/**
 * A dense tensor: `data` holds the elements in row-major order and its length is the product of
 * `dims`. A request's tensor has no batch dimension; a batch's tensor has it first.
 */
export interface Tensor<D extends TensorData = TensorData> {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: D;
}

/**
 * What a model declares for one input or output, per item: `dims` excludes the batch
 * dimension, and `null` marks a dimension of any size (dynamic).
 */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly (number | null)[];
}

/** Number of elements a tensor of `dims` holds. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
