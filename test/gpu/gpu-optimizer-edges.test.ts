/** Edge cases found in review: mixed request kinds, closing during a restart, bad rules. */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SalamaError } from 'salama';
import {
  GPUOptimizer,
  type GPUOptimizerOptions,
  runtimeModule,
  type Tensor,
  tune,
} from 'salama/gpu';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BatchTuner } from '../../src/gpu/batch-tuner.js';
import type { ScaleRuntimeOptions } from './fixtures/scale-runtime.js';

const fixture = new URL('./fixtures/scale-runtime.ts', import.meta.url);
const scale = (options: ScaleRuntimeOptions = {}) => runtimeModule(fixture, options, 'scale');
const vec = (...v: number[]): Tensor => ({
  dtype: 'float32',
  dims: [v.length],
  data: Float32Array.from(v),
});
const open: GPUOptimizer[] = [];
const markers = mkdtempSync(join(tmpdir(), 'salama-crash-'));
let markerCount = 0;
/** A fresh crash-marker path: loads after the crash see `afterCrash`. */
const crashMarker = () => join(markers, `crash-${++markerCount}`);
afterAll(() => rmSync(markers, { recursive: true, force: true }));

/**
 * Two instances taking one item at a time; 666 crashes the one running it, and its
 * replacement loads as `afterCrash` says.
 */
function twoCrashable(o: {
  delayMs: number;
  restartDelayMs: number;
  afterCrash: ScaleRuntimeOptions['afterCrash'];
}) {
  return optimizer({
    instances: 2,
    maxBatchSize: 1,
    maxQueueDelayMs: 0,
    pipelineDepth: 1,
    restartDelayMs: o.restartDelayMs,
    runtimeOptions: {
      crashOn: 666,
      delayMs: o.delayMs,
      crashMarker: crashMarker(),
      afterCrash: o.afterCrash,
    },
  });
}
function optimizer(
  options: Partial<GPUOptimizerOptions> & { runtimeOptions?: ScaleRuntimeOptions },
) {
  const { runtimeOptions, ...rest } = options;
  const gpu = new GPUOptimizer({
    runtime: scale(runtimeOptions),
    instances: 1,
    warmup: false,
    ...rest,
  });
  open.push(gpu);
  return gpu;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close({ drain: false })));
});

describe('GPUOptimizer edge cases', () => {
  it('never batches an image with a tensor of the same shape', async () => {
    const gpu = optimizer({
      maxQueueDelayMs: 20,
      preprocess: { width: 4, height: 4, resize: 'stretch' },
      runtimeOptions: { dims: [3, 4, 4] },
    });
    const tensor: Tensor = {
      dtype: 'float32',
      dims: [3, 4, 4],
      data: new Float32Array(48).fill(1),
    };
    const image = {
      data: new Uint8Array(48).fill(255),
      width: 4,
      height: 4,
      format: 'rgb' as const,
    };
    const [fromTensor, fromImage] = await Promise.all([gpu.infer(tensor), gpu.inferImage(image)]);
    expect(fromTensor.info?.data[0]).toBe(1); // a batch of its own
    expect(fromImage.outputs.info?.data[0]).toBe(1);
    expect(Array.from(fromImage.outputs.y?.data ?? []).every((v) => v === 2)).toBe(true); // 255/255 × 2
  });

  it('refuses preprocess for a model with more than one input', async () => {
    const gpu = optimizer({
      preprocess: { width: 4, height: 4, resize: 'stretch' },
      runtimeOptions: { dims: [3, 4, 4], extraInput: true },
    });
    await expect(gpu.ready()).rejects.toThrowError(
      /expected a model with one input, received scale with inputs "x", "k"/,
    );
  });

  it('refuses a padding rule the model cannot take, naming the option', async () => {
    const gpu = optimizer({ padding: { axis: 3, buckets: [4, 8] } });
    await expect(gpu.ready()).rejects.toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining(
          'padding.axis: expected an axis of input "x" (0 to 0), received 3',
        ),
      }),
    );
    const other = optimizer({
      padding: { axis: 0, buckets: [4], unpad: { output: 'z', axis: 0, scale: 1 } },
    });
    await expect(other.ready()).rejects.toThrowError(
      /padding.unpad.output: expected one of scale's outputs \(y, info\), received "z"/,
    );
  });

  it('drains queued work across a crash: close() waits for the restarted worker', async () => {
    const gpu = optimizer({
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      pipelineDepth: 1,
      restartDelayMs: 20,
      runtimeOptions: { crashOn: 666, delayMs: 20 },
    });
    await gpu.ready();
    const crashed = gpu.infer(vec(666)).catch((e: unknown) => e);
    const queued = gpu.infer(vec(2));
    expect(SalamaError.is(await crashed, 'E_BACKEND_FAILED')).toBe(true);
    await gpu.close();
    expect(Array.from((await queued).y?.data ?? [])).toEqual([4]);
    expect(gpu.stats().restarts).toBe(1);
  });

  it('drains queued work on a healthy instance when a replacement fails to load during close()', async () => {
    const gpu = twoCrashable({ delayMs: 150, restartDelayMs: 20, afterCrash: { fail: true } });
    await gpu.ready();
    const crashed = gpu.infer(vec(666)).catch((e: unknown) => e);
    const queued = [1, 2, 3, 4, 5, 6].map((v) => gpu.infer(vec(v)));
    const closed = gpu.close();
    expect(SalamaError.is(await crashed, 'E_BACKEND_FAILED')).toBe(true);
    const results = await Promise.all(queued);
    expect(results.map((r) => r.y?.data[0])).toEqual([2, 4, 6, 8, 10, 12]);
    await closed;
    expect(gpu.stats().restarts).toBe(1);
  });

  it('drains queued work when a restarting instance is retired by resize() before close()', async () => {
    const gpu = twoCrashable({
      delayMs: 30,
      restartDelayMs: 10,
      afterCrash: { loadDelayMs: 2000 },
    });
    await gpu.ready();
    const first = gpu.infer(vec(1)); // keeps instance 0 busy, so 666 crashes instance 1
    const crashed = gpu.infer(vec(666)).catch((e: unknown) => e);
    expect(SalamaError.is(await crashed, 'E_BACKEND_FAILED')).toBe(true);
    const queued = [2, 3, 4, 5].map((v) => gpu.infer(vec(v)));
    await new Promise<void>((resolve) => gpu.once('worker:restart', () => resolve()));
    const resized = gpu.resize(1); // retires instance 1's replacement while it loads
    const closed = gpu.close();
    const results = await Promise.all([first, ...queued]);
    expect(results.map((r) => r.y?.data[0])).toEqual([2, 4, 6, 8, 10]);
    await Promise.all([resized, closed]);
    expect(gpu.stats()).toMatchObject({ instances: 1, failed: 1 });
  });

  it('keeps the process alive until a crashed only instance is back and the queue answered', () => {
    const script = fileURLToPath(new URL('./fixtures/restart-keeps-alive.ts', import.meta.url));
    const child = spawnSync(process.execPath, ['--import', 'tsx', script, crashMarker()], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout.trim())).toEqual({
      crashed: 'E_BACKEND_FAILED',
      results: [2, 4, 6],
    });
  });

  it('answers requests even when a batch listener throws', async () => {
    const gpu = optimizer({ maxQueueDelayMs: 5 });
    gpu.on('batch', () => {
      throw new Error('dashboard exporter bug');
    });
    const results = await gpu.inferMany([vec(1), vec(2)]);
    expect(results.map((r) => r.y?.data[0])).toEqual([2, 4]);
    expect(gpu.stats()).toMatchObject({ completed: 2, failed: 0, batches: 1 });
  });

  it.each([
    [
      { deadlineMs: Number.NaN },
      'options.deadlineMs must be a positive number of ms, received number NaN',
    ],
    [{ deadlineMs: -5 }, 'options.deadlineMs must be a positive number of ms'],
    [{ priority: Number.POSITIVE_INFINITY }, 'options.priority must be a finite number'],
    [{ signal: 'stop' }, 'options.signal must be an AbortSignal'],
  ])('rejects request options %j with E_INVALID_ARGUMENT', async (options, message) => {
    const gpu = optimizer({});
    await expect(gpu.infer(vec(1), options as never)).rejects.toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringContaining(message),
      }),
    );
  });
});

describe('tuning edge cases', () => {
  it('keeps its last two-size fit when recent batches all have one size, so it can grow again', () => {
    const tuner = new BatchTuner(16, 50, 40);
    tuner.batch(1, 12);
    tuner.batch(4, 18);
    for (let i = 0; i < 64; i++) tuner.batch(1, 12);
    for (let t = 0; t < 64; t++) tuner.arrival(1000 + t * 0.1); // a rush: 10 requests per ms
    const tuned = tuner.recommend(1006.3);
    expect(tuned?.batchSize).toBeGreaterThan(1);
  });

  it('tunes base options that carry preferredBatchSizes, and wants ascending sweeps', async () => {
    const base = {
      runtime: scale({}),
      warmup: false as const,
      maxBatchSize: 8,
      preferredBatchSizes: [4, 8],
    };
    const samples = [vec(1, 2, 3, 4)];
    const result = await tune(base, {
      samples,
      batchSizes: [1, 2],
      instances: [1],
      requests: 16,
      concurrency: 4,
    });
    expect(result.table.map((t) => t.maxBatchSize)).toEqual([1, 2]);
    await expect(tune(base, { samples, batchSizes: [4, 2] })).rejects.toThrowError(
      /batchSizes: expected ascending sizes/,
    );
  });
});
