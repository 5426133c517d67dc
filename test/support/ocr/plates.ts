import { createCanvas, GlobalFonts, ImageData } from '@napi-rs/canvas';
import { mulberry32 } from '../random.js';

/** Byte layout of a {@link PlateImage}: 4 or 3 bytes per pixel, row-major. */
export type PixelFormat = 'rgba' | 'rgb';

/** An 8-bit image, row-major, `data.length === width * height * channels(format)`. */
export interface PlateImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
}

/** How {@link renderPlate} draws a plate. */
export interface RenderPlateOptions {
  /** Seeds the small size, offset and colour variation. @default 0 */
  readonly seed?: number;
  /** Font size in pixels before variation; crops come out about 70 px tall. @default 52 */
  readonly fontSizePx?: number;
}

// DejaVu (fonts-dejavu-core) is the one family installed here. Mono Bold because PP-OCRv4
// reads DejaVu Sans Bold's descending J as ']' (21 of 448 plates wrong against 5 of 448), and
// fixed-width glyphs are what plates use. Registering under our own family name pins the face
// so a fontconfig fallback never changes the pixels the tests hash.
const FONT_PATH = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf';
const FONT_FAMILY = 'SalamaPlateMono';

/** Font file {@link renderPlate} draws with. */
export const plateFontPath = FONT_PATH;

let fontRegistered = false;
function ensureFont(): void {
  if (fontRegistered) return;
  if (!GlobalFonts.registerFromPath(FONT_PATH, FONT_FAMILY)) {
    throw new Error(`cannot register plate font ${FONT_PATH}; install fonts-dejavu-core`);
  }
  fontRegistered = true;
}

export { mulberry32 };

// Kenya, Uganda and the UK leave I, O and Q off plates because they read as 1 and 0.
const LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';
const DIGITS = '0123456789';

// One template character per plate character: L letter, D digit, anything else literal.
const FORMATS = ['KLL DDDL', 'KLL DDDL', 'ULL DDDL', 'LLDD LLL'] as const;

function pick(random: () => number, from: string): string {
  return from[Math.floor(random() * from.length)] ?? from[0] ?? '';
}

/**
 * `count` plate strings drawn from `seed`: mostly Kenyan (`KDA 123A`), some Ugandan (`UAX 482B`)
 * and British (`AB12 CDE`). Uppercase letters, digits and one space each.
 */
export function plateLabels(count: number, seed: number): string[] {
  const random = mulberry32(seed);
  const labels: string[] = [];
  for (let i = 0; i < count; i++) {
    const format = FORMATS[Math.floor(random() * FORMATS.length)] ?? FORMATS[0];
    let label = '';
    for (const slot of format) {
      if (slot === 'L') label += pick(random, LETTERS);
      else if (slot === 'D') label += pick(random, DIGITS);
      else label += slot;
    }
    labels.push(label);
  }
  return labels;
}

// Kenyan front plates are white, rear plates yellow; both carry black characters.
const BACKGROUNDS = ['#ffffff', '#f7f7f2', '#f5c518', '#ffd21f'] as const;

/**
 * How plates compare: without whitespace. PP-OCRv4 has a space class but emits it for only
 * some of the gaps on a plate (about 80% at natural width, under half when padded to 320),
 * and plate registers store plates without spaces too.
 */
export function plateKey(text: string): string {
  return text.replace(/\s+/g, '');
}

/** Draws `label` as a plate crop: light background, dark bold text, a dark border. */
export function renderPlate(label: string, options: RenderPlateOptions = {}): PlateImage {
  ensureFont();
  let labelHash = 0;
  for (const ch of label) labelHash = Math.imul(labelHash ^ (ch.codePointAt(0) ?? 0), 0x01000193);
  const random = mulberry32((options.seed ?? 0) ^ labelHash);
  const fontSize = Math.round((options.fontSizePx ?? 52) * (0.94 + 0.12 * random()));
  const marginX = Math.round(fontSize * (0.35 + 0.15 * random()));
  // Tight vertical margins: the recogniser reads better when glyphs fill most of its 48 rows.
  const marginY = Math.round(fontSize * (0.12 + 0.06 * random()));
  const dx = Math.round(random() * 4 - 2);
  const dy = Math.round(random() * 4 - 2);
  const background = BACKGROUNDS[Math.floor(random() * BACKGROUNDS.length)] ?? BACKGROUNDS[0];

  const font = `${fontSize}px ${FONT_FAMILY}`;
  const measure = createCanvas(1, 1).getContext('2d');
  measure.font = font;
  const textWidth = Math.ceil(measure.measureText(label).width);
  const width = textWidth + 2 * marginX;
  const height = Math.round(fontSize * 1.05) + 2 * marginY;

  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, width, height);
  const border = Math.max(2, Math.round(fontSize / 18));
  ctx.strokeStyle = '#141414';
  ctx.lineWidth = border;
  ctx.strokeRect(border, border, width - 2 * border, height - 2 * border);
  ctx.fillStyle = '#101010';
  ctx.font = font;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(label, width / 2 + dx, height / 2 + dy);

  const pixels = ctx.getImageData(0, 0, width, height).data;
  return { data: new Uint8Array(pixels), width, height, format: 'rgba' };
}

/** The same pixels as RGBA, sharing nothing with `image`. */
export function toRgba(image: PlateImage): ImageData {
  const pixels = new Uint8ClampedArray(image.width * image.height * 4);
  if (image.format === 'rgba') {
    pixels.set(image.data);
  } else {
    for (let src = 0, dst = 0; dst < pixels.length; src += 3, dst += 4) {
      pixels[dst] = image.data[src] ?? 0;
      pixels[dst + 1] = image.data[src + 1] ?? 0;
      pixels[dst + 2] = image.data[src + 2] ?? 0;
      pixels[dst + 3] = 255;
    }
  }
  return new ImageData(pixels, image.width, image.height);
}

/** Shape of the recogniser input {@link recognizerInput} builds. */
export interface RecognizerInputOptions {
  /** Input height the model was trained at. @default 48 */
  readonly height?: number;
  /** Padded input width; omit for the crop's natural width, `ceil(height * w / h)`. */
  readonly width?: number;
  /**
   * Channel order of the planes. PaddleOCR reads images with OpenCV and never swaps channels,
   * so PP-OCR models were trained on BGR. @default 'bgr'
   */
  readonly channelOrder?: 'bgr' | 'rgb';
}

/** One recogniser input without its batch dimension: CHW float32 in [-1, 1], padding 0. */
export interface RecognizerInput {
  readonly data: Float32Array;
  readonly dims: readonly [3, number, number];
  /** Columns holding the resized crop; the rest, up to `dims[2]`, is padding. */
  readonly contentWidth: number;
}

/**
 * PaddleOCR's `resize_norm_img`: scale to `height` keeping aspect (squeezed if wider than
 * `width`), map bytes to `(x / 255 - 0.5) / 0.5`, lay out CHW and zero-pad on the right.
 * Resizing uses canvas bilinear scaling, close to but not bit-equal with OpenCV's.
 */
export function recognizerInput(
  image: PlateImage,
  options: RecognizerInputOptions = {},
): RecognizerInput {
  const height = options.height ?? 48;
  const natural = Math.ceil((height * image.width) / image.height);
  const width = options.width ?? natural;
  const contentWidth = Math.min(width, natural);

  const source = createCanvas(image.width, image.height);
  source.getContext('2d').putImageData(toRgba(image), 0, 0);
  const target = createCanvas(contentWidth, height);
  const ctx = target.getContext('2d');
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(source, 0, 0, contentWidth, height);
  const pixels = ctx.getImageData(0, 0, contentWidth, height).data;

  const plane = height * width;
  const data = new Float32Array(3 * plane);
  const order = options.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < contentWidth; x++) {
      const src = (y * contentWidth + x) * 4;
      const dst = y * width + x;
      for (let c = 0; c < 3; c++) {
        data[c * plane + dst] = ((pixels[src + (order[c] ?? c)] ?? 0) / 255 - 0.5) / 0.5;
      }
    }
  }
  return { data, dims: [3, height, width], contentWidth };
}

/** A rendered plate ready for the recogniser, with the text it should read. */
export interface PlateCrop {
  readonly label: string;
  readonly input: RecognizerInput;
}

/** `count` plates from `seed`, rendered and preprocessed; `width` as in {@link recognizerInput}. */
export function plateCrops(
  count: number,
  seed: number,
  options: Omit<RecognizerInputOptions, 'height'> = {},
): PlateCrop[] {
  return plateLabels(count, seed).map((label, i) => ({
    label,
    input: recognizerInput(renderPlate(label, { seed: seed + i }), options),
  }));
}
