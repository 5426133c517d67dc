/**
 * GPUOptimizer on the real PP-OCRv4 recogniser: plates rendered in the test, batched with
 * padding to width buckets or preprocessed from images inside the workers, decoded with CTC.
 */
import { SalamaError } from 'salama';
import { GPUOptimizer, onnxRuntime, type Tensor } from 'salama/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ctcGreedyDecode,
  loadDictionary,
  ocrModelPaths,
  plateCrops,
  plateKey,
  plateLabels,
  renderPlate,
} from '../support/ocr/index.js';

const dictionary = loadDictionary();
const model = ocrModelPaths.recognizer;
const decode = (probs: Tensor) =>
  ctcGreedyDecode(
    probs.data as Float32Array,
    probs.dims[0] as number,
    probs.dims[1] as number,
    dictionary,
  ).text;
const outputOf = (result: Record<string, Tensor>) => Object.values(result)[0] as Tensor;

describe('GPUOptimizer with the PP-OCRv4 recogniser', () => {
  let gpu: GPUOptimizer;
  beforeAll(async () => {
    gpu = new GPUOptimizer({
      runtime: onnxRuntime({ model, label: 'ppocr-rec' }),
      instances: 1,
      maxBatchSize: 8,
      maxQueueDelayMs: 5,
      padding: {
        axis: 2,
        buckets: [160, 320, 480],
        unpad: { axis: 0, scale: 1 / 8, offset: 3, rounding: 'floor' },
      },
    });
    await gpu.ready();
  });
  afterAll(() => gpu.close());

  it('reads plates of natural widths, batched by padding to width buckets', async () => {
    const crops = plateCrops(16, 7);
    const results = await gpu.inferMany(
      crops.map((c) => ({ dtype: 'float32', dims: c.input.dims, data: c.input.data })),
    );
    const texts = results.map((r) => decode(outputOf(r)));
    const exact = crops.filter((c, i) => plateKey(texts[i] ?? '') === plateKey(c.label)).length;
    expect(exact / crops.length).toBeGreaterThanOrEqual(0.9);
    // unpadded: each crop keeps the steps the model gives it at its own width, not its bucket's
    const alone = await Promise.all(
      crops.slice(0, 3).map(async (c) => {
        const single = new GPUOptimizer({
          runtime: onnxRuntime({ model }),
          instances: 1,
          warmup: false,
        });
        try {
          return outputOf(
            await single.infer({ dtype: 'float32', dims: c.input.dims, data: c.input.data }),
          ).dims[0];
        } finally {
          await single.close();
        }
      }),
    );
    expect(results.slice(0, 3).map((r) => outputOf(r).dims[0])).toEqual(alone);
    results.forEach((r, i) => {
      expect(outputOf(r).dims[0]).toBe(Math.floor(((crops[i]?.input.dims[2] as number) + 3) / 8));
    });
    expect(gpu.stats().avgBatchSize).toBeGreaterThan(1);
  });

  it('gives each item the same answer batched as alone', async () => {
    const [crop] = plateCrops(1, 99, { width: 320 });
    const tensor: Tensor = {
      dtype: 'float32',
      dims: crop?.input.dims as readonly number[],
      data: crop?.input.data as Float32Array,
    };
    const alone = outputOf(await gpu.infer(tensor));
    const batched = await gpu.inferMany([
      tensor,
      ...plateCrops(5, 3, { width: 320 }).map((c) => ({
        dtype: 'float32' as const,
        dims: c.input.dims,
        data: c.input.data,
      })),
    ]);
    const first = outputOf(batched[0] as Record<string, Tensor>);
    let maxDiff = 0;
    for (let i = 0; i < first.data.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((first.data[i] as number) - (alone.data[i] as number)));
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('rejects a crop of the wrong height with E_INVALID_INPUT and keeps serving', async () => {
    const bad: Tensor = {
      dtype: 'float32',
      dims: [3, 32, 160],
      data: new Float32Array(3 * 32 * 160),
    };
    await expect(gpu.infer(bad)).rejects.toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_INPUT',
        message: expect.stringContaining(
          'expected float32 [3, 48, *], received float32 [3, 32, 160]',
        ),
      }),
    );
  });
});

describe('GPUOptimizer.inferImage with preprocessing in the workers', () => {
  let gpu: GPUOptimizer;
  beforeAll(async () => {
    gpu = new GPUOptimizer({
      runtime: onnxRuntime({ model, label: 'ppocr-rec' }),
      instances: 1,
      maxBatchSize: 8,
      maxQueueDelayMs: 5,
      // PaddleOCR's recogniser input: BGR, (x / 255 - 0.5) / 0.5, height 48, right-padded.
      preprocess: {
        width: 320,
        height: 48,
        resize: 'fit-height',
        channelOrder: 'bgr',
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
        unpad: { axis: 0, scale: 1 / 8, offset: 3, rounding: 'floor' },
      },
    });
    await gpu.ready();
  });
  afterAll(() => gpu.close());

  it('reads rendered plate images end to end', async () => {
    const labels = plateLabels(16, 11);
    const results = await Promise.all(
      labels.map((label, i) => gpu.inferImage(renderPlate(label, { seed: 11 + i }))),
    );
    const exact = labels.filter(
      (label, i) => plateKey(decode(outputOf(results[i]?.outputs ?? {}))) === plateKey(label),
    ).length;
    expect(exact / labels.length).toBeGreaterThanOrEqual(0.9);
    const { placement } = results[0] as {
      placement: { resizedHeight: number; padLeft: number; resizedWidth: number };
    };
    expect(placement.resizedHeight).toBe(48);
    expect(placement.padLeft).toBe(0);
    expect(outputOf(results[0]?.outputs ?? {}).dims[0]).toBe(
      Math.floor((placement.resizedWidth + 3) / 8),
    );
  });

  it('rejects a malformed image with E_INVALID_INPUT before batching', async () => {
    const image = { data: new Uint8Array(10), width: 4, height: 4, format: 'rgb' as const };
    const error = await gpu.inferImage(image).catch((e: unknown) => e);
    expect(SalamaError.is(error, 'E_INVALID_INPUT')).toBe(true);
    expect((error as Error).message).toContain('image.data');
  });

  it('needs the preprocess option', async () => {
    const plain = new GPUOptimizer({
      runtime: onnxRuntime({ model }),
      instances: 1,
      warmup: false,
    });
    try {
      await expect(plain.inferImage(renderPlate('KDA 123A'))).rejects.toThrowError(
        expect.objectContaining({
          code: 'E_INVALID_OPTIONS',
          message: expect.stringContaining('needs the preprocess option'),
        }),
      );
    } finally {
      await plain.close();
    }
  });

  it('refuses a spec the model cannot take', async () => {
    const wrong = new GPUOptimizer({
      runtime: onnxRuntime({ model }),
      instances: 1,
      preprocess: { width: 320, height: 32, resize: 'fit-height' },
    });
    await expect(wrong.ready()).rejects.toThrowError(
      /makes float32 \[3, 32, 320\] for input "x" of ch_PP-OCRv4_rec_infer.onnx, which takes float32 \[3, 48, \*\]/,
    );
    await wrong.close();
  });

  it('checks the spec and refuses padding with preprocess at construction', () => {
    expect(
      () =>
        new GPUOptimizer({
          runtime: onnxRuntime({ model }),
          preprocess: { width: 320, height: 48, resize: 'fit-height', std: [1, 0, 1] },
        }),
    ).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('std'),
      }),
    );
    expect(
      () =>
        new GPUOptimizer({
          runtime: onnxRuntime({ model }),
          preprocess: { width: 320, height: 48, resize: 'fit-height' },
          padding: { axis: 2, buckets: [320] },
        }),
    ).toThrowError(/either padding \(tensors\) or preprocess \(images\), not both/);
  });
});
