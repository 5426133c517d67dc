/**
 * The entry points: `preprocessImage` for one-off calls and `ImagePreprocessor`, which checks
 * its spec once and keeps its resize tables while consecutive frames share a size (a camera
 * stream). Both check everything before writing, so a rejected call leaves `out` untouched.
 */
import { describeValue } from '../../core/errors.js';
import { type ImageInput, invalidInput, readImage, typedArrayTag } from './image.js';
import { fillPadding, normalizationTable, planeTransform } from './normalize.js';
import { type PreprocessResult, placeImage } from './placement.js';
import { type AxisMap, bilinearAxisMap, resampleInto, transposeInto } from './resize.js';
import { type PreprocessSpec, type ResolvedPreprocessSpec, resolveSpec } from './spec.js';

/** An {@link AxisMap} with the sizes it was built for. */
interface CachedAxisMap {
  readonly source: number;
  readonly target: number;
  readonly stride: number;
  readonly map: AxisMap;
}

/** Tables kept between calls: resize maps per axis, and the spec's normalisation table. */
interface TableCache {
  columns?: CachedAxisMap;
  rows?: CachedAxisMap;
  normalization?: Float32Array;
}

function axisMap(
  cached: CachedAxisMap | undefined,
  source: number,
  target: number,
  stride: number,
): CachedAxisMap {
  if (cached?.source === source && cached.target === target && cached.stride === stride) {
    return cached;
  }
  return { source, target, stride, map: bilinearAxisMap(source, target, stride) };
}

function checkOutput(where: string, out: Float32Array, offset: number, length: number): void {
  if (typedArrayTag(out) !== 'Float32Array') {
    throw invalidInput(where, 'out', 'a Float32Array', describeValue(out));
  }
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw invalidInput(where, 'offset', 'a non-negative integer', describeValue(offset));
  }
  if (offset + length > out.length) {
    throw invalidInput(
      where,
      'out.length',
      `at least ${offset + length} (offset ${offset} + ${length} elements)`,
      `${out.length}`,
    );
  }
}

function run(
  where: string,
  spec: ResolvedPreprocessSpec,
  cache: TableCache,
  image: ImageInput,
  out: Float32Array,
  offset: number,
): PreprocessResult {
  const { layout, bytes } = readImage(image, where);
  const { width, height } = spec;
  const planeSize = width * height;
  checkOutput(where, out, offset, 3 * planeSize);

  const placement = placeImage(image.width, image.height, width, height, spec.resize);
  const transform = planeTransform(spec, layout);
  const start = offset + placement.padTop * width + placement.padLeft;
  if (placement.resizedWidth === image.width && placement.resizedHeight === image.height) {
    cache.normalization ??= normalizationTable(spec);
    transposeInto(
      bytes,
      image.width,
      image.height,
      layout.channels,
      cache.normalization,
      transform,
      out,
      start,
      width,
      planeSize,
    );
  } else {
    cache.columns = axisMap(cache.columns, image.width, placement.resizedWidth, layout.channels);
    cache.rows = axisMap(
      cache.rows,
      image.height,
      placement.resizedHeight,
      image.width * layout.channels,
    );
    resampleInto(bytes, cache.columns.map, cache.rows.map, transform, out, start, width, planeSize);
  }
  fillPadding(out, offset, spec, placement);
  return placement;
}

/**
 * Turns one HWC 8-bit image into a normalised NCHW float32 block of `3 × spec.height ×
 * spec.width` elements, written into `out` starting at element `offset` (so a batch is built in
 * place, image `i` at `i * preprocessedLength(spec)`). `out` may be backed by a
 * `SharedArrayBuffer`. Resizing is bilinear with half-pixel centres (OpenCV `INTER_LINEAR`),
 * without antialiasing when downscaling.
 *
 * Returns where the image landed, to map boxes back to the source. Throws `E_INVALID_INPUT`,
 * writing nothing, when the image, spec, `out` or `offset` is invalid.
 *
 * @param offset - Element index in `out` where the block starts. @default 0
 */
export function preprocessImage(
  image: ImageInput,
  spec: PreprocessSpec,
  out: Float32Array,
  offset = 0,
): PreprocessResult {
  const where = 'preprocessImage()';
  return run(where, resolveSpec(spec, where), {}, image, out, offset);
}

/**
 * {@link preprocessImage} bound to one spec: the spec is checked once, at construction, and the
 * resize tables are reused while consecutive images have the same size. One instance per
 * worker thread; it is not meant to be shared between threads.
 */
export class ImagePreprocessor {
  /** The spec with its defaults filled in; frozen. */
  readonly spec: ResolvedPreprocessSpec;
  /** Elements one image occupies in `out`: `3 * height * width`. */
  readonly length: number;
  /** Shape of one image's block, without the batch dimension: `[3, height, width]`. */
  readonly dims: readonly [3, number, number];
  readonly #cache: TableCache = {};

  /** Throws `E_INVALID_INPUT` naming the first bad field of `spec`. */
  constructor(spec: PreprocessSpec) {
    this.spec = resolveSpec(spec, 'new ImagePreprocessor()');
    this.length = 3 * this.spec.height * this.spec.width;
    this.dims = Object.freeze([3, this.spec.height, this.spec.width] as const);
  }

  /**
   * Same as `preprocessImage(image, this.spec, out, offset)`.
   * @param offset - Element index in `out` where the block starts. @default 0
   */
  run(image: ImageInput, out: Float32Array, offset = 0): PreprocessResult {
    return run('ImagePreprocessor.run()', this.spec, this.#cache, image, out, offset);
  }
}
