/**
 * Binds a tfjs model's inputs and outputs to salama tensor specs, checks batches against them
 * and reads outputs back into typed arrays.
 */
import {
  BackendFailedError,
  InvalidInputError,
  InvalidOptionsError,
  InvalidTypeError,
} from '../../core/errors.js';
import type { DType } from '../../memory/dtypes.js';
import { elementCount, type Tensor, type TensorSpec } from '../tensor.js';
import type { TfjsDType, TfjsTensor, TfjsTensorData, TfjsTensorInfo } from './tfjs-backend.js';

/** One model input or output as the runtime uses it. */
export interface TfjsBinding {
  /** What callers see: per item, no batch dimension. */
  readonly spec: TensorSpec;
  /** Inputs: the dtype the tfjs tensor is created with (the model's own when it declares one). */
  readonly tfDtype: TfjsDType;
  /** The batch size the model fixes (`[1, 224, 224, 3]` gives 1), or null when it is dynamic. */
  readonly fixedBatch: number | null;
}

type Direction = 'input' | 'output';

/** tfjs has no uint8 tensors: bool tensors come back as Uint8Array, so bool reads as uint8. */
const fromTfjs: Readonly<Record<string, DType>> = {
  float32: 'float32',
  int32: 'int32',
  bool: 'uint8',
};

/** The tfjs dtype a spec maps to when the model does not say: uint8 images go in as int32. */
const toTfjs: Readonly<Partial<Record<DType, TfjsDType>>> = {
  float32: 'float32',
  int32: 'int32',
  uint8: 'int32',
};

/** The typed array each dtype a tfjs runtime can produce is read into. */
export const arrayTypes = {
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
} as const satisfies Partial<Record<DType, new (values: ArrayLike<number>) => TfjsTensorData>>;

function unsupported(direction: Direction, name: string, dtype: string, fix: string): never {
  throw new InvalidTypeError(
    `TfjsRuntime: ${direction} "${name}" has dtype ${dtype}, which salama cannot pass to or from tfjs (supported: float32, int32, bool as uint8); ${fix}`,
    { context: { direction, name, received: dtype, expected: 'float32, int32 or bool' } },
  );
}

function fromModel(direction: Direction, name: string, info: TfjsTensorInfo): TfjsBinding {
  const override = `pass options.${direction}s: [{ name: '${name}', dtype, dims }]`;
  const { shape, dtype } = info;
  if (shape === undefined || dtype === undefined) {
    throw new InvalidOptionsError(
      `TfjsRuntime: the model does not declare the ${shape === undefined ? 'shape' : 'dtype'} of ${direction} "${name}"; ${override}`,
      { context: { path: `${direction}s`, name } },
    );
  }
  if (shape.length === 0) {
    throw new InvalidOptionsError(
      `TfjsRuntime: ${direction} "${name}" is a scalar, with no batch dimension to batch along`,
      { context: { path: 'model', name } },
    );
  }
  const salamaDtype = fromTfjs[dtype] ?? unsupported(direction, name, dtype, override);
  const [batch, ...dims] = shape.map((d) => (d === null || d < 0 ? null : d));
  return {
    spec: { name, dtype: salamaDtype, dims },
    tfDtype: dtype as TfjsDType,
    fixedBatch: batch ?? null,
  };
}

function fromOverride(direction: Direction, spec: TensorSpec, info: TfjsTensorInfo): TfjsBinding {
  const declared = info.dtype !== undefined && info.dtype in fromTfjs ? info.dtype : undefined;
  const tfDtype = (declared as TfjsDType | undefined) ?? toTfjs[spec.dtype];
  if (tfDtype === undefined || !(spec.dtype in arrayTypes)) {
    unsupported(direction, spec.name, spec.dtype, 'use float32, int32 or uint8');
  }
  const batch = info.shape?.[0];
  const fixedBatch = typeof batch === 'number' && batch >= 0 ? batch : null;
  return {
    spec: { name: spec.name, dtype: spec.dtype, dims: [...spec.dims] },
    tfDtype,
    fixedBatch,
  };
}

/**
 * Pairs what the model declares with the caller's overrides: an override replaces the model's
 * spec of the same name, and every other spec comes from the model with its leading (batch)
 * dimension dropped. Unknown override names are `E_INVALID_OPTIONS`; dtypes tfjs lacks are
 * `E_INVALID_TYPE`.
 */
export function bindTensors(
  direction: Direction,
  names: readonly string[],
  infos: readonly TfjsTensorInfo[],
  overrides: readonly TensorSpec[] = [],
): TfjsBinding[] {
  const byName = new Map<string, TensorSpec>();
  for (const spec of overrides) {
    const known = names.includes(spec.name);
    if (!known || byName.has(spec.name)) {
      const problem = known
        ? 'is given twice'
        : `is not one of the model's ${direction}s (${names.join(', ')})`;
      throw new InvalidOptionsError(
        `TfjsRuntime: options.${direction}s "${spec.name}" ${problem}`,
        {
          context: { path: `${direction}s`, received: spec.name, expected: names },
        },
      );
    }
    byName.set(spec.name, spec);
  }
  return names.map((name, i) => {
    const info = infos[i] ?? { name };
    const override = byName.get(name);
    return override ? fromOverride(direction, override, info) : fromModel(direction, name, info);
  });
}

function invalidInput(bindings: readonly TfjsBinding[], name: string, problem: string) {
  const names = bindings.map((b) => b.spec.name).join(', ');
  return new InvalidInputError(
    `TfjsRuntime input "${name}" ${problem} (the model takes: ${names})`,
    {
      context: { input: name, expected: bindings.map((b) => b.spec) },
    },
  );
}

/**
 * Checks a batch's names, dtypes, dims and lengths before tfjs sees it, so a bad batch is
 * `E_INVALID_INPUT` naming the input rather than a tfjs assertion; returns the batch size.
 */
export function checkBatch(
  bindings: readonly TfjsBinding[],
  inputs: Readonly<Record<string, Tensor>>,
): number {
  for (const name of Object.keys(inputs)) {
    if (!bindings.some((b) => b.spec.name === name)) {
      throw invalidInput(bindings, name, 'is not an input of the model');
    }
  }
  let batch: number | undefined;
  for (const { spec, fixedBatch } of bindings) {
    const tensor = inputs[spec.name];
    const fail = (problem: string) => invalidInput(bindings, spec.name, problem);
    if (tensor === undefined) throw fail('is missing');
    const { dtype, dims, data } = tensor;
    if (dtype !== spec.dtype) throw fail(`must be ${spec.dtype}, received ${dtype}`);
    const fits =
      dims.length === spec.dims.length + 1 &&
      spec.dims.every((d, i) => d === null || d === dims[i + 1]);
    if (!fits) {
      const expected = `[batch, ${spec.dims.map((d) => d ?? 'any').join(', ')}]`;
      throw fail(`must have dims ${expected}, received [${dims}]`);
    }
    if (data.length !== elementCount(dims)) {
      throw fail(`holds ${data.length} elements where dims [${dims}] need ${elementCount(dims)}`);
    }
    const size = dims[0] as number;
    if (batch !== undefined && size !== batch) {
      throw fail(`has a batch of ${size} where the other inputs have ${batch}`);
    }
    if (fixedBatch !== null && size !== fixedBatch) {
      throw fail(`has a batch of ${size}; the model takes batches of exactly ${fixedBatch}`);
    }
    batch = size;
  }
  return batch ?? 0;
}

/**
 * Downloads one output into the typed array of its spec's dtype. An array that shares memory
 * with an input (the CPU backend gives a reshape or identity output the input's own array) is
 * copied, or it would change when the caller reuses its input buffer.
 */
export async function readOutput(
  { spec }: TfjsBinding,
  tensor: TfjsTensor,
  batch: number,
  inputBuffers: ReadonlySet<ArrayBufferLike>,
): Promise<Tensor> {
  const fail = (problem: string) =>
    new BackendFailedError(`TfjsRuntime output "${spec.name}" ${problem}`, {
      context: { output: spec.name, shape: tensor.shape, dtype: tensor.dtype, batch },
    });
  if (tensor.shape[0] !== batch) {
    throw fail(`has shape [${tensor.shape}], which does not start with the batch size ${batch}`);
  }
  const View = arrayTypes[spec.dtype as keyof typeof arrayTypes];
  const raw = await tensor.data();
  if (!View || !ArrayBuffer.isView(raw))
    throw fail(`has dtype ${tensor.dtype}, which salama cannot read`);
  const values = raw as TfjsTensorData;
  const data = !(values instanceof View)
    ? new View(values)
    : inputBuffers.has(values.buffer)
      ? values.slice()
      : values;
  return { dtype: spec.dtype, dims: [...tensor.shape], data };
}
