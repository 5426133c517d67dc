import { describeValue, InvalidInputError } from '../core/errors.js';
import { resolveDType } from '../memory/dtypes.js';
import { bucketFor, type PaddingRule } from './padding.js';
import { readImage } from './preprocess/image.js';
import type { ImageFormat, ImageInput } from './preprocess/index.js';
import { elementCount, type Tensor, type TensorSpec } from './tensor.js';

/** One request's input after checking, and the item dims it is batched as. */
export type CheckedInput =
  | {
      readonly kind: 'tensor';
      readonly tensor: Tensor;
      /** `tensor.dims` with the padded axis raised to its bucket. */
      readonly batchDims: readonly number[];
    }
  | {
      readonly kind: 'image';
      /** The image's bytes (a view, not a copy) and layout, preprocessed in the worker. */
      readonly image: {
        readonly bytes: Uint8Array;
        readonly width: number;
        readonly height: number;
        readonly format: ImageFormat;
      };
      /** The preprocessed tensor's dims, `[3, height, width]` of the spec. */
      readonly batchDims: readonly number[];
    };

const showDims = (dims: readonly (number | null)[]) =>
  `[${dims.map((d) => (d === null ? '*' : d)).join(', ')}]`;

function isTensor(value: unknown): value is Tensor {
  return (
    typeof value === 'object' &&
    value !== null &&
    'data' in value &&
    'dims' in value &&
    'dtype' in value
  );
}

function invalid(
  model: string,
  name: string,
  expected: string,
  received: string,
): InvalidInputError {
  return new InvalidInputError(
    `${model}: input "${name}": expected ${expected}, received ${received}`,
    {
      context: { runtime: model, input: name, expected, received },
    },
  );
}

/**
 * Checks one request against the model's input specs and applies the padding rule; throws
 * `E_INVALID_INPUT` naming the input, what was expected and what came. Accepts a bare tensor
 * for single-input models, or a record of tensors by input name.
 */
export function checkInputs(
  model: string,
  specs: readonly TensorSpec[],
  input: unknown,
  padding: PaddingRule | undefined,
): Record<string, CheckedInput> {
  let named: Record<string, unknown>;
  if (isTensor(input)) {
    if (specs.length !== 1) {
      const names = specs.map((s) => `"${s.name}"`).join(', ');
      throw invalid(model, '(input)', `a record of tensors keyed by ${names}`, 'a single tensor');
    }
    named = { [(specs[0] as TensorSpec).name]: input };
  } else if (typeof input === 'object' && input !== null) {
    named = input as Record<string, unknown>;
  } else {
    throw invalid(
      model,
      '(input)',
      'a tensor { dtype, dims, data } or a record of them',
      describeValue(input),
    );
  }
  for (const name of Object.keys(named)) {
    if (!specs.some((s) => s.name === name)) {
      throw invalid(
        model,
        name,
        `one of the model's inputs (${specs.map((s) => s.name).join(', ')})`,
        'an unknown input name',
      );
    }
  }
  const out: Record<string, CheckedInput> = {};
  for (const spec of specs) {
    const tensor = named[spec.name];
    if (!isTensor(tensor))
      throw invalid(
        model,
        spec.name,
        `a tensor ${spec.dtype} ${showDims(spec.dims)}`,
        describeValue(tensor),
      );
    const dims = tensor.dims;
    const expected = `${spec.dtype} ${showDims(spec.dims)}`;
    const received = Array.isArray(dims)
      ? `${String(tensor.dtype)} ${showDims(dims)}`
      : `dims ${describeValue(dims)}`;
    if (
      tensor.dtype !== spec.dtype ||
      !Array.isArray(dims) ||
      dims.length !== spec.dims.length ||
      !dims.every(
        (d, i) =>
          Number.isSafeInteger(d) && d >= 0 && (spec.dims[i] === null || spec.dims[i] === d),
      )
    ) {
      throw invalid(model, spec.name, expected, received);
    }
    const { View } = resolveDType(spec.dtype);
    if (!(tensor.data instanceof View)) {
      throw invalid(model, spec.name, `data as ${View.name}`, describeValue(tensor.data));
    }
    const count = elementCount(dims);
    if (tensor.data.length !== count) {
      throw invalid(
        model,
        spec.name,
        `${count} elements for dims ${showDims(dims)}`,
        `${tensor.data.length} elements`,
      );
    }
    let batchDims: readonly number[] = dims;
    if (padding && (padding.input ?? (specs[0] as TensorSpec).name) === spec.name) {
      const size = dims[padding.axis] as number;
      const bucket = bucketFor(padding.buckets, size);
      if (bucket === undefined) {
        const max = padding.buckets[padding.buckets.length - 1];
        throw invalid(
          model,
          spec.name,
          `axis ${padding.axis} of at most ${max} (the largest padding bucket)`,
          `${size} (${received})`,
        );
      }
      batchDims = dims.map((d, i) => (i === padding.axis ? bucket : d));
    }
    out[spec.name] = { kind: 'tensor', tensor, batchDims };
  }
  return out;
}

/** The batch key: requests share a batch only when every input has the same batch dims. */
export function batchKey(inputs: Readonly<Record<string, CheckedInput>>): string {
  let key = '';
  for (const name in inputs) {
    const input = inputs[name] as CheckedInput;
    // Images and tensors are assembled differently, so they never share a batch.
    key += `${name}:${input.kind}:${input.batchDims.join('x')};`;
  }
  return key;
}

/** Checks an image request; throws `E_INVALID_INPUT` saying what is wrong with it. */
export function checkImage(
  input: string,
  image: ImageInput,
  dims: readonly number[],
): Record<string, CheckedInput> {
  const { bytes } = readImage(image, 'GPUOptimizer.inferImage()');
  return {
    [input]: {
      kind: 'image',
      image: { bytes, width: image.width, height: image.height, format: image.format },
      batchDims: dims,
    },
  };
}
