/**
 * Padding rules let inputs of different sizes share a batch: an OCR crop 212 pixels wide is
 * padded to the 320 bucket and batched with other 320-bucket crops; its output is cut back to
 * the part that saw real pixels.
 */

/** Pads one axis of one input up to the smallest bucket that holds it. */
export interface PaddingRule {
  /** The input to pad. @default the model's only input */
  input?: string;
  /** Axis of the item (batch dimension not counted), e.g. 2 for the width of [3, 48, W]. */
  axis: number;
  /** Allowed sizes of that axis, ascending (`[160, 320, 480, 640]`). */
  buckets: number[];
  /** Value written into the padding. @default 0 */
  value?: number;
  /** How to cut each item's output back to its unpadded extent; omit to return padded outputs. */
  unpad?: UnpadRule;
}

/**
 * Cuts one output axis to `ceil((unpadded input size + offset) × scale)`, or `floor(...)` with
 * `rounding: 'floor'`. PP-OCRv4's recogniser emits `floor((W + 3) / 8)` steps for width W:
 * `{ axis: 0, scale: 1 / 8, offset: 3, rounding: 'floor' }`.
 */
export interface UnpadRule {
  /** The output to cut. @default the model's only output */
  output?: string;
  /** Axis of the item's output (no batch dimension), e.g. 0 for the timesteps of [T, C]. */
  axis: number;
  /** Output size per unit of input size along the padded axis (PP-OCR recogniser: 1/8). */
  scale: number;
  /** Added to the unpadded input size before scaling. @default 0 */
  offset?: number;
  /** How the scaled size is rounded to whole output steps. @default 'ceil' */
  rounding?: 'ceil' | 'floor';
}

/** The output length an unpad rule keeps for an item whose padded axis is `extent` long. */
export function unpaddedLength(rule: UnpadRule, extent: number): number {
  const scaled = (extent + (rule.offset ?? 0)) * rule.scale;
  return rule.rounding === 'floor' ? Math.floor(scaled) : Math.ceil(scaled);
}

/** The bucket for `size`, or undefined when it is larger than every bucket. */
export function bucketFor(buckets: readonly number[], size: number): number | undefined {
  for (const b of buckets) if (b >= size) return b;
  return undefined;
}

/**
 * Copies `src` (shape `srcDims`) into `dst` at element `offset` as shape `dstDims`, where each
 * dst dimension is at least the src one; the extra elements get `value`.
 */
export function copyPadded(
  src: ArrayLike<number>,
  srcDims: readonly number[],
  dst: {
    [i: number]: number;
    fill(v: number, start?: number, end?: number): unknown;
    set(a: ArrayLike<number>, offset?: number): void;
  },
  offset: number,
  dstDims: readonly number[],
  value: number,
): void {
  const rank = srcDims.length;
  if (rank === 0 || srcDims.every((d, i) => d === dstDims[i])) {
    dst.set(src, offset);
    return;
  }
  const srcStrides = strides(srcDims);
  const dstStrides = strides(dstDims);
  const dstTotal = (dstDims[0] as number) * (dstStrides[0] as number);
  dst.fill(value, offset, offset + dstTotal);
  const last = rank - 1;
  const rowLength = srcDims[last] as number;
  const index = new Array<number>(rank).fill(0);
  const rows = rowLength === 0 ? 0 : src.length / rowLength;
  const row = src as unknown as { subarray?(a: number, b: number): ArrayLike<number> };
  for (let r = 0; r < rows; r++) {
    let s = 0;
    let d = offset;
    for (let a = 0; a < last; a++) {
      s += (index[a] as number) * (srcStrides[a] as number);
      d += (index[a] as number) * (dstStrides[a] as number);
    }
    dst.set(
      row.subarray
        ? row.subarray(s, s + rowLength)
        : Array.prototype.slice.call(src, s, s + rowLength),
      d,
    );
    for (let a = last - 1; a >= 0; a--) {
      index[a] = (index[a] as number) + 1;
      if ((index[a] as number) < (srcDims[a] as number)) break;
      index[a] = 0;
    }
  }
}

/** Row-major strides of `dims`. */
export function strides(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length);
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    out[i] = stride;
    stride *= dims[i] as number;
  }
  return out;
}

interface Sliceable {
  readonly length: number;
  subarray(begin: number, end: number): Sliceable;
  slice(begin: number, end: number): Sliceable;
  set(a: Sliceable, offset: number): void;
  constructor: new (length: number) => Sliceable;
}

/**
 * Keeps the first `length` entries along `axis` of a tensor of shape `dims`. Axis 0 is a view
 * (no copy); other axes copy.
 */
export function sliceAxis<T>(
  data: T,
  dims: readonly number[],
  axis: number,
  length: number,
): { data: T; dims: number[] } {
  const kept = Math.max(0, Math.min(length, dims[axis] as number));
  const outDims = dims.map((d, i) => (i === axis ? kept : d));
  const src = data as unknown as Sliceable;
  const st = strides(dims);
  const inner = (st[axis] as number) * (dims[axis] as number);
  if (axis === 0) return { data: src.subarray(0, kept * (st[0] as number)) as T, dims: outDims };
  const outer = src.length / inner;
  const keptInner = kept * (st[axis] as number);
  const out = new src.constructor(outer * keptInner);
  for (let o = 0; o < outer; o++)
    out.set(src.subarray(o * inner, o * inner + keptInner), o * keptInner);
  return { data: out as T, dims: outDims };
}
