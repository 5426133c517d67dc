import { createHash } from 'node:crypto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  contentTimesteps,
  ctcGreedyDecode,
  loadDictionary,
  type OcrDictionary,
  ocrModelPaths,
  plateCrops,
  plateKey,
  plateLabels,
  type RecognizerInput,
  recognizerInput,
  renderPlate,
} from '../support/ocr/index.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('plate labels and rendering', () => {
  it('draws the same labels and pixels from the same seed', () => {
    expect(plateLabels(16, 7)).toEqual(plateLabels(16, 7));
    expect(plateLabels(16, 7)).not.toEqual(plateLabels(16, 8));
    const [label = ''] = plateLabels(1, 7);
    const first = renderPlate(label, { seed: 3 });
    const again = renderPlate(label, { seed: 3 });
    expect(sha256(again.data)).toBe(sha256(first.data));
    expect(sha256(renderPlate(label, { seed: 4 }).data)).not.toBe(sha256(first.data));
  });

  it('writes Kenyan, Ugandan and British formats without I, O or Q', () => {
    const labels = plateLabels(200, 1);
    for (const label of labels) {
      expect(label).toMatch(/^(?:[KU][A-Z]{2} \d{3}[A-Z]|[A-Z]{2}\d{2} [A-Z]{3})$/);
      expect(label).not.toMatch(/[IOQ]/);
    }
    expect(labels.some((label) => label.startsWith('K'))).toBe(true);
    expect(labels.some((label) => /^[A-Z]{2}\d/.test(label))).toBe(true);
  });

  it('renders an RGBA plate of dark text on a light background', () => {
    const image = renderPlate('KDA 123A');
    expect(image.format).toBe('rgba');
    expect(image.data.length).toBe(image.width * image.height * 4);
    expect(image.width / image.height).toBeGreaterThan(3);
    let dark = 0;
    let light = 0;
    for (let i = 0; i < image.data.length; i += 4) {
      const luma = ((image.data[i] ?? 0) + (image.data[i + 1] ?? 0) + (image.data[i + 2] ?? 0)) / 3;
      if (luma < 64) dark++;
      else if (luma > 160) light++;
    }
    const pixels = image.width * image.height;
    expect(light / pixels).toBeGreaterThan(0.5);
    expect(dark / pixels).toBeGreaterThan(0.1);
  });
});

describe('recognizerInput', () => {
  it('scales to 48 rows keeping aspect and pads the right with zeros', () => {
    const image = renderPlate('KCB 482Z');
    const input = recognizerInput(image, { height: 48, width: 320 });
    const natural = Math.ceil((48 * image.width) / image.height);
    expect(input.dims).toEqual([3, 48, 320]);
    expect(input.data.length).toBe(3 * 48 * 320);
    expect(input.contentWidth).toBe(natural);
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 48; y++) {
        for (let x = 0; x < 320; x++) {
          const value = input.data[(c * 48 + y) * 320 + x] ?? Number.NaN;
          if (x >= natural) expect(value).toBe(0);
          min = Math.min(min, value);
          max = Math.max(max, value);
        }
      }
    }
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(min).toBeLessThan(-0.7);
    expect(max).toBeGreaterThan(0.7);
    expect(recognizerInput(image).dims).toEqual([3, 48, natural]);
  });

  it('squeezes a crop wider than the input width into it', () => {
    const input = recognizerInput(renderPlate('KDA 123A'), { width: 64 });
    expect(input.dims).toEqual([3, 48, 64]);
    expect(input.contentWidth).toBe(64);
  });

  it('maps bytes to (x / 255 - 0.5) / 0.5 in BGR planes unless asked for RGB', () => {
    const rgb = new Uint8Array(12 * 6 * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb.set([255, 0, 51], i);
    const image = { data: rgb, width: 12, height: 6, format: 'rgb' } as const;
    const plane = (input: RecognizerInput, c: number) => input.data[c * 48 * input.dims[2] + 5];
    const bgr = recognizerInput(image);
    expect(bgr.dims).toEqual([3, 48, 96]);
    expect(plane(bgr, 0)).toBeCloseTo(-0.6, 6);
    expect(plane(bgr, 1)).toBe(-1);
    expect(plane(bgr, 2)).toBe(1);
    const planar = recognizerInput(image, { channelOrder: 'rgb' });
    expect(plane(planar, 0)).toBe(1);
    expect(plane(planar, 2)).toBeCloseTo(-0.6, 6);
  });

  it('builds labelled crops from a seed', () => {
    const crops = plateCrops(4, 11, { width: 320 });
    expect(crops.map((crop) => crop.label)).toEqual(plateLabels(4, 11));
    for (const crop of crops) expect(crop.input.dims).toEqual([3, 48, 320]);
  });
});

describe('ctcGreedyDecode', () => {
  const dictionary: OcrDictionary = ['', 'K', 'D', 'A', ' '];
  // One row per step; each row's argmax is `best` with probability `p`.
  function probsOf(steps: readonly (readonly [best: number, p: number])[]): Float32Array {
    const probs = new Float32Array(steps.length * dictionary.length);
    steps.forEach(([best, p], t) => {
      probs.fill((1 - p) / (dictionary.length - 1), t * 5, t * 5 + 5);
      probs[t * 5 + best] = p;
    });
    return probs;
  }

  it('collapses repeats, drops blanks and keeps a character repeated across a blank', () => {
    const steps: [best: number, p: number][] = [
      [1, 0.9],
      [1, 0.5],
      [0, 0.99],
      [2, 0.8],
      [4, 0.7],
      [3, 0.6],
      [0, 0.9],
      [3, 0.4],
    ];
    const decoded = ctcGreedyDecode(probsOf(steps), 8, 5, dictionary);
    expect(decoded.text).toBe('KD AA');
    expect(decoded.confidence).toBeCloseTo((0.9 + 0.8 + 0.7 + 0.6 + 0.4) / 5, 6);
  });

  it('reads only the content steps when told', () => {
    const probs = probsOf([
      [1, 0.9],
      [2, 0.9],
      [0, 0.9],
      [3, 0.9],
      [3, 0.9],
    ]);
    expect(ctcGreedyDecode(probs, 5, 5, dictionary, { contentTimesteps: 3 }).text).toBe('KD');
    expect(ctcGreedyDecode(probs, 5, 5, dictionary).text).toBe('KDA');
    expect(contentTimesteps(180, 320, 40)).toBe(23);
    expect(contentTimesteps(400, 320, 40)).toBe(40);
  });

  it('reports zero confidence for an all-blank output and rejects a mismatched dictionary', () => {
    expect(
      ctcGreedyDecode(
        probsOf([
          [0, 0.9],
          [0, 0.8],
        ]),
        2,
        5,
        dictionary,
      ),
    ).toEqual({
      text: '',
      confidence: 0,
    });
    expect(() => ctcGreedyDecode(new Float32Array(12), 2, 6, dictionary)).toThrow(RangeError);
  });

  it('compares plates without their spaces', () => {
    expect(plateKey('KDA 123A')).toBe(plateKey('KDA123A'));
    expect(plateKey(' AB12  CDE ')).toBe('AB12CDE');
  });
});

describe('PP-OCRv4 recogniser on rendered plates', () => {
  let session: InferenceSession;
  let dictionary: OcrDictionary;

  beforeAll(async () => {
    session = await InferenceSession.create(ocrModelPaths.recognizer);
    dictionary = loadDictionary();
  });

  // Runs same-width inputs as one batch and decodes each item's unpadded steps.
  async function read(inputs: readonly RecognizerInput[]): Promise<string[]> {
    const [, height, width] = inputs[0]?.dims ?? [3, 48, 0];
    const batch = new Float32Array(inputs.length * 3 * height * width);
    inputs.forEach((input, i) => {
      batch.set(input.data, i * input.data.length);
    });
    const feeds = { x: new Tensor('float32', batch, [inputs.length, 3, height, width]) };
    const output = Object.values(await session.run(feeds))[0];
    if (output === undefined) throw new Error('the recogniser returned no output');
    const [, timesteps = 0, classes = 0] = output.dims;
    const probs = output.data as Float32Array;
    return inputs.map((input, i) => {
      const item = probs.subarray(i * timesteps * classes, (i + 1) * timesteps * classes);
      const steps = contentTimesteps(input.contentWidth, width, timesteps);
      return ctcGreedyDecode(item, timesteps, classes, dictionary, { contentTimesteps: steps })
        .text;
    });
  }

  const exactRate = (labels: readonly string[], texts: readonly string[]) =>
    labels.filter((label, i) => plateKey(label) === plateKey(texts[i] ?? '')).length /
    labels.length;

  it('has one class per dictionary entry, the space included', async () => {
    const [input] = plateCrops(1, 1, { width: 320 }).map((crop) => crop.input);
    if (input === undefined) throw new Error('no crop');
    const output = await session.run({ x: new Tensor('float32', input.data, [1, 3, 48, 320]) });
    expect(Object.values(output)[0]?.dims).toEqual([1, 40, dictionary.length]);
    expect(dictionary.at(-1)).toBe(' ');
  });

  it('reads at least 95% of 32 plates exactly, one at a time at their natural width', async () => {
    const crops = plateCrops(32, 1);
    const texts: string[] = [];
    for (const crop of crops) texts.push(...(await read([crop.input])));
    expect(
      exactRate(
        crops.map((crop) => crop.label),
        texts,
      ),
    ).toBeGreaterThanOrEqual(0.95);
  });

  it('reads at least 95% of 32 plates exactly in one batch padded to 320', async () => {
    const crops = plateCrops(32, 1, { width: 320 });
    const texts = await read(crops.map((crop) => crop.input));
    expect(
      exactRate(
        crops.map((crop) => crop.label),
        texts,
      ),
    ).toBeGreaterThanOrEqual(0.95);
  });
});
