import fc from 'fast-check';
import { InvalidInputError, SalamaError } from 'salama';
import { describe, expect, it } from 'vitest';
import {
  type ImageFormat,
  type ImageInput,
  ImagePreprocessor,
  type PreprocessResult,
  type PreprocessSpec,
  placeImage,
  preprocessedLength,
  preprocessImage,
} from '../../src/gpu/preprocess/index.js';

const channelsOf = { rgb: 3, rgba: 4, bgr: 3, bgra: 4 } as const;

/** An image from per-pixel tuples listed row by row. */
function image(
  width: number,
  height: number,
  format: ImageFormat,
  pixels: readonly number[][],
): ImageInput {
  return { data: Uint8Array.from(pixels.flat()), width, height, format };
}

/** Runs the kernel into a fresh array and returns the planes as plain number arrays. */
function planes(
  input: ImageInput,
  spec: PreprocessSpec,
): { values: number[][] } & PreprocessResult {
  const size = spec.width * spec.height;
  const out = new Float32Array(3 * size);
  const result = preprocessImage(input, spec, out);
  const values = [0, 1, 2].map((p) => Array.from(out.subarray(p * size, (p + 1) * size)));
  return { ...result, values };
}

/** Python's round(), as ultralytics uses it. */
function pyRound(v: number): number {
  const f = Math.floor(v);
  if (v - f !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The textbook implementation the fused kernel must agree with: per output element, locate the
 * source position with the half-pixel formula, clamp the two taps, interpolate, normalise.
 */
function reference(input: ImageInput, spec: PreprocessSpec) {
  const { width: w, height: h, format, data } = input;
  const { width: W, height: H } = spec;
  const mean = spec.mean ?? [0, 0, 0];
  const std = spec.std ?? [1, 1, 1];
  const scale = spec.scale ?? 1 / 255;
  const padValue = spec.padValue ?? 0;
  const ch = channelsOf[format];
  const rgbAt = format.startsWith('rgb') ? [0, 1, 2] : [2, 1, 0];
  const source = spec.channelOrder === 'bgr' ? [rgbAt[2], rgbAt[1], rgbAt[0]] : rgbAt;
  let rw = W;
  let rh = H;
  if (spec.resize === 'letterbox') {
    const r = Math.min(W / w, H / h);
    rw = Math.min(W, Math.max(1, pyRound(w * r)));
    rh = Math.min(H, Math.max(1, pyRound(h * r)));
  } else if (spec.resize === 'fit-height') {
    rw = Math.min(W, Math.ceil((H * w) / h));
  }
  const left = spec.resize === 'letterbox' ? Math.floor((W - rw) / 2) : 0;
  const top = spec.resize === 'letterbox' ? Math.floor((H - rh) / 2) : 0;
  const px = (x: number, y: number, c: number) => data[(y * w + x) * ch + c] as number;
  const values = new Float64Array(3 * W * H);
  for (let p = 0; p < 3; p++) {
    const c = source[p] as number;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = p * W * H + y * W + x;
        if (x < left || x >= left + rw || y < top || y >= top + rh) {
          values[i] = padValue;
          continue;
        }
        const sx = Math.max(0, (x - left + 0.5) * (w / rw) - 0.5);
        const sy = Math.max(0, (y - top + 0.5) * (h / rh) - 0.5);
        const x0 = Math.min(Math.floor(sx), w - 1);
        const y0 = Math.min(Math.floor(sy), h - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const y1 = Math.min(y0 + 1, h - 1);
        const ax = sx - x0;
        const ay = sy - y0;
        const upper = px(x0, y0, c) * (1 - ax) + px(x1, y0, c) * ax;
        const lower = px(x0, y1, c) * (1 - ax) + px(x1, y1, c) * ax;
        const v = upper * (1 - ay) + lower * ay;
        values[i] = (v * scale - (mean[p] as number)) / (std[p] as number);
      }
    }
  }
  return { values, placement: { padLeft: left, padTop: top, resizedWidth: rw, resizedHeight: rh } };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++)
    max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

describe('bilinear resize (half-pixel centres)', () => {
  it('upscales 2×2 to 4×4 with the values cv2.INTER_LINEAR gives', () => {
    const input = image(2, 2, 'rgb', [
      [0, 200, 7],
      [40, 100, 7],
      [80, 0, 7],
      [120, 40, 7],
    ]);
    const { values } = planes(input, { width: 4, height: 4, resize: 'stretch', scale: 1 });
    expect(values[0]).toEqual([0, 10, 30, 40, 20, 30, 50, 60, 60, 70, 90, 100, 80, 90, 110, 120]);
    expect(values[1]).toEqual([
      200, 175, 125, 100, 150, 133.75, 101.25, 85, 50, 51.25, 53.75, 55, 0, 10, 30, 40,
    ]);
    expect(values[2]).toEqual(new Array(16).fill(7));
  });

  it('downscales by reading only the two nearest pixels per axis (no antialiasing)', () => {
    const row = image(4, 1, 'rgb', [
      [0, 0, 0],
      [100, 0, 0],
      [200, 0, 0],
      [50, 0, 0],
    ]);
    expect(planes(row, { width: 2, height: 1, resize: 'stretch', scale: 1 }).values[0]).toEqual([
      50, 125,
    ]);
    // 4 → 1 samples position 1.5: pixels 0 and 3 do not contribute at all.
    expect(planes(row, { width: 1, height: 1, resize: 'stretch', scale: 1 }).values[0]).toEqual([
      150,
    ]);
  });

  it('returns exactly the normalised input when no resizing is needed', () => {
    const pixels = Array.from({ length: 15 }, (_, i) => [(i * 37) % 256, (i * 91) % 256, 255 - i]);
    const input = image(5, 3, 'rgb', pixels);
    const mean = [0.485, 0.456, 0.406] as const;
    const std = [0.229, 0.224, 0.225] as const;
    const { values } = planes(input, { width: 5, height: 3, resize: 'letterbox', mean, std });
    for (const p of [0, 1, 2] as const) {
      const expected = pixels.map((px) =>
        Math.fround(((px[p] as number) * (1 / 255) - mean[p]) / std[p]),
      );
      expect(values[p]).toEqual(expected);
    }
  });
});

describe('normalisation and channel order', () => {
  const one = image(1, 1, 'rgb', [[30, 60, 80]]);

  it('applies scale, then mean, then std per output plane', () => {
    const spec = { scale: 1, mean: [10, 20, 30], std: [2, 4, 5] } as const;
    expect(planes(one, { width: 1, height: 1, resize: 'stretch', ...spec }).values).toEqual([
      [10],
      [10],
      [10],
    ]);
    // The same constants through the resampling path (1×1 → 2×2).
    expect(planes(one, { width: 2, height: 2, resize: 'stretch', ...spec }).values).toEqual([
      [10, 10, 10, 10],
      [10, 10, 10, 10],
      [10, 10, 10, 10],
    ]);
  });

  it('defaults to scale 1/255, mean 0, std 1', () => {
    const { values } = planes(image(1, 1, 'rgb', [[255, 0, 51]]), {
      width: 1,
      height: 1,
      resize: 'stretch',
    });
    expect(values).toEqual([[1], [0], [Math.fround(51 / 255)]]);
  });

  it.each([
    ['rgb', [10, 20, 30], 'rgb', [10, 20, 30]],
    ['rgb', [10, 20, 30], 'bgr', [30, 20, 10]],
    ['bgr', [10, 20, 30], 'rgb', [30, 20, 10]],
    ['bgr', [10, 20, 30], 'bgr', [10, 20, 30]],
    ['rgba', [10, 20, 30, 255], 'rgb', [10, 20, 30]],
    ['bgra', [10, 20, 30, 99], 'rgb', [30, 20, 10]],
    ['bgra', [10, 20, 30, 99], 'bgr', [10, 20, 30]],
  ] as const)('reads %s pixel %j into %s planes %j, dropping alpha', (format, px, order, want) => {
    for (const size of [1, 2]) {
      const { values } = planes(image(1, 1, format, [[...px]]), {
        width: size,
        height: size,
        resize: 'stretch',
        scale: 1,
        channelOrder: order,
      });
      expect(values.map((plane) => plane[0])).toEqual(want);
    }
  });

  it('applies mean and std in output plane order', () => {
    const { values } = planes(one, {
      width: 1,
      height: 1,
      resize: 'stretch',
      scale: 1,
      channelOrder: 'bgr',
      mean: [1, 2, 3],
    });
    expect(values).toEqual([[79], [58], [27]]);
  });
});

/** Which output pixels of a plane hold `padValue`, as rows of '#' (image) and '.' (padding). */
function mask(plane: number[], width: number, padValue: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y < plane.length / width; y++) {
    rows.push(
      plane
        .slice(y * width, (y + 1) * width)
        .map((v) => (v === padValue ? '.' : '#'))
        .join(''),
    );
  }
  return rows;
}

const white = (w: number, h: number) =>
  image(
    w,
    h,
    'rgb',
    Array.from({ length: w * h }, () => [255, 255, 255]),
  );

describe('letterbox', () => {
  const spec = { width: 8, height: 8, resize: 'letterbox', padValue: -1 } as const;

  it('centres a wide image and pads above and below', () => {
    const result = planes(white(4, 2), spec);
    expect(result).toMatchObject({
      scale: 2,
      padLeft: 0,
      padTop: 2,
      resizedWidth: 8,
      resizedHeight: 4,
    });
    for (const plane of result.values) {
      expect(mask(plane, 8, -1)).toEqual([
        '........',
        '........',
        ...new Array(4).fill('########'),
        '........',
        '........',
      ]);
    }
  });

  it('centres a tall image and pads left and right', () => {
    const result = planes(white(2, 4), spec);
    expect(result).toMatchObject({
      scale: 2,
      padLeft: 2,
      padTop: 0,
      resizedWidth: 4,
      resizedHeight: 8,
    });
    for (const plane of result.values)
      expect(mask(plane, 8, -1)).toEqual(new Array(8).fill('..####..'));
  });

  it('puts the odd row of padding at the bottom, as ultralytics does', () => {
    const result = planes(white(3, 1), { ...spec, width: 4, height: 4 });
    expect(result).toMatchObject({ padLeft: 0, padTop: 1, resizedWidth: 4, resizedHeight: 1 });
    expect(result.scale).toBeCloseTo(4 / 3, 12);
    expect(mask(result.values[0] as number[], 4, -1)).toEqual(['....', '####', '....', '....']);
  });

  it('places a 1080p frame in a 640×640 input as YOLO does', () => {
    expect(placeImage(1920, 1080, 640, 640, 'letterbox')).toEqual({
      scale: 1 / 3,
      scaleX: 640 / 1920,
      scaleY: 360 / 1080,
      padLeft: 0,
      padTop: 140,
      resizedWidth: 640,
      resizedHeight: 360,
    });
  });

  it('rounds half sizes to even like Python round()', () => {
    expect(placeImage(1280, 721, 640, 640, 'letterbox').resizedHeight).toBe(360);
    expect(placeImage(1280, 723, 640, 640, 'letterbox').resizedHeight).toBe(362);
  });

  it('never resizes an extreme aspect ratio to zero pixels', () => {
    expect(placeImage(1, 10_000, 64, 64, 'letterbox')).toMatchObject({
      resizedWidth: 1,
      padLeft: 31,
    });
  });
});

describe('fit-height', () => {
  const spec = { width: 8, height: 4, resize: 'fit-height', padValue: -1 } as const;

  it('resizes to the height keeping aspect and pads on the right', () => {
    const result = planes(white(3, 2), spec);
    expect(result).toMatchObject({
      scale: 2,
      padLeft: 0,
      padTop: 0,
      resizedWidth: 6,
      resizedHeight: 4,
    });
    for (const plane of result.values)
      expect(mask(plane, 8, -1)).toEqual(new Array(4).fill('######..'));
  });

  it('rounds the width up, as PaddleOCR does', () => {
    expect(placeImage(5, 3, 8, 4, 'fit-height').resizedWidth).toBe(7);
    expect(placeImage(100, 32, 320, 48, 'fit-height').resizedWidth).toBe(150);
  });

  it('squeezes an image wider than the input to the full width, without padding', () => {
    const result = planes(white(6, 2), spec);
    expect(result).toMatchObject({ resizedWidth: 8, resizedHeight: 4, scale: 2, scaleX: 8 / 6 });
    for (const plane of result.values) expect(plane).not.toContain(-1);
  });
});

describe('output placement', () => {
  const spec = { width: 3, height: 2, resize: 'stretch' } as const;
  const length = preprocessedLength(spec);

  it('reports 3 × height × width elements per image', () => {
    expect(length).toBe(18);
    expect(new ImagePreprocessor(spec)).toMatchObject({ length: 18, dims: [3, 2, 3] });
  });

  it('writes only its own block when given an offset, in shared memory too', () => {
    const out = new Float32Array(new SharedArrayBuffer(4 * (3 * length + 5))).fill(-7);
    const input = white(5, 4);
    preprocessImage(input, spec, out, length + 2);
    expect(Array.from(out.subarray(0, length + 2))).toEqual(new Array(length + 2).fill(-7));
    expect(Array.from(out.subarray(length + 2, 2 * length + 2))).toEqual(new Array(length).fill(1));
    expect(Array.from(out.subarray(2 * length + 2))).toEqual(new Array(length + 3).fill(-7));
  });

  it('assembles a batch in place, image i at i × length', () => {
    const preprocessor = new ImagePreprocessor(spec);
    const batch = new Float32Array(2 * length);
    const black = image(2, 2, 'rgba', new Array(4).fill([0, 0, 0, 255]));
    preprocessor.run(white(4, 4), batch, 0);
    preprocessor.run(black, batch, length);
    expect(Array.from(batch)).toEqual([...new Array(length).fill(1), ...new Array(length).fill(0)]);
  });
});

const formats: readonly ImageFormat[] = ['rgb', 'rgba', 'bgr', 'bgra'];
const constant = (min: number, max: number) => fc.double({ min, max, noNaN: true });
const arbitraryImage = fc
  .record({
    width: fc.integer({ min: 1, max: 12 }),
    height: fc.integer({ min: 1, max: 12 }),
    format: fc.constantFrom(...formats),
  })
  .chain(({ width, height, format }) => {
    const n = width * height * channelsOf[format];
    return fc
      .uint8Array({ minLength: n, maxLength: n })
      .map((data): ImageInput => ({ data, width, height, format }));
  });
const arbitrarySpec: fc.Arbitrary<PreprocessSpec> = fc.record({
  width: fc.integer({ min: 1, max: 16 }),
  height: fc.integer({ min: 1, max: 16 }),
  resize: fc.constantFrom('stretch', 'letterbox', 'fit-height'),
  mean: fc.tuple(constant(-1, 1), constant(-1, 1), constant(-1, 1)),
  std: fc.tuple(constant(0.25, 2), constant(0.25, 2), constant(0.25, 2)),
  scale: constant(1 / 512, 1 / 64),
  channelOrder: fc.constantFrom('rgb', 'bgr'),
  padValue: constant(-2, 2),
});

describe('the fused kernel against the textbook reference', () => {
  it('agrees within 1e-5 on random images and specs, with the same placement', () => {
    fc.assert(
      fc.property(arbitraryImage, arbitrarySpec, (input, spec) => {
        const want = reference(input, spec);
        const out = new Float32Array(preprocessedLength(spec));
        const result = preprocessImage(input, spec, out);
        expect(result).toMatchObject(want.placement);
        expect(maxAbsDiff(out, want.values)).toBeLessThan(1e-5);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees when one ImagePreprocessor sees images of changing sizes', () => {
    fc.assert(
      fc.property(
        arbitrarySpec,
        fc.array(arbitraryImage, { minLength: 2, maxLength: 6 }),
        (spec, inputs) => {
          const preprocessor = new ImagePreprocessor(spec);
          const out = new Float32Array(preprocessor.length * inputs.length);
          for (const [i, input] of inputs.entries()) {
            preprocessor.run(input, out, i * preprocessor.length);
          }
          for (const [i, input] of inputs.entries()) {
            const block = out.subarray(i * preprocessor.length, (i + 1) * preprocessor.length);
            expect(maxAbsDiff(block, reference(input, spec).values)).toBeLessThan(1e-5);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('rejecting bad input', () => {
  const good = image(2, 2, 'rgb', new Array(4).fill([1, 2, 3]));
  const spec: PreprocessSpec = { width: 4, height: 4, resize: 'letterbox' };
  const length = preprocessedLength(spec);

  /** Runs `call` against a sentinel-filled output and returns the error, checking nothing was written. */
  function rejection(call: (out: Float32Array) => unknown, out = new Float32Array(length)) {
    out.fill(-123);
    let error: unknown;
    try {
      call(out);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(SalamaError.is(error, 'E_INVALID_INPUT')).toBe(true);
    expect(Array.from(out).every((v) => v === -123)).toBe(true);
    return (error as InvalidInputError).message;
  }

  const withImage = (patch: Record<string, unknown>) => ({ ...good, ...patch }) as ImageInput;
  it.each([
    [
      'short data',
      withImage({ data: new Uint8Array(11) }),
      /image\.data\.length must be 12 \(width 2 × height 2 × 3 channels of "rgb"\), received 11/,
    ],
    [
      'RGBA-sized data for RGB',
      withImage({ data: new Uint8Array(16) }),
      /must be 12 .*received 16/,
    ],
    [
      'zero width',
      withImage({ width: 0 }),
      /image\.width must be a positive integer, received number 0/,
    ],
    [
      'fractional height',
      withImage({ height: 1.5 }),
      /image\.height must be a positive integer, received number 1\.5/,
    ],
    [
      'negative height',
      withImage({ height: -2 }),
      /image\.height must be a positive integer, received number -2/,
    ],
    [
      'unknown format',
      withImage({ format: 'gray' }),
      /image\.format must be one of "rgb", "rgba", "bgr", "bgra", received string "gray"/,
    ],
    [
      'float pixels',
      withImage({ data: new Float32Array(12) }),
      /image\.data must be a Uint8Array or Uint8ClampedArray, received Float32Array of 48 bytes/,
    ],
    [
      'a plain array',
      withImage({ data: new Array(12).fill(0) }),
      /image\.data must be a Uint8Array .*received array of length 12/,
    ],
    ['no image', null, /image must be an object/],
  ])('rejects %s', (_, input, message) => {
    expect(rejection((out) => preprocessImage(input as ImageInput, spec, out))).toMatch(message);
  });

  it.each([
    ['zero width', { width: 0 }, /spec\.width must be a positive integer, received number 0/],
    [
      'negative height',
      { height: -4 },
      /spec\.height must be a positive integer, received number -4/,
    ],
    [
      'fractional width',
      { width: 2.5 },
      /spec\.width must be a positive integer, received number 2\.5/,
    ],
    [
      'unknown resize mode',
      { resize: 'crop' },
      /spec\.resize must be one of "stretch", "letterbox", "fit-height", received string "crop"/,
    ],
    [
      'a zero std',
      { std: [1, 0, 1] },
      /spec\.std must be three finite non-zero numbers, received \[number 1, number 0, number 1\]/,
    ],
    [
      'a short std',
      { std: [1, 1] },
      /spec\.std must be three finite non-zero numbers, received \[number 1, number 1\]/,
    ],
    ['a NaN mean', { mean: [0, Number.NaN, 0] }, /spec\.mean must be three finite numbers/],
    [
      'an infinite scale',
      { scale: Number.POSITIVE_INFINITY },
      /spec\.scale must be a finite number, received number Infinity/,
    ],
    [
      'an unknown channel order',
      { channelOrder: 'grb' },
      /spec\.channelOrder must be one of "rgb", "bgr", received string "grb"/,
    ],
    [
      'a NaN pad value',
      { padValue: Number.NaN },
      /spec\.padValue must be a finite number, received number NaN/,
    ],
  ])('rejects a spec with %s, in preprocessImage and in ImagePreprocessor', (_, patch, message) => {
    const bad = { ...spec, ...patch } as PreprocessSpec;
    expect(rejection((out) => preprocessImage(good, bad, out))).toMatch(message);
    expect(rejection(() => new ImagePreprocessor(bad))).toMatch(message);
  });

  it('rejects an output too short for offset + length', () => {
    expect(
      rejection((out) => preprocessImage(good, spec, out), new Float32Array(length - 1)),
    ).toMatch(/out\.length must be at least 48 \(offset 0 \+ 48 elements\), received 47/);
    expect(rejection((out) => preprocessImage(good, spec, out, 1))).toMatch(
      /out\.length must be at least 49 \(offset 1 \+ 48 elements\), received 48/,
    );
    expect(rejection((out) => new ImagePreprocessor(spec).run(good, out, 1))).toMatch(
      /ImagePreprocessor\.run\(\): out\.length must be at least 49/,
    );
  });

  it('rejects a bad offset or a non-float32 output', () => {
    expect(rejection((out) => preprocessImage(good, spec, out, -1))).toMatch(
      /offset must be a non-negative integer, received number -1/,
    );
    expect(rejection((out) => preprocessImage(good, spec, out, 0.5))).toMatch(
      /offset must be a non-negative integer, received number 0\.5/,
    );
    const doubles = new Float64Array(length).fill(-123);
    expect(() => preprocessImage(good, spec, doubles as unknown as Float32Array)).toThrow(
      /out must be a Float32Array, received Float64Array of 384 bytes/,
    );
    expect(doubles.every((v) => v === -123)).toBe(true);
  });

  it('rejects a bad size in preprocessedLength', () => {
    expect(() => preprocessedLength({ width: 0, height: 4 })).toThrow(InvalidInputError);
    expect(() => preprocessedLength({ width: 4, height: Number.NaN })).toThrow(
      /spec\.height must be a positive integer, received number NaN/,
    );
  });

  it('accepts a Uint8ClampedArray and a Buffer as pixels', () => {
    const out = new Float32Array(length);
    const clamped = { ...good, data: new Uint8ClampedArray(good.data) };
    const buffer = { ...good, data: Buffer.from(good.data) };
    for (const input of [clamped, buffer]) {
      preprocessImage(input, { ...spec, scale: 1 }, out);
      expect(out.slice(0, 4)).toEqual(new Float32Array([1, 1, 1, 1]));
    }
  });
});
