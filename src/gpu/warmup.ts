import type { Logger } from '../core/logger.js';
import { imageInputName, type ParsedOptions } from './model-checks.js';
import type { PaddingRule } from './padding.js';
import type { WarmupBatch } from './worker/protocol.js';
import type { RuntimeInfo } from './worker-instance.js';

/**
 * The zero-filled batches each instance runs before it serves: sizes 1 and `maxBatchSize` for
 * every padding bucket (or the image size of `preprocess`, or `warmup.inputs`), none when an
 * input has dynamic dims nobody gave.
 */
export function warmupBatches(
  info: RuntimeInfo,
  options: ParsedOptions,
  logger: Logger,
): WarmupBatch[] {
  const warmup = options.warmup;
  if (warmup === false) return [];
  const preprocess = options.preprocess;
  const padding = options.padding;
  const variants: Record<string, number[]>[] = [{}];
  for (const spec of info.inputs) {
    const imageDims =
      preprocess && imageInputName(info, options) === spec.name
        ? [3, preprocess.height, preprocess.width]
        : undefined;
    const given = warmup?.inputs[spec.name] ?? imageDims;
    let dims: number[] | undefined =
      given ?? (spec.dims.every((d) => d !== null) ? (spec.dims as number[]) : undefined);
    const padded = padding && (padding.input ?? info.inputs[0]?.name) === spec.name;
    if (!dims && padded) dims = spec.dims.map((d) => d ?? 1);
    if (!dims || dims.some((d, i) => spec.dims[i] !== null && spec.dims[i] !== d)) {
      logger.debug({ input: spec.name, dims: spec.dims }, 'no warm-up: input has dynamic dims');
      return [];
    }
    const sizes = padded
      ? (padding as PaddingRule).buckets.map((b) =>
          dims.map((d, i) => (i === padding.axis ? b : d)),
        )
      : [dims];
    const next: Record<string, number[]>[] = [];
    for (const v of variants) for (const s of sizes) next.push({ ...v, [spec.name]: s });
    variants.splice(0, variants.length, ...next);
  }
  const batchSizes = [...new Set([1, options.maxBatchSize])];
  return variants.flatMap((v) =>
    batchSizes.map((n) => ({
      inputs: Object.fromEntries(
        info.inputs.map((spec) => [
          spec.name,
          { dtype: spec.dtype, dims: [n, ...(v[spec.name] as number[])] },
        ]),
      ),
    })),
  );
}
