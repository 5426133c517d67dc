/**
 * Distributed inference on BullMQ with the real Redis: jobs batched by the worker's
 * GPUOptimizer, large results passed by reference, retries, priorities, and two worker
 * processes of which one is killed mid-job while every submitted job still resolves exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { GPUOptimizer, runtimeModule, type Tensor } from 'salama/gpu';
import { InferenceQueue, InferenceWorker } from 'salama/scaling/bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ScaleRuntimeOptions } from '../gpu/fixtures/scale-runtime.js';
import { type RedisFixture, redisFixture } from '../support/redis.js';
import { until } from '../support/until.js';

const fixture = new URL('../gpu/fixtures/scale-runtime.ts', import.meta.url);
const childScript = fileURLToPath(new URL('./fixtures/inference-worker-child.ts', import.meta.url));
const vec = (...values: number[]): Tensor => ({
  dtype: 'float32',
  dims: [values.length],
  data: Float32Array.from(values),
});

let redis: RedisFixture;
let prefix: string;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  redis = await redisFixture();
  prefix = redis.prefix.slice(0, -1); // BullMQ adds the ":"
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await redis.cleanup();
});

function optimizer(options: ScaleRuntimeOptions = {}) {
  const gpu = new GPUOptimizer({
    runtime: runtimeModule(fixture, { factor: 2, ...options }),
    instances: 1,
    maxBatchSize: 16,
    maxQueueDelayMs: 5,
    warmup: { inputs: { x: [1] } },
  });
  closers.push(() => gpu.close());
  return gpu;
}

/** A target that counts the items it is given before passing them on. */
function counted(gpu: GPUOptimizer) {
  const target = {
    calls: 0,
    infer(...args: Parameters<GPUOptimizer['infer']>) {
      target.calls++;
      return gpu.infer(...args);
    },
  };
  return target;
}

/** BullMQ's own view of the test queue: how many jobs wait, run, are done. */
async function jobCounts() {
  const view = new Queue('ocr', { connection: redis.client, prefix });
  try {
    return await view.getJobCounts('waiting', 'prioritized', 'active', 'completed', 'failed');
  } finally {
    await view.close();
  }
}

function queue(options: Partial<ConstructorParameters<typeof InferenceQueue>[0]> = {}) {
  const q = new InferenceQueue({ connection: redis.client, name: 'ocr', prefix, ...options });
  closers.push(() => q.close());
  return q;
}

async function worker(
  gpu: GPUOptimizer,
  options: Partial<ConstructorParameters<typeof InferenceWorker>[0]> = {},
) {
  const w = new InferenceWorker({
    connection: redis.connect({ maxRetriesPerRequest: null }),
    name: 'ocr',
    prefix,
    target: gpu,
    ...options,
  });
  closers.push(() => w.close());
  await w.ready();
  return w;
}

describe('InferenceQueue and InferenceWorker', () => {
  it('runs submitted items on a worker whose GPUOptimizer batches them', async () => {
    const gpu = optimizer({ delayMs: 5 });
    await worker(gpu, { concurrency: 32 });
    const q = queue();
    // Each waiting submit listens on the queue; 64 at once must not look like a leak.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => q.submit(vec(i, i + 0.5))),
    ).finally(() => process.off('warning', onWarning));
    results.forEach((r, i) => {
      expect(Array.from(r.y?.data ?? [])).toEqual([2 * i, 2 * i + 1]);
      expect(r.y?.dims).toEqual([2]);
    });
    expect(gpu.stats().avgBatchSize).toBeGreaterThan(2);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('passes a large result by reference and deletes it once read', async () => {
    await worker(optimizer(), { inlineResultBytes: 1024 });
    const q = queue();
    const big = new Float32Array(20_000).map((_, i) => i);
    const result = await q.submit({ dtype: 'float32', dims: [big.length], data: big });
    expect(result.y?.data).toEqual(big.map((v) => v * 2));
    const small = await q.submit(vec(1));
    expect(Array.from(small.y?.data ?? [])).toEqual([2]);
    expect((await redis.keys()).filter((k) => k.includes(':result:'))).toEqual([]);
  });

  it('retries a failing item with backoff and rejects once its attempts are spent', async () => {
    const gpu = optimizer({ failOn: 13 });
    await worker(gpu);
    const q = queue({ attempts: 3, backoffMs: 20 });
    await expect(q.submit(vec(13))).rejects.toMatchObject({
      code: 'E_BACKEND_FAILED',
      message: expect.stringMatching(/failed after 3 attempt\(s\): .*cannot score 13/),
    });
    expect(Array.from((await q.submit(vec(4))).y?.data ?? [])).toEqual([8]);
    expect(gpu.stats().failed).toBeGreaterThanOrEqual(3);
  });

  it('serves higher priorities first and rejects bad priorities', async () => {
    const q = queue();
    const order: (number | 'default')[] = [];
    // Queued before any worker runs, so the worker sees them all at once, one at a time. A
    // submit without a priority is 50: it does not jump ahead of prioritised work.
    const submits = ([0, 100, undefined] as const).map((priority) =>
      q.submit(vec(priority ?? 50), { priority }).then(() => order.push(priority ?? 'default')),
    );
    await until(async () => (await jobCounts()).prioritized === 3, 5000);
    await worker(optimizer(), { concurrency: 1 });
    await Promise.all(submits);
    expect(order).toEqual([100, 'default', 0]);
    await expect(q.submit(vec(1), { priority: 101 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining(
        'expected priority to be an integer from 0 to 100, received',
      ),
    });
  });

  it('limits the rate across every worker of the queue', async () => {
    const limiter = { max: 4, durationMs: 400 };
    const starts: number[] = [];
    for (let i = 0; i < 2; i++) {
      const w = await worker(optimizer(), { concurrency: 8, limiter });
      w.on('active', () => starts.push(performance.now()));
    }
    const q = queue();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => q.submit(vec(i))));
    expect(results.map((r) => r.y?.data[0])).toEqual(Array.from({ length: 12 }, (_, i) => 2 * i));
    starts.sort((a, b) => a - b);
    expect(starts).toHaveLength(12);
    // Two workers, one limit: the 9th job starts no sooner than two windows after the 1st
    // (less 100 ms for when each start is reported).
    expect((starts[8] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(
      2 * limiter.durationMs - 100,
    );
  });

  it('times out or aborts a submit whose job no worker takes, and takes the job back', async () => {
    const q = queue();
    const timeouts = Array.from({ length: 12 }, (_, i) => q.submit(vec(i), { timeoutMs: 50 }));
    for (const t of timeouts) await expect(t).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const controller = new AbortController();
    const pending = q.submit(vec(2), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'E_ABORTED' });
    // Aborted before the job was even added: it is taken back once it is there.
    const early = new AbortController();
    const immediate = q.submit(vec(3), { signal: early.signal });
    early.abort();
    await expect(immediate).rejects.toMatchObject({ code: 'E_ABORTED' });
    const already = AbortSignal.abort();
    await expect(q.submit(vec(4), { signal: already })).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
    await until(async () => {
      const counts = await jobCounts();
      return (counts.waiting ?? 0) + (counts.prioritized ?? 0) === 0;
    }, 5000);
    // So a worker that starts now runs none of them.
    const gpu = optimizer();
    await worker(gpu);
    await expect(q.submit(vec(5))).resolves.toBeDefined();
    expect(gpu.stats().completed).toBe(1);
  });

  it('rejects waiting submits with E_CLOSED on close(), and refuses new ones', async () => {
    const q = new InferenceQueue({ connection: redis.client, name: 'ocr', prefix });
    const waiting = q.submit(vec(1)).catch((error: unknown) => error);
    await until(async () => (await jobCounts()).prioritized === 1, 5000);
    await q.close();
    expect(await waiting).toMatchObject({ code: 'E_CLOSED' });
    await expect(q.submit(vec(2))).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it('fails input the target refuses at once, with its code, instead of retrying it', async () => {
    const gpu = optimizer();
    const counting = counted(gpu);
    await worker(gpu, { target: counting });
    const q = queue({ attempts: 3, backoffMs: 20 });
    const int32: Tensor = { dtype: 'int32', dims: [1], data: Int32Array.of(1) };
    await expect(q.submit(int32)).rejects.toMatchObject({
      code: 'E_INVALID_INPUT',
      message: expect.stringMatching(/failed, not retried: .*float32/),
    });
    expect(counting.calls).toBe(1);
  });

  it('stops taking jobs once its target is closed, so the jobs run on another worker', async () => {
    const closedGpu = optimizer();
    await closedGpu.ready();
    await closedGpu.close();
    const counting = counted(closedGpu);
    await worker(closedGpu, { target: counting, concurrency: 1 });
    const q = queue({ attempts: 3, backoffMs: 20 });
    const submits = [1, 2, 3, 4, 5].map((v) => q.submit(vec(v)));
    await until(() => counting.calls > 0, 5000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(counting.calls).toBe(1);
    await worker(optimizer());
    const results = await Promise.all(submits);
    expect(results.map((r) => r.y?.data[0])).toEqual([2, 4, 6, 8, 10]);
  });

  it('refuses a worker connection BullMQ cannot block on, and a name with ":"', () => {
    const target = { infer: async () => ({}) };
    expect(() => new InferenceWorker({ connection: redis.client, name: 'ocr', target })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('maxRetriesPerRequest: null'),
      }),
    );
    const blocking = redis.connect({ maxRetriesPerRequest: null });
    expect(() => new InferenceWorker({ connection: blocking, name: 'a:b', target })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('without ":"'),
      }),
    );
  });

  it('refuses options it cannot use, saying what was expected', () => {
    expect(() => new InferenceQueue({ connection: {} as never, name: 'ocr' })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('an ioredis connection'),
      }),
    );
    expect(
      () => new InferenceWorker({ connection: redis.client, name: 'ocr', target: {} as never }),
    ).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('target'),
      }),
    );
  });
});

describe('InferenceWorker processes', () => {
  it('resolves every submitted job exactly once when a worker process is killed mid-job', async () => {
    const children: ChildProcess[] = [];
    const lines: Record<string, unknown>[][] = [];
    const start = (n: number) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', childScript, prefix, 'ocr', '150'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      lines[n] = [];
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
        lines[n]?.push(JSON.parse(line)),
      );
      closers.push(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await once(child, 'exit');
        }
      });
    };
    start(0);
    start(1);
    await until(() => lines.every((l) => l.some((x) => x.ready)), 30_000);

    const q = queue();
    const settled = new Map<number, number>();
    const submits = Array.from({ length: 60 }, (_, i) =>
      q.submit(vec(i), { timeoutMs: 60_000 }).then((r) => {
        settled.set(i, (settled.get(i) ?? 0) + 1);
        return r.y?.data[0];
      }),
    );
    // Kill the first worker while it holds jobs.
    await until(() => (lines[0] ?? []).some((x) => x.active), 30_000);
    (children[0] as ChildProcess).kill('SIGKILL');
    const results = await Promise.all(submits);

    expect(results).toEqual(Array.from({ length: 60 }, (_, i) => 2 * i));
    expect([...settled.values()].every((n) => n === 1)).toBe(true);
    expect(settled.size).toBe(60);
    // No job was completed twice, by the same worker or by both.
    const ids = (n: number, kind: 'active' | 'completed') =>
      (lines[n] ?? []).flatMap((x) => (typeof x[kind] === 'string' ? [x[kind] as string] : []));
    const completed = [...ids(0, 'completed'), ...ids(1, 'completed')];
    expect(new Set(completed).size).toBe(completed.length);
    // What BullMQ recorded: every job completed, and the ones the killed worker held were found
    // stalled and run again (it may also have finished some without printing so).
    const view = new Queue('ocr', { connection: redis.client, prefix });
    try {
      const jobs = await view.getJobs(['completed']);
      expect(jobs).toHaveLength(60);
      expect(jobs.filter((job) => job.stalledCounter > 0).length).toBeGreaterThan(0);
    } finally {
      await view.close();
    }
  }, 90_000);
});
