/**
 * What a model wants its input to look like, checked once and completed with defaults. The
 * checks are hand-written rather than a zod schema because `preprocessImage` may run them for
 * every frame.
 */
import { describeValue } from '../../core/errors.js';
import { invalidInput, isPositiveInteger } from './image.js';

/**
 * How the image is fitted into the model's `width × height`:
 * - `'stretch'`: resized to exactly `width × height`, aspect ratio ignored.
 * - `'letterbox'`: YOLO style; scaled by `min(width / w, height / h)` keeping the aspect ratio,
 *   centred, and padded on both sides of the short axis.
 * - `'fit-height'`: PaddleOCR recogniser style; resized to `height` keeping the aspect ratio,
 *   to a width of `min(width, ceil(height * w / h))`, left-aligned and padded on the right.
 */
export type ResizeMode = 'stretch' | 'letterbox' | 'fit-height';

/** Order of the three colour planes in the output tensor. */
export type ChannelOrder = 'rgb' | 'bgr';

/** Per-plane constants, in output plane order. */
export type Triple = readonly [number, number, number];

/**
 * The model input one image becomes: a `3 × height × width` float32 block in NCHW order, each
 * element `(pixel * scale - mean[c]) / std[c]`, with padding set to `padValue`.
 */
export interface PreprocessSpec {
  /** Output width in pixels (the tensor's last dimension), a positive integer. */
  readonly width: number;
  /** Output height in pixels, a positive integer. */
  readonly height: number;
  /** How the image is fitted into `width × height`. */
  readonly resize: ResizeMode;
  /**
   * Subtracted after `scale`, per output plane (plane 0 is red for `'rgb'`, blue for `'bgr'`).
   * @default [0, 0, 0]
   */
  readonly mean?: Triple;
  /**
   * Divides after `mean` is subtracted, per output plane; no entry may be 0.
   * @default [1, 1, 1]
   */
  readonly std?: Triple;
  /**
   * Multiplies the 0–255 pixel value before `mean` and `std`.
   * @default 1 / 255
   */
  readonly scale?: number;
  /**
   * Order of the output planes, whatever the image's format.
   * @default 'rgb'
   */
  readonly channelOrder?: ChannelOrder;
  /**
   * Written as-is into padding, after normalisation (YOLO's grey 114 with the default scale is
   * `114 / 255`).
   * @default 0
   */
  readonly padValue?: number;
}

/** A {@link PreprocessSpec} that passed its checks, with every default filled in; frozen. */
export type ResolvedPreprocessSpec = Readonly<Required<PreprocessSpec>>;

const resizeModes: readonly ResizeMode[] = ['stretch', 'letterbox', 'fit-height'];
const channelOrders: readonly ChannelOrder[] = ['rgb', 'bgr'];
const quoted = (names: readonly string[]) => names.map((n) => JSON.stringify(n)).join(', ');

function triple(
  where: string,
  path: string,
  value: unknown,
  fallback: Triple,
  nonZero: boolean,
): Triple {
  if (value === undefined) return fallback;
  const ok =
    Array.isArray(value) &&
    value.length === 3 &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v) && (!nonZero || v !== 0));
  if (!ok) {
    const what = nonZero ? 'three finite non-zero numbers' : 'three finite numbers';
    const received = Array.isArray(value)
      ? `[${value.map((v) => describeValue(v)).join(', ')}]`
      : describeValue(value);
    throw invalidInput(where, path, what, received);
  }
  return Object.freeze([value[0], value[1], value[2]] as const);
}

function finite(where: string, path: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidInput(where, path, 'a finite number', describeValue(value));
  }
  return value;
}

/**
 * Checks `spec` and fills in its defaults. Throws `E_INVALID_INPUT` naming the first bad field,
 * what it must be and what it was.
 */
export function resolveSpec(spec: PreprocessSpec, where: string): ResolvedPreprocessSpec {
  if (typeof spec !== 'object' || spec === null) {
    throw invalidInput(
      where,
      'spec',
      'an object { width, height, resize, ... }',
      describeValue(spec),
    );
  }
  if (!isPositiveInteger(spec.width)) {
    throw invalidInput(where, 'spec.width', 'a positive integer', describeValue(spec.width));
  }
  if (!isPositiveInteger(spec.height)) {
    throw invalidInput(where, 'spec.height', 'a positive integer', describeValue(spec.height));
  }
  if (!resizeModes.includes(spec.resize)) {
    throw invalidInput(
      where,
      'spec.resize',
      `one of ${quoted(resizeModes)}`,
      describeValue(spec.resize),
    );
  }
  const channelOrder = spec.channelOrder ?? 'rgb';
  if (!channelOrders.includes(channelOrder)) {
    throw invalidInput(
      where,
      'spec.channelOrder',
      `one of ${quoted(channelOrders)}`,
      describeValue(channelOrder),
    );
  }
  return Object.freeze({
    width: spec.width,
    height: spec.height,
    resize: spec.resize,
    mean: triple(where, 'spec.mean', spec.mean, [0, 0, 0], false),
    std: triple(where, 'spec.std', spec.std, [1, 1, 1], true),
    scale: finite(where, 'spec.scale', spec.scale, 1 / 255),
    channelOrder,
    padValue: finite(where, 'spec.padValue', spec.padValue, 0),
  });
}

/**
 * Number of float32 elements one image occupies in the output: `3 * spec.height * spec.width`.
 * The next image of a batch starts this many elements later. Throws `E_INVALID_INPUT` for a
 * size that is not a positive integer.
 */
export function preprocessedLength(spec: Pick<PreprocessSpec, 'width' | 'height'>): number {
  const where = 'preprocessedLength()';
  if (typeof spec !== 'object' || spec === null) {
    throw invalidInput(where, 'spec', 'an object { width, height }', describeValue(spec));
  }
  if (!isPositiveInteger(spec.width)) {
    throw invalidInput(where, 'spec.width', 'a positive integer', describeValue(spec.width));
  }
  if (!isPositiveInteger(spec.height)) {
    throw invalidInput(where, 'spec.height', 'a positive integer', describeValue(spec.height));
  }
  return 3 * spec.height * spec.width;
}
