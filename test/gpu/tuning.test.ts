import { ManualClock } from 'salama';
import { GPUOptimizer, runtimeModule, type Tensor, tune } from 'salama/gpu';
import { describe, expect, it } from 'vitest';
import { BatchTuner } from '../../src/gpu/batch-tuner.js';
import { plateaued } from '../../src/gpu/tune.js';
import { testMeterProvider } from '../support/metrics.js';

const fixture = new URL('./fixtures/scale-runtime.ts', import.meta.url);
const vec = (v: number): Tensor => ({
  dtype: 'float32',
  dims: [4],
  data: new Float32Array(4).fill(v),
});

describe('tune()', () => {
  it('sweeps batch sizes and instances and names the best configuration', async () => {
    const done: number[] = [];
    const result = await tune(
      {
        runtime: runtimeModule(fixture, { delayMs: 4 }),
        warmup: { inputs: { x: [4] } },
        maxQueueDelayMs: 1,
      },
      {
        samples: [vec(1), vec(2)],
        batchSizes: [1, 2, 4, 8, 16, 32, 64],
        instances: [1],
        requests: 96,
        concurrency: 16,
        onProgress: (p) => done.push(p.done),
      },
    );
    // A 4 ms fixed cost per batch: throughput grows with batch size until 16 callers cap it.
    expect(done).toEqual(result.table.map((_, i) => i + 1));
    const sizes = result.table.map((t) => t.maxBatchSize);
    expect(sizes.slice(0, 4)).toEqual([1, 2, 4, 8]);
    const byBatch = (n: number) => result.table.find((t) => t.maxBatchSize === n)?.itemsPerS ?? 0;
    expect(byBatch(8)).toBeGreaterThan(byBatch(1) * 2);
    expect(result.best.maxBatchSize).toBeGreaterThanOrEqual(8);
    expect(result.options).toEqual({ instances: 1, maxBatchSize: result.best.maxBatchSize });
    for (const t of result.table) expect(t.p95Ms).toBeGreaterThanOrEqual(t.p50Ms);
  });

  it('keeps to the latency target when choosing the best', async () => {
    const result = await tune(
      { runtime: runtimeModule(fixture, { delayMs: 2 }), warmup: { inputs: { x: [4] } } },
      {
        samples: [vec(1)],
        batchSizes: [1, 16],
        instances: [1],
        requests: 64,
        concurrency: 16,
        latencyTargetMs: 0.001,
      },
    );
    // Nothing meets a 1 µs target: the trial with the lowest p95 is returned.
    const lowest = Math.min(...result.table.map((t) => t.p95Ms));
    expect(result.best.p95Ms).toBe(lowest);
  });

  it('rejects an empty sample list with E_INVALID_OPTIONS', async () => {
    await expect(
      tune({ runtime: runtimeModule(fixture, {}) }, { samples: [] }),
    ).rejects.toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('samples'),
      }),
    );
  });
});

describe('the plateau rule', () => {
  it('stops once the best of the last 4 trials is within 5 % of the first of them', () => {
    expect(plateaued([100, 200, 300])).toBe(false);
    expect(plateaued([100, 200, 300, 400])).toBe(false);
    expect(plateaued([100, 400, 410, 405, 419])).toBe(true);
    expect(plateaued([400, 410, 405, 421])).toBe(false);
  });
});

describe('adaptive batching', () => {
  it('fits t(n) = a·n + b and picks the largest batch whose gather time plus run time meets the target', () => {
    const tuner = new BatchTuner(32, 50, 40);
    for (let t = 0; t <= 100; t++) tuner.arrival(t); // one request per ms
    for (const n of [1, 2, 4, 8, 3, 6]) tuner.batch(n, 2 * n + 10);
    const tuned = tuner.recommend(100);
    expect(tuned?.a).toBeCloseTo(2, 6);
    expect(tuned?.b).toBeCloseTo(10, 6);
    // (n - 1) / 1 + 2n + 10 <= 40  =>  n <= 10; slack 40 - 30 = 10, gather 9 ms
    expect(tuned?.batchSize).toBe(10);
    expect(tuned?.queueDelayMs).toBeCloseTo(9, 6);
  });

  it('does not wait when single requests are the best it can do', () => {
    const tuner = new BatchTuner(32, 50, 15);
    tuner.arrival(0);
    tuner.arrival(100); // one request per 100 ms
    for (const n of [1, 2]) tuner.batch(n, 2 * n + 10);
    expect(tuner.recommend(100)).toMatchObject({ batchSize: 1, queueDelayMs: 0 });
  });

  it('needs batches of two sizes before it recommends anything', () => {
    const tuner = new BatchTuner(8, 5, 40);
    tuner.batch(4, 12);
    tuner.batch(4, 13);
    expect(tuner.recommend(0)).toBeUndefined();
  });

  it('caps the batches of a GPUOptimizer at the tuned size', async () => {
    const clock = new ManualClock();
    const gpu = new GPUOptimizer({
      runtime: runtimeModule(fixture, {}),
      instances: 1,
      maxBatchSize: 16,
      maxQueueDelayMs: 20,
      latencyTargetMs: 10,
      warmup: false,
      clock,
    });
    try {
      await gpu.ready();
      const sizes: number[] = [];
      gpu.on('batch', (e) => sizes.push(e.size));
      const burst = async (size: number) => {
        const pending = Array.from({ length: size }, (_, i) => gpu.infer(vec(i)));
        await clock.advanceAsync(20);
        await Promise.all(pending);
      };
      for (const size of [1, 2, 3, 16]) await burst(size);
      // The cap in force when the last burst arrives bounds that burst's first batch (later
      // batches of the burst may already run under a re-tuned cap).
      const cap = gpu.stats().tuned?.batchSize ?? 0;
      const before = sizes.length;
      await burst(16);
      expect(cap).toBeGreaterThanOrEqual(1);
      expect(cap).toBeLessThan(16);
      expect(sizes[before]).toBeLessThanOrEqual(cap);
    } finally {
      await gpu.close();
    }
  });
});

describe('stats and metrics', () => {
  it('counts batches, sizes and latencies and publishes them through OpenTelemetry', async () => {
    const otel = testMeterProvider();
    const gpu = new GPUOptimizer({
      runtime: runtimeModule(fixture, {}, 'scale'),
      instances: 1,
      maxBatchSize: 4,
      maxQueueDelayMs: 5,
      warmup: false,
      meterProvider: otel.provider,
    });
    try {
      await gpu.inferMany([1, 2, 3, 4, 5, 6].map(vec));
      const stats = gpu.stats();
      expect(stats).toMatchObject({
        completed: 6,
        batches: 2,
        avgBatchSize: 3,
        queued: 0,
        provider: 'cpu',
        runtime: 'scale',
      });
      expect(stats.batchSizes).toEqual({ 4: 1, 2: 1 });
      expect(stats.executionMs.p95).toBeGreaterThan(0);
      const metrics = await otel.read();
      const sizes = metrics.get('salama.gpu.batch_size')?.dataPoints[0]?.value as {
        count: number;
        sum: number;
      };
      expect(sizes).toMatchObject({ count: 2, sum: 6 });
      expect(metrics.get('salama.gpu.queue_time')?.descriptor.unit).toBe('ms');
      const requests = metrics.get('salama.gpu.requests')?.dataPoints ?? [];
      expect(requests.find((p) => p.attributes.outcome === 'completed')?.value).toBe(6);
      expect(metrics.get('salama.gpu.queue_length')?.dataPoints[0]).toMatchObject({
        value: 0,
        attributes: { runtime: 'scale' },
      });
    } finally {
      await gpu.close();
      await otel.shutdown();
    }
  });
});
