/**
 * Where the resized image lands inside the model input, for each {@link ResizeMode}. The
 * rounding follows the reference pipelines so boxes and crops line up with what the models
 * were trained on: ultralytics `LetterBox` for `'letterbox'`, PaddleOCR `resize_norm_img` for
 * `'fit-height'`.
 */
import type { ResizeMode } from './spec.js';

/**
 * Where the image went: the resized image occupies columns `padLeft … padLeft + resizedWidth - 1`
 * and rows `padTop … padTop + resizedHeight - 1` of each plane; everything else is padding.
 * A point `(x, y)` of the model input maps back to the source image at
 * `((x - padLeft) / scaleX, (y - padTop) / scaleY)`.
 */
export interface PreprocessResult {
  /**
   * The aspect-preserving factor the mode chose (output pixels per source pixel):
   * `min(width / w, height / h)` for `'stretch'` and `'letterbox'`, `height / h` for
   * `'fit-height'`. This is the `gain` YOLO and PaddleOCR post-processing divide by; for exact
   * mapping after rounding use `scaleX` and `scaleY`.
   */
  readonly scale: number;
  /** Exact horizontal factor actually applied: `resizedWidth / w`. */
  readonly scaleX: number;
  /** Exact vertical factor actually applied: `resizedHeight / h`. */
  readonly scaleY: number;
  /** Padding columns left of the image, in output pixels; 0 except for `'letterbox'`. */
  readonly padLeft: number;
  /** Padding rows above the image, in output pixels; 0 except for `'letterbox'`. */
  readonly padTop: number;
  /** Width of the resized image in output pixels. */
  readonly resizedWidth: number;
  /** Height of the resized image in output pixels. */
  readonly resizedHeight: number;
}

/**
 * Computes the placement of a `sourceWidth × sourceHeight` image in a `width × height` input.
 * Sizes are positive integers (checked by the caller); the resized size is never below 1 pixel.
 */
export function placeImage(
  sourceWidth: number,
  sourceHeight: number,
  width: number,
  height: number,
  mode: ResizeMode,
): PreprocessResult {
  let scale: number;
  let resizedWidth: number;
  let resizedHeight: number;
  let padLeft = 0;
  let padTop = 0;
  switch (mode) {
    case 'stretch':
      scale = Math.min(width / sourceWidth, height / sourceHeight);
      resizedWidth = width;
      resizedHeight = height;
      break;
    case 'letterbox':
      // ultralytics: new_unpad = round(w * r), round(h * r) with Python's half-to-even round;
      // top = round(dh / 2 - 0.1), which for an integer dh is floor(dh / 2): the odd pixel of
      // padding goes to the bottom or right.
      scale = Math.min(width / sourceWidth, height / sourceHeight);
      resizedWidth = clampSize(roundHalfEven(sourceWidth * scale), width);
      resizedHeight = clampSize(roundHalfEven(sourceHeight * scale), height);
      padLeft = Math.floor((width - resizedWidth) / 2);
      padTop = Math.floor((height - resizedHeight) / 2);
      break;
    case 'fit-height':
      // PaddleOCR: resized_w = min(imgW, ceil(imgH * w / h)); integer numerator keeps an exact
      // ratio exact instead of rounding w / h first.
      scale = height / sourceHeight;
      resizedWidth = clampSize(Math.ceil((height * sourceWidth) / sourceHeight), width);
      resizedHeight = height;
      break;
  }
  return Object.freeze({
    scale,
    scaleX: resizedWidth / sourceWidth,
    scaleY: resizedHeight / sourceHeight,
    padLeft,
    padTop,
    resizedWidth,
    resizedHeight,
  });
}

/** Python's `round()`: halves go to the even neighbour (`round(360.5) === 360`). */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

function clampSize(size: number, limit: number): number {
  return Math.min(limit, Math.max(1, size));
}
