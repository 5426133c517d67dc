/**
 * Reading rendered plates through anything with `infer` (a GPUOptimizer, a ModelUpdateManager,
 * an evaluation target): the crop as a tensor, the output as text, exact-match accuracy.
 */
import type { InferResult, Tensor } from 'salama/gpu';
import { ctcGreedyDecode, loadDictionary } from './ctc.js';
import { type PlateCrop, plateKey } from './plates.js';

const dictionary = loadDictionary();

export const cropTensor = (crop: PlateCrop): Tensor => ({
  dtype: 'float32',
  dims: crop.input.dims,
  data: crop.input.data,
});

/** The recogniser's first output decoded with greedy CTC. */
export function recognizedText(outputs: InferResult): string {
  const probs = Object.values(outputs)[0] as Tensor;
  return ctcGreedyDecode(
    probs.data as Float32Array,
    probs.dims[0] as number,
    probs.dims[1] as number,
    dictionary,
  ).text;
}

/** Exact-match accuracy on `items`, run concurrently so the optimizer batches them. */
export async function plateAccuracy(
  target: { infer(input: Tensor): Promise<InferResult> },
  items: readonly PlateCrop[],
): Promise<{ accuracy: number }> {
  const texts = await Promise.all(
    items.map(async (c) => recognizedText(await target.infer(cropTensor(c)))),
  );
  const exact = items.filter((c, i) => plateKey(texts[i] ?? '') === plateKey(c.label)).length;
  return { accuracy: exact / items.length };
}
