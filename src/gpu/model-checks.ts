/**
 * Checks that relate GPUOptimizer's options and requests to the model it loaded: what zod
 * cannot see at construction because the model's inputs are known only once a worker loads it.
 */
import { describeValue, InvalidArgumentError, InvalidOptionsError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { type GPUOptimizerOptions, gpuOptimizerOptionsSchema } from './gpu-optimizer-options.js';
import type { InferOptions } from './gpu-optimizer-types.js';
import { ImagePreprocessor } from './preprocess/index.js';
import type { TensorSpec } from './tensor.js';
import type { RuntimeInfo } from './worker-instance.js';

/** GPUOptimizer's options after parsing. */
export type ParsedOptions = ReturnType<typeof parseGpuOptions>;

/** Parses GPUOptimizer options, with the checks zod cannot express. */
export function parseGpuOptions(options: GPUOptimizerOptions) {
  const o = parseOptions('GPUOptimizer', gpuOptimizerOptionsSchema, options);
  if (o.preprocess) {
    const { input: _input, unpad: _unpad, ...spec } = o.preprocess;
    try {
      new ImagePreprocessor(spec);
    } catch (error) {
      throw new InvalidOptionsError(
        `Invalid GPUOptimizer options:\n  - preprocess: ${(error as Error).message}`,
        { cause: error, context: { component: 'GPUOptimizer', path: 'preprocess' } },
      );
    }
  }
  if (o.pool && !o.pool.shared) {
    throw new InvalidOptionsError(
      'Invalid GPUOptimizer options:\n  - pool: expected a MemoryPool created with shared: true (batches reach workers without a copy), received a pool with shared: false',
      { context: { component: 'GPUOptimizer', path: 'pool' } },
    );
  }
  return o;
}

/** The error for bad per-request options, or undefined when they are fine. */
export function checkInferOptions(options: InferOptions): InvalidArgumentError | undefined {
  const { priority, deadlineMs, signal } = options;
  const bad = (name: string, expected: string, received: unknown) =>
    new InvalidArgumentError(
      `GPUOptimizer.infer(): options.${name} must be ${expected}, received ${describeValue(received)}`,
      {
        context: { argument: name },
      },
    );
  if (priority !== undefined && !Number.isFinite(priority))
    return bad('priority', 'a finite number', priority);
  if (deadlineMs !== undefined && !(Number.isFinite(deadlineMs) && deadlineMs > 0)) {
    return bad('deadlineMs', 'a positive number of ms', deadlineMs);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal))
    return bad('signal', 'an AbortSignal', signal);
  return undefined;
}

/** Whether two models take the same inputs. */
export function sameSpecs(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  return describeSpecs(a) === describeSpecs(b);
}

/** `name: dtype [dims]; ...`, `*` for dynamic dims. */
export function describeSpecs(specs: readonly TensorSpec[]): string {
  return specs
    .map((s) => `${s.name}: ${s.dtype} [${s.dims.map((d) => d ?? '*').join(', ')}]`)
    .join('; ');
}

/** With `preprocess`, the model's image input must take float32 [3, height, width]. */
export function checkImageInput(info: RuntimeInfo, options: ParsedOptions, label: string): void {
  const p = options.preprocess;
  if (!p) return;
  const name = imageInputName(info, options);
  if (info.inputs.length !== 1) {
    throw new InvalidOptionsError(
      `Invalid GPUOptimizer options:\n  - preprocess: expected a model with one input, received ${label} with inputs ${info.inputs.map((i) => `"${i.name}"`).join(', ')}; pass tensors to infer() instead`,
      { context: { component: 'GPUOptimizer', path: 'preprocess' } },
    );
  }
  const spec = info.inputs.find((i) => i.name === name);
  const made = [3, p.height, p.width];
  const fits =
    spec?.dtype === 'float32' &&
    spec.dims.length === 3 &&
    spec.dims.every((d, i) => d === null || d === made[i]);
  if (!fits) {
    const takes = spec
      ? `${spec.dtype} [${spec.dims.map((d) => d ?? '*').join(', ')}]`
      : 'no such input';
    throw new InvalidOptionsError(
      `Invalid GPUOptimizer options:\n  - preprocess: makes float32 [${made.join(', ')}] for input "${name}" of ${label}, which takes ${takes}`,
      { context: { component: 'GPUOptimizer', path: 'preprocess', input: name } },
    );
  }
}

/** The padding rule must name an input and axis the model has, and an output it returns. */
export function checkPadding(info: RuntimeInfo, options: ParsedOptions, label: string): void {
  const padding = options.padding;
  if (!padding) return;
  const bad = (path: string, expected: string, received: string) =>
    new InvalidOptionsError(
      `Invalid GPUOptimizer options:\n  - ${path}: expected ${expected}, received ${received}`,
      {
        context: { component: 'GPUOptimizer', path },
      },
    );
  const inputName = padding.input ?? info.inputs[0]?.name;
  const input = info.inputs.find((i) => i.name === inputName);
  if (!input) {
    throw bad(
      'padding.input',
      `one of ${label}'s inputs (${info.inputs.map((i) => i.name).join(', ')})`,
      `"${inputName}"`,
    );
  }
  if (padding.axis >= input.dims.length) {
    throw bad(
      'padding.axis',
      `an axis of input "${input.name}" (0 to ${input.dims.length - 1})`,
      String(padding.axis),
    );
  }
  if (padding.unpad) {
    const outputName = padding.unpad.output ?? info.outputs[0]?.name;
    const output = info.outputs.find((o) => o.name === outputName);
    if (!output) {
      throw bad(
        'padding.unpad.output',
        `one of ${label}'s outputs (${info.outputs.map((o) => o.name).join(', ')})`,
        `"${outputName}"`,
      );
    }
    if (padding.unpad.axis >= output.dims.length) {
      throw bad(
        'padding.unpad.axis',
        `an axis of output "${output.name}" (0 to ${output.dims.length - 1})`,
        String(padding.unpad.axis),
      );
    }
  }
}

/** The input images are preprocessed into. */
export function imageInputName(info: RuntimeInfo, options: ParsedOptions): string {
  return options.preprocess?.input ?? info.inputs[0]?.name ?? '';
}
