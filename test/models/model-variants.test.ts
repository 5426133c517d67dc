/**
 * The model fixtures of the real-model rollout tests do what they claim, on 300 plates rendered
 * here and read by the PP-OCRv4 recogniser: the ORT-optimised copy has other bytes and the same
 * answers, the perturbed copy loads and runs but reads almost nothing, and the bytes that are not
 * a model are refused.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { GPUOptimizer, onnxRuntime } from 'salama/gpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ModelVariants,
  modelVariants,
  type PlateCrop,
  type PlateReading,
  perturbedModel,
  plateCrops,
  readPlates,
  sha256,
} from '../support/ocr/index.js';

// Rendered plates are 188–218 columns wide at height 48, so 224 pads them all with less work
// than 320; every crop shares the shape and batches of 32 need no bucketing.
const WIDTH = 224;
const PLATES = 300;
// Each pass over the plates takes 5–20 s on two shared cores.
const PASS_MS = 90_000;

describe('model variants of the PP-OCRv4 recogniser', () => {
  let dir: string;
  let variants: ModelVariants;
  let crops: PlateCrop[];
  let original: PlateReading;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-model-variants-'));
    variants = await modelVariants(dir);
    crops = plateCrops(PLATES, 2024, { width: WIDTH });
    original = await readPlates(variants.original, crops);
  }, PASS_MS);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds once per directory', async () => {
    expect(await modelVariants(dir)).toBe(variants);
  });

  it('reads at least 95% of the rendered plates exactly with the original', () => {
    expect(crops).toHaveLength(PLATES);
    expect(original.finite).toBe(true);
    expect(original.accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it(
    'gives the ORT-optimised copy other bytes and the same text on every plate',
    async () => {
      const bytes = await readFile(variants.optimized);
      expect(sha256(bytes)).toBe(variants.optimizedStats.sha256);
      expect(variants.optimizedStats.sha256).not.toBe(variants.originalSha256);
      const optimized = await readPlates(variants.optimized, crops);
      expect(optimized.texts).toEqual(original.texts);
      expect(optimized.accuracy).toBe(original.accuracy);
    },
    PASS_MS,
  );

  it(
    'perturbs every weight tensor so the copy loads and runs but reads almost nothing',
    async () => {
      const stats = variants.perturbedStats;
      expect(stats.tensors).toBeGreaterThan(100);
      expect(stats.parameters).toBeGreaterThan(2_500_000);
      expect(stats.sha256).not.toBe(variants.originalSha256);
      const perturbed = await readPlates(variants.perturbed, crops);
      expect(perturbed.finite).toBe(true);
      expect(perturbed.texts).toHaveLength(PLATES);
      // Still plate-like strings, not a model that only emits blanks.
      const read = perturbed.texts.filter((text) => text.length > 0).length;
      expect(read).toBeGreaterThan(PLATES / 2);
      expect(perturbed.accuracy).toBeLessThanOrEqual(0.1);
      expect(original.accuracy - perturbed.accuracy).toBeGreaterThan(0.8);
    },
    PASS_MS,
  );

  it('writes the same perturbed bytes from the same seed and other bytes from another', async () => {
    const again = await perturbedModel(variants.original, join(dir, 'again.onnx'));
    expect(again.sha256).toBe(variants.perturbedStats.sha256);
    const other = await perturbedModel(variants.original, join(dir, 'other.onnx'), { seed: 2 });
    expect(other.sha256).not.toBe(variants.perturbedStats.sha256);
    expect(other.tensors).toBe(again.tensors);
    await expect(
      perturbedModel(variants.original, join(dir, 'never.onnx'), { scale: 0 }),
    ).rejects.toThrowError(RangeError);
  });

  it('has ONNX Runtime refuse the bytes that are not a model', async () => {
    for (const path of [variants.notAModel, variants.truncated]) {
      await expect(InferenceSession.create(path)).rejects.toThrowError(/Protobuf parsing failed/);
    }
  });

  it('has GPUOptimizer refuse them with E_BACKEND_FAILED', async () => {
    const gpu = new GPUOptimizer({
      runtime: onnxRuntime({ model: variants.notAModel }),
      instances: 1,
      warmup: false,
    });
    try {
      await expect(gpu.ready()).rejects.toThrowError(
        expect.objectContaining({
          code: 'E_BACKEND_FAILED',
          message: expect.stringContaining('not a valid ONNX model'),
        }),
      );
    } finally {
      await gpu.close();
    }
  });
});
