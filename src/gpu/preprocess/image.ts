/**
 * The frame a preprocessing kernel reads, and the checks that run before anything is written.
 * Every rejection is `E_INVALID_INPUT` with a message built by {@link invalidInput}, so the
 * image, spec and output checks all read the same way.
 */
import { describeValue, InvalidInputError } from '../../core/errors.js';

/**
 * Channel layout of an {@link ImageInput}, one byte per channel. Alpha (`rgba`, `bgra`) is read
 * past and dropped.
 */
export type ImageFormat = 'rgb' | 'rgba' | 'bgr' | 'bgra';

/**
 * An 8-bit image in HWC order: rows top to bottom, pixels left to right, channels interleaved,
 * tightly packed (no row padding), so `data.length === width * height * channels`.
 * A Node.js `Buffer`, a canvas `ImageData.data` and a decoded video frame all fit.
 */
export interface ImageInput {
  /** The pixels; `Buffer` and `Uint8ClampedArray` views are read in place, never copied. */
  readonly data: Uint8Array | Uint8ClampedArray;
  /** Width in pixels, a positive integer. */
  readonly width: number;
  /** Height in pixels, a positive integer. */
  readonly height: number;
  /** Channel layout of each pixel. */
  readonly format: ImageFormat;
}

/** Where each colour sits inside one pixel of a format. */
export interface PixelLayout {
  /** Bytes per pixel: 3 or 4. */
  readonly channels: 3 | 4;
  /** Byte offset of red within a pixel. */
  readonly red: number;
  /** Byte offset of green within a pixel. */
  readonly green: number;
  /** Byte offset of blue within a pixel. */
  readonly blue: number;
}

/** The pixel layout of every {@link ImageFormat}. */
export const pixelLayouts: Readonly<Record<ImageFormat, PixelLayout>> = Object.freeze({
  rgb: Object.freeze({ channels: 3, red: 0, green: 1, blue: 2 }),
  rgba: Object.freeze({ channels: 4, red: 0, green: 1, blue: 2 }),
  bgr: Object.freeze({ channels: 3, red: 2, green: 1, blue: 0 }),
  bgra: Object.freeze({ channels: 4, red: 2, green: 1, blue: 0 }),
});

const formatNames = Object.keys(pixelLayouts).map((f) => JSON.stringify(f));

/**
 * Builds the one message every preprocessing rejection uses:
 * `preprocessImage(): image.width must be a positive integer, received number 0`.
 */
export function invalidInput(
  where: string,
  path: string,
  expected: string,
  received: string,
): InvalidInputError {
  return new InvalidInputError(`${where}: ${path} must be ${expected}, received ${received}`, {
    context: { path, expected, received },
  });
}

/** True for a positive safe integer: a size in pixels or elements. */
export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** The `Symbol.toStringTag` of a typed array, which, unlike `instanceof`, holds across realms. */
export function typedArrayTag(value: unknown): string | undefined {
  return ArrayBuffer.isView(value)
    ? (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag]
    : undefined;
}

/**
 * Checks `image` and returns its pixel layout with its bytes as a plain `Uint8Array`, so the
 * kernel's loads see one element kind. Throws `E_INVALID_INPUT` naming the first bad field.
 */
export function readImage(
  image: ImageInput,
  where: string,
): { readonly layout: PixelLayout; readonly bytes: Uint8Array } {
  if (typeof image !== 'object' || image === null) {
    throw invalidInput(
      where,
      'image',
      'an object { data, width, height, format }',
      describeValue(image),
    );
  }
  const { data, width, height, format } = image;
  if (!isPositiveInteger(width)) {
    throw invalidInput(where, 'image.width', 'a positive integer', describeValue(width));
  }
  if (!isPositiveInteger(height)) {
    throw invalidInput(where, 'image.height', 'a positive integer', describeValue(height));
  }
  const layout = Object.hasOwn(pixelLayouts, format) ? pixelLayouts[format] : undefined;
  if (layout === undefined) {
    throw invalidInput(
      where,
      'image.format',
      `one of ${formatNames.join(', ')}`,
      describeValue(format),
    );
  }
  const tag = typedArrayTag(data);
  if (tag !== 'Uint8Array' && tag !== 'Uint8ClampedArray') {
    throw invalidInput(
      where,
      'image.data',
      'a Uint8Array or Uint8ClampedArray',
      describeValue(data),
    );
  }
  const bytes = data as Uint8Array | Uint8ClampedArray;
  const expectedLength = width * height * layout.channels;
  if (bytes.length !== expectedLength) {
    throw invalidInput(
      where,
      'image.data.length',
      `${expectedLength} (width ${width} × height ${height} × ${layout.channels} channels of "${format}")`,
      `${bytes.length}`,
    );
  }
  return {
    layout,
    bytes:
      tag === 'Uint8Array'
        ? (bytes as Uint8Array)
        : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
  };
}
