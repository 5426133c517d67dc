/**
 * The Autoscaler driving a real GPUOptimizer's instance count: busy instances make it add
 * workers, idle ones make it remove them, and callers see no failure while it does.
 */
import { ManualClock } from 'salama';
import { GPUOptimizer, runtimeModule, type Tensor } from 'salama/gpu';
import { Autoscaler, gpuScaleTarget } from 'salama/scaling';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../support/until.js';

const fixture = new URL('../gpu/fixtures/scale-runtime.ts', import.meta.url);
const vec = (v: number): Tensor => ({ dtype: 'float32', dims: [1], data: Float32Array.of(v) });
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function optimizer(instances = 1) {
  const gpu = new GPUOptimizer({
    runtime: runtimeModule(fixture, { factor: 2, delayMs: 20 }),
    instances,
    maxBatchSize: 4,
    maxQueueDelayMs: 1,
    warmup: { inputs: { x: [1] } },
  });
  closers.push(() => gpu.close());
  return gpu;
}

describe('GPUOptimizer.resize and gpuScaleTarget', () => {
  it('scales instances up under load and down when idle, without a failed request', async () => {
    const gpu = optimizer(1);
    await gpu.ready();
    const target = gpuScaleTarget(gpu);
    const hpa = new Autoscaler({
      target,
      metrics: [{ type: 'Resource', name: 'gpu', averageUtilization: 30 }],
      minReplicas: 1,
      maxReplicas: 3,
      behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
      clock: new ManualClock(1_700_000_000_000),
    });
    closers.push(() => hpa.close());
    const resized: { from: number; to: number }[] = [];
    gpu.on('resize', (e) => resized.push(e));

    let running = true;
    const failures: unknown[] = [];
    let answered = 0;
    const callers = Array.from({ length: 24 }, async (_, c) => {
      for (let i = 0; running; i++) {
        try {
          const r = await gpu.infer(vec(c + i));
          if (r.y?.data[0] !== 2 * (c + i)) failures.push(new Error('wrong answer'));
          answered++;
        } catch (error) {
          failures.push(error);
          return; // a failing caller stops: the test fails on it, and never spins
        }
      }
    });
    await until(() => answered > 100, 10_000);
    const up = await hpa.sync().finally(() => {
      if (failures.length) running = false;
    });
    expect(up.replicas).toBe(3);
    expect(gpu.stats().instances).toBe(3);
    const at = answered;
    await until(() => answered > at + 200, 10_000);
    running = false;
    await Promise.all(callers);
    // Every instance took batches after the resize.
    expect(gpu.stats().busyInstances).toBeLessThanOrEqual(3);

    // Each reading covers the time since the previous one: start an idle interval.
    await target.metrics();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const down = await hpa.sync();
    expect(down.replicas).toBe(1);
    expect(gpu.stats().instances).toBe(1);
    expect(failures).toEqual([]);
    expect(resized).toEqual([
      { from: 1, to: 3 },
      { from: 3, to: 1 },
    ]);
    expect(Array.from((await gpu.infer(vec(21))).y?.data ?? [])).toEqual([42]);
  });

  it('finishes batches in flight on removed instances', async () => {
    const gpu = optimizer(3);
    await gpu.ready();
    const pending = Array.from({ length: 24 }, (_, i) => gpu.infer(vec(i)));
    await gpu.resize(1);
    const results = await Promise.all(pending);
    expect(results.map((r) => r.y?.data[0])).toEqual(Array.from({ length: 24 }, (_, i) => 2 * i));
  });

  it('rejects a count outside 1–64, saying what it received', async () => {
    const gpu = optimizer(1);
    await expect(gpu.resize(0)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('expected an instance count from 1 to 64, received'),
    });
    await expect(gpu.resize(2.5)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });
});
