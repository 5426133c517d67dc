/**
 * The fused kernel: bilinear resize, normalisation and HWC → NCHW in one pass over the output,
 * driven by per-column and per-row tables so the inner loop does loads, multiply-adds and
 * stores only (no division, rounding, clamping or allocation per pixel).
 *
 * Sampling convention: half-pixel centres, as OpenCV `INTER_LINEAR` and PyTorch
 * `interpolate(mode='bilinear', align_corners=False)`. Output pixel `x` samples source position
 * `(x + 0.5) * (sourceSize / targetSize) - 0.5`, clamped to `[0, sourceSize - 1]`, so border
 * pixels replicate. For upscaling this matches PIL's `BILINEAR` as well. For downscaling each
 * output pixel still reads only its 2 × 2 nearest source pixels: there is no antialiasing
 * filter, exactly like `cv2.INTER_LINEAR` and unlike PIL (which widens its filter) or
 * `cv2.INTER_AREA`, so detail finer than the output grid aliases. The interpolated value is not
 * rounded to an integer before normalisation, where OpenCV on uint8 images rounds (with 11-bit
 * fixed-point weights); results differ from `cv2.resize` by at most about half a grey level.
 */
import type { PlaneTransform } from './normalize.js';

/**
 * Where each output position along one axis reads: the offsets of its two source taps
 * (already multiplied by the source stride along that axis) and the weight of the far tap.
 */
export interface AxisMap {
  /** Offset of the near tap: `floor(position) * stride`. */
  readonly near: Int32Array;
  /** Offset of the far tap: `(floor(position) + 1) * stride`, or `near` at the last pixel. */
  readonly far: Int32Array;
  /**
   * Weight of the far tap, `position - floor(position)`, in [0, 1). Float64 because the kernel
   * computes in doubles: a float32 table would round the weight and save nothing.
   */
  readonly weight: Float64Array;
}

/**
 * Builds the {@link AxisMap} for resizing `sourceSize` pixels to `targetSize` along one axis,
 * with `stride` elements between neighbouring source pixels (channels for columns, a row's
 * length in bytes for rows).
 */
export function bilinearAxisMap(sourceSize: number, targetSize: number, stride: number): AxisMap {
  const near = new Int32Array(targetSize);
  const far = new Int32Array(targetSize);
  const weight = new Float64Array(targetSize);
  const ratio = sourceSize / targetSize;
  const last = sourceSize - 1;
  for (let i = 0; i < targetSize; i++) {
    const position = Math.max(0, (i + 0.5) * ratio - 0.5);
    const index = Math.floor(position);
    if (index >= last) {
      near[i] = last * stride;
      far[i] = last * stride;
      weight[i] = 0;
    } else {
      near[i] = index * stride;
      far[i] = (index + 1) * stride;
      weight[i] = position - index;
    }
  }
  return { near, far, weight };
}

/**
 * Resamples `bytes` through `columns` × `rows` and writes the three normalised planes into
 * `out`: plane `p`, output row `y`, column `x` goes to `start + p * planeSize + y * rowLength + x`.
 * `start` is the element index of the resized image's top-left corner in plane 0.
 */
export function resampleInto(
  bytes: Uint8Array,
  columns: AxisMap,
  rows: AxisMap,
  transform: PlaneTransform,
  out: Float32Array,
  start: number,
  rowLength: number,
  planeSize: number,
): void {
  const { near: left, far: right, weight: columnWeight } = columns;
  const { near: upper, far: lower, weight: rowWeight } = rows;
  const [s0, s1, s2] = transform.source;
  const [g0, g1, g2] = transform.gain;
  const [b0, b1, b2] = transform.bias;
  const width = left.length;
  const height = upper.length;
  for (let y = 0; y < height; y++) {
    const top = upper[y] as number;
    const bottom = lower[y] as number;
    const wy = rowWeight[y] as number;
    let o = start + y * rowLength;
    for (let x = 0; x < width; x++, o++) {
      const l = left[x] as number;
      const r = right[x] as number;
      const wx = columnWeight[x] as number;
      const tl = top + l;
      const tr = top + r;
      const bl = bottom + l;
      const br = bottom + r;
      let t = bytes[tl + s0] as number;
      let b = bytes[bl + s0] as number;
      t += ((bytes[tr + s0] as number) - t) * wx;
      b += ((bytes[br + s0] as number) - b) * wx;
      out[o] = (t + (b - t) * wy) * g0 + b0;
      t = bytes[tl + s1] as number;
      b = bytes[bl + s1] as number;
      t += ((bytes[tr + s1] as number) - t) * wx;
      b += ((bytes[br + s1] as number) - b) * wx;
      out[o + planeSize] = (t + (b - t) * wy) * g1 + b1;
      t = bytes[tl + s2] as number;
      b = bytes[bl + s2] as number;
      t += ((bytes[tr + s2] as number) - t) * wx;
      b += ((bytes[br + s2] as number) - b) * wx;
      out[o + 2 * planeSize] = (t + (b - t) * wy) * g2 + b2;
    }
  }
}

/**
 * The no-resize path, for an image already at its placed size: each byte goes through the
 * 3 × 256 `table` (from `normalizationTable`) into its plane, so the values are exactly the
 * spec's formula in float32. Same output addressing as {@link resampleInto}.
 */
export function transposeInto(
  bytes: Uint8Array,
  width: number,
  height: number,
  channels: number,
  table: Float32Array,
  transform: PlaneTransform,
  out: Float32Array,
  start: number,
  rowLength: number,
  planeSize: number,
): void {
  const [s0, s1, s2] = transform.source;
  let i = 0;
  for (let y = 0; y < height; y++) {
    let o = start + y * rowLength;
    for (let x = 0; x < width; x++, o++, i += channels) {
      out[o] = table[bytes[i + s0] as number] as number;
      out[o + planeSize] = table[256 + (bytes[i + s1] as number)] as number;
      out[o + 2 * planeSize] = table[512 + (bytes[i + s2] as number)] as number;
    }
  }
}
