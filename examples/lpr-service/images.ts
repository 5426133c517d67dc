/**
 * Uploads to pixels: JPEG and PNG are recognised by their first bytes and decoded with
 * @napi-rs/canvas (prebuilt, from npm) into RGBA, which GPUOptimizer's preprocessing reads
 * in place. Anything else is refused before decoding.
 */
import { createCanvas, loadImage } from '@napi-rs/canvas';
import type { ImageInput } from 'salama/gpu';

/** An upload the service cannot use, with the HTTP status it gets. */
export class BadImageError extends Error {
  constructor(
    readonly status: 400 | 413 | 415 | 422,
    message: string,
  ) {
    super(message);
  }
}

export type ImageType = 'jpeg' | 'png';

export function sniff(bytes: Uint8Array): ImageType | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((b, i) => bytes[i] === b)) return 'png';
  return undefined;
}

/** Largest image side decoded, in pixels: a guard against decompression bombs. */
const MAX_SIDE = 4096;

export async function decodeImage(bytes: Uint8Array): Promise<ImageInput> {
  if (bytes.length === 0)
    throw new BadImageError(400, 'the request body is empty; send a JPEG or PNG');
  if (!sniff(bytes))
    throw new BadImageError(
      415,
      'the body is not a JPEG or PNG image (checked by its first bytes)',
    );
  let image: Awaited<ReturnType<typeof loadImage>>;
  try {
    image = await loadImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new BadImageError(422, `the image could not be decoded: ${(error as Error).message}`);
  }
  const { width, height } = image;
  if (!width || !height || width > MAX_SIDE || height > MAX_SIDE)
    throw new BadImageError(
      422,
      `image of ${width}×${height}: expected sides from 1 to ${MAX_SIDE} pixels`,
    );
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  return { data: ctx.getImageData(0, 0, width, height).data, width, height, format: 'rgba' };
}

/** The pixels of a rectangle of an RGBA image, copied. */
export function crop(
  image: ImageInput,
  box: { x: number; y: number; width: number; height: number },
): ImageInput {
  const x = Math.max(0, Math.floor(box.x));
  const y = Math.max(0, Math.floor(box.y));
  const width = Math.min(image.width - x, Math.ceil(box.width));
  const height = Math.min(image.height - y, Math.ceil(box.height));
  const data = new Uint8Array(width * height * 4);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * image.width + x) * 4;
    data.set(image.data.subarray(from, from + width * 4), row * width * 4);
  }
  return { data, width, height, format: 'rgba' };
}
