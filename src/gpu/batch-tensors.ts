import { BackendFailedError } from '../core/errors.js';
import { resolveDType } from '../memory/dtypes.js';
import type { Lease, MemoryPool } from '../memory/index.js';
import type { CheckedInput } from './input-check.js';
import {
  copyPadded,
  type PaddingRule,
  sliceAxis,
  type UnpadRule,
  unpaddedLength,
} from './padding.js';
import type { PreprocessResult } from './preprocess/index.js';
import { elementCount, type Tensor, type TensorSpec } from './tensor.js';
import type { WireImages, WireTensor } from './worker/protocol.js';
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
): { wire: Record<string, WireTensor | WireImages>; leases: Lease<ArrayLike<number>>[] } {
  const wire: Record<string, WireTensor | WireImages> = {};
  const leases: Lease<ArrayLike<number>>[] = [];
  try {
    for (const spec of specs) {
      const first = (requests[0] as Record<string, CheckedInput>)[spec.name] as CheckedInput;
      if (first.kind === 'image') {
        const images = requests.map(
          (r) => r[spec.name] as Extract<CheckedInput, { kind: 'image' }>,
        );
        const total = images.reduce((sum, i) => sum + i.image.bytes.length, 0);
        const lease = pool.acquire('uint8', total);
        leases.push(lease);
        let offset = 0;
        const placed = images.map(({ image }) => {
          lease.array.set(image.bytes, offset);
          const entry = {
            offset,
            length: image.bytes.length,
            width: image.width,
            height: image.height,
            format: image.format,
          };
          offset += image.bytes.length;
          return entry;
        });
        wire[spec.name] = { kind: 'images', buffer: lease.buffer, images: placed };
        continue;
      }
      const itemDims = first.batchDims;
      const per = elementCount(itemDims);
      const dims = [requests.length, ...itemDims];
      const lease = pool.acquireShape(spec.dtype, dims);
      leases.push(lease);
      const array = lease.array as PooledArray;
      for (let i = 0; i < requests.length; i++) {
        const input = (requests[i] as Record<string, CheckedInput>)[spec.name] as Extract<
          CheckedInput,
          { kind: 'tensor' }
        >;
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

/** How to cut one output back to each item's unpadded extent. */
export interface OutputCut {
  readonly output: string;
  /** Which output axis, and how its length follows from the item's extent. */
  readonly rule: UnpadRule;
  /** The unpadded size of item `i` along the padded input axis. */
  readonly extent: (item: number) => number;
}

/**
 * The cut the options ask for: from `preprocess.unpad` (extent: where the image ends in the
 * model input) or `padding.unpad` (extent: the item's own size on the padded axis).
 */
export function outputCut(
  options: {
    readonly padding?: PaddingRule | undefined;
    readonly preprocess?: { readonly unpad?: UnpadRule | undefined } | undefined;
  },
  info: RuntimeInfo,
  placements: readonly PreprocessResult[] | undefined,
  inputsOf: (item: number) => Readonly<Record<string, CheckedInput>>,
): OutputCut | undefined {
  const defaultOutput = info.outputs[0]?.name ?? '';
  const imageUnpad = options.preprocess?.unpad;
  if (imageUnpad && placements) {
    return {
      output: imageUnpad.output ?? defaultOutput,
      rule: imageUnpad,
      extent: (i) => {
        const p = placements[i] as PreprocessResult;
        return p.padLeft + p.resizedWidth;
      },
    };
  }
  const padding = options.padding;
  if (!padding?.unpad) return undefined;
  const input = padding.input ?? info.inputs[0]?.name ?? '';
  return {
    output: padding.unpad.output ?? defaultOutput,
    rule: padding.unpad,
    extent: (i) => {
      const checked = inputsOf(i)[input] as Extract<CheckedInput, { kind: 'tensor' }>;
      return checked.tensor.dims[padding.axis] as number;
    },
  };
}

/**
 * Splits a batch's outputs into one result per request: views into the output buffer, cut back
 * to each item's unpadded extent when `cut` says how.
 */
export function splitOutputs(
  outputs: Readonly<Record<string, WireTensor>>,
  size: number,
  cut: OutputCut | undefined,
): Record<string, Tensor>[] {
  const results: Record<string, Tensor>[] = Array.from({ length: size }, () => ({}));
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
      if (cut && name === cut.output) {
        const kept = sliceAxis(
          data,
          itemDims,
          cut.rule.axis,
          unpaddedLength(cut.rule, cut.extent(i)),
        );
        data = kept.data;
        dims = kept.dims;
      }
      (results[i] as Record<string, Tensor>)[name] = { dtype: out.dtype, dims, data };
    }
  }
  return results;
}
