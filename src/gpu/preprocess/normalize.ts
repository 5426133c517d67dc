/**
 * Per-plane normalisation, folded into one multiply-add per element so the resize kernel can
 * apply it in the same pass, and the padding writes around the resized image.
 */
import type { PixelLayout } from './image.js';
import type { PreprocessResult } from './placement.js';
import type { ResolvedPreprocessSpec } from './spec.js';

/**
 * How each of the three output planes is computed: from the byte at `source[p]` within a
 * pixel, as `value * gain[p] + bias[p]`, which is `(value * scale - mean[p]) / std[p]`.
 */
export interface PlaneTransform {
  /** Byte offset within a source pixel of the channel that feeds output plane 0, 1, 2. */
  readonly source: readonly [number, number, number];
  /** `scale / std[p]`. */
  readonly gain: readonly [number, number, number];
  /** `-mean[p] / std[p]`. */
  readonly bias: readonly [number, number, number];
}

/** Builds the {@link PlaneTransform} for a spec and a source pixel layout. */
export function planeTransform(spec: ResolvedPreprocessSpec, layout: PixelLayout): PlaneTransform {
  const source: [number, number, number] =
    spec.channelOrder === 'rgb'
      ? [layout.red, layout.green, layout.blue]
      : [layout.blue, layout.green, layout.red];
  const { mean, std, scale } = spec;
  return {
    source,
    gain: [scale / std[0], scale / std[1], scale / std[2]],
    bias: [-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]],
  };
}

/**
 * For each plane, the float32 value of every byte, computed with the spec's own formula
 * `(value * scale - mean) / std`: 3 × 256 entries, plane-major. When no resizing is needed the
 * kernel copies through this table, so an image already at the model's size comes out exactly
 * as that formula gives, with no multiply-add rounding.
 */
export function normalizationTable(spec: ResolvedPreprocessSpec): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let p = 0; p < 3; p++) {
    const mean = spec.mean[p] as number;
    const std = spec.std[p] as number;
    for (let v = 0; v < 256; v++) table[p * 256 + v] = (v * spec.scale - mean) / std;
  }
  return table;
}

/**
 * Writes `padValue` into every element of the three `height × width` planes at `offset` that
 * lies outside the resized image. Rows fully outside are filled in one run each.
 */
export function fillPadding(
  out: Float32Array,
  offset: number,
  spec: ResolvedPreprocessSpec,
  placement: PreprocessResult,
): void {
  const { width, height, padValue } = spec;
  const { padLeft, padTop, resizedWidth, resizedHeight } = placement;
  const padRight = width - padLeft - resizedWidth;
  const bottom = padTop + resizedHeight;
  if (padLeft === 0 && padTop === 0 && padRight === 0 && bottom === height) return;
  const planeSize = width * height;
  for (let p = 0; p < 3; p++) {
    const plane = offset + p * planeSize;
    if (padTop > 0) out.fill(padValue, plane, plane + padTop * width);
    if (padLeft > 0 || padRight > 0) {
      for (let y = padTop; y < bottom; y++) {
        const row = plane + y * width;
        if (padLeft > 0) out.fill(padValue, row, row + padLeft);
        if (padRight > 0) out.fill(padValue, row + width - padRight, row + width);
      }
    }
    if (bottom < height) out.fill(padValue, plane + bottom * width, plane + planeSize);
  }
}
