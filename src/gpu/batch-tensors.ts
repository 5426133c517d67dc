import { BackendFailedError } from '../core/errors.js';
import { resolveDType } from '../memory/dtypes.js';
import type { Lease, MemoryPool } from '../memory/index.js';
import type { CheckedInput } from './input-check.js';
import { copyPadded, type PaddingRule, sliceAxis } from './padding.js';
import { elementCount, type Tensor, type TensorSpec } from './tensor.js';
import type { WireTensor } from './worker/protocol.js';
import type { RuntimeInfo } from './worker-instance.js';

type PooledArray = Lease<ArrayLike<number>>['array'] & {
  fill(v: number, start?: number, end?: number): unknown;
  set(a: ArrayLike<number>, offset?: number): void;
};

/**
 * Copies each request's inputs into one pooled shared buffer per input, batch dimension first,
 * padding where the batch dims exceed the item's. The leases are released by the caller once
 * the worker is done with them.
 */
export function assembleBatch(
  requests: readonly Readonly<Record<string, CheckedInput>>[],
  specs: readonly TensorSpec[],
  pool: MemoryPool,
  padValue: number,
): { wire: Record<string, WireTensor>; leases: Lease<ArrayLike<number>>[] } {
  const wire: Record<string, WireTensor> = {};
  const leases: Lease<ArrayLike<number>>[] = [];
  try {
    for (const spec of specs) {
      const itemDims = ((requests[0] as Record<string, CheckedInput>)[spec.name] as CheckedInput)
        .batchDims;
      const per = elementCount(itemDims);
      const dims = [requests.length, ...itemDims];
      const lease = pool.acquireShape(spec.dtype, dims);
      leases.push(lease);
      const array = lease.array as PooledArray;
      for (let i = 0; i < requests.length; i++) {
        const input = (requests[i] as Record<string, CheckedInput>)[spec.name] as CheckedInput;
        copyPadded(input.tensor.data, input.tensor.dims, array, i * per, itemDims, padValue);
      }
      wire[spec.name] = {
        dtype: spec.dtype,
        dims,
        buffer: lease.buffer,
        offset: 0,
        length: requests.length * per,
      };
    }
  } catch (error) {
    for (const lease of leases) lease.release();
    throw error;
  }
  return { wire, leases };
}

/**
 * Splits a batch's outputs into one result per request: views into the output buffer, cut back
 * to the unpadded extent when the padding rule says how.
 */
export function splitOutputs(
  outputs: Readonly<Record<string, WireTensor>>,
  size: number,
  requests: readonly Readonly<Record<string, CheckedInput>>[],
  padding: PaddingRule | undefined,
  info: RuntimeInfo,
): Record<string, Tensor>[] {
  const results: Record<string, Tensor>[] = Array.from({ length: size }, () => ({}));
  const paddedInput = padding ? (padding.input ?? info.inputs[0]?.name) : undefined;
  const unpadOutput = padding?.unpad ? (padding.unpad.output ?? info.outputs[0]?.name) : undefined;
  for (const [name, out] of Object.entries(outputs)) {
    if (out.dims[0] !== size) {
      throw new BackendFailedError(
        `Runtime returned output "${name}" with batch size ${out.dims[0]}, expected ${size} (one row per request)`,
        { context: { output: name, dims: out.dims } },
      );
    }
    const itemDims = out.dims.slice(1);
    const per = elementCount(itemDims);
    const { View, bytesPerElement } = resolveDType(out.dtype);
    const all = new View(out.buffer, out.offset * bytesPerElement, out.length);
    for (let i = 0; i < size; i++) {
      let data = (all as Float32Array).subarray(i * per, (i + 1) * per);
      let dims = itemDims;
      if (name === unpadOutput && padding?.unpad && paddedInput) {
        const original = (
          (requests[i] as Record<string, CheckedInput>)[paddedInput] as CheckedInput
        ).tensor.dims[padding.axis] as number;
        const cut = sliceAxis(
          data,
          itemDims,
          padding.unpad.axis,
          Math.ceil(original * padding.unpad.scale),
        );
        data = cut.data;
        dims = cut.dims;
      }
      (results[i] as Record<string, Tensor>)[name] = { dtype: out.dtype, dims, data };
    }
  }
  return results;
}
