import { type Logger, ManualClock, SalamaError } from 'salama';
import {
  type BatchEvent,
  GPUOptimizer,
  type GPUOptimizerOptions,
  type InferResult,
  runtimeModule,
  type Tensor,
} from 'salama/gpu';
import { MemoryPool } from 'salama/memory';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScaleRuntimeOptions } from './fixtures/scale-runtime.js';

const fixture = new URL('./fixtures/scale-runtime.ts', import.meta.url);
const scale = (options: ScaleRuntimeOptions = {}, label = 'scale') =>
  runtimeModule(fixture, options, label);

const open: GPUOptimizer[] = [];
function optimizer(
  options: Partial<GPUOptimizerOptions> & { runtimeOptions?: ScaleRuntimeOptions } = {},
) {
  const { runtimeOptions, ...rest } = options;
  const gpu = new GPUOptimizer({
    runtime: scale(runtimeOptions),
    instances: 1,
    warmup: { inputs: { x: [4] } },
    ...rest,
  });
  open.push(gpu);
  return gpu;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close({ drain: false })));
});

const vec = (...values: number[]): Tensor => ({
  dtype: 'float32',
  dims: [values.length],
  data: Float32Array.from(values),
});
const values = (result: InferResult, name = 'y') => Array.from(result[name]?.data ?? []);
const batchSizes = (events: BatchEvent[]) => events.map((e) => e.size);

async function rejection(promise: Promise<unknown>): Promise<SalamaError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SalamaError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) =>
    lines.push(
      typeof obj === 'string'
        ? { level, obj: {}, msg: obj }
        : { level, obj: obj as Record<string, unknown>, msg: msg ?? '' },
    );
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  return { logger, lines };
}

describe('GPUOptimizer results', () => {
  it('answers each caller with its own item of the batch', async () => {
    const gpu = optimizer({ maxBatchSize: 8 });
    const results = await Promise.all([
      gpu.infer(vec(1, 2)),
      gpu.infer(vec(3, 4)),
      gpu.infer(vec(5, 6)),
    ]);
    expect(results.map((r) => values(r))).toEqual([
      [2, 4],
      [6, 8],
      [10, 12],
    ]);
    expect(results[0]?.y?.dims).toEqual([2]);
    expect(values(results[0] as InferResult, 'info')).toEqual([3, 1, 1]); // batch of 3, shared input buffer
  });

  it('inferMany keeps the order of its inputs', async () => {
    const gpu = optimizer({ maxBatchSize: 3 });
    const results = await gpu.inferMany([1, 2, 3, 4, 5, 6, 7].map((v) => vec(v)));
    expect(results.map((r) => values(r)[0])).toEqual([2, 4, 6, 8, 10, 12, 14]);
  });

  it('accepts a record of tensors by input name', async () => {
    const gpu = optimizer();
    expect(values(await gpu.infer({ x: vec(7) }))).toEqual([14]);
  });

  it('hands the batch to the worker in a SharedArrayBuffer from its pool', async () => {
    const pool = new MemoryPool({ shared: true, name: 'batches', idleTimeoutMs: false });
    const gpu = optimizer({ pool });
    const result = await gpu.infer(vec(1, 2, 3));
    expect(values(result, 'info')[1]).toBe(1);
    expect(pool.stats()).toMatchObject({ leases: 0 });
    expect(pool.stats().hits + pool.stats().misses).toBeGreaterThan(0);
    await gpu.close();
    await pool.close();
  });

  it('runs on several instances at once', async () => {
    const gpu = optimizer({
      instances: 2,
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      runtimeOptions: { delayMs: 30 },
    });
    const used = new Set<number>();
    gpu.on('batch', (e) => used.add(e.instance));
    await gpu.inferMany([1, 2, 3, 4].map((v) => vec(v)));
    expect([...used].sort()).toEqual([0, 1]);
    expect(gpu.stats().instances).toBe(2);
  });
});

describe('dynamic batching', () => {
  it('waits up to maxQueueDelayMs for a batch to fill', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({ clock, maxBatchSize: 8, maxQueueDelayMs: 50 });
    await gpu.ready();
    const events: BatchEvent[] = [];
    gpu.on('batch', (e) => events.push(e));
    const pending = Promise.all([gpu.infer(vec(1)), gpu.infer(vec(2)), gpu.infer(vec(3))]);
    await clock.advanceAsync(49);
    expect(gpu.stats().queued).toBe(3);
    await clock.advanceAsync(1);
    await pending;
    expect(batchSizes(events)).toEqual([3]);
  });

  it('dispatches a full batch at once', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({ clock, maxBatchSize: 4, maxQueueDelayMs: 10_000 });
    await gpu.ready();
    const results = await gpu.inferMany([1, 2, 3, 4].map((v) => vec(v)));
    expect(results.map((r) => values(r, 'info')[0])).toEqual([4, 4, 4, 4]);
    expect(clock.now()).toBe(0);
  });

  it('dispatches a preferred batch size as soon as it fills', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({
      clock,
      maxBatchSize: 8,
      preferredBatchSizes: [2],
      maxQueueDelayMs: 10_000,
    });
    await gpu.ready();
    const events: BatchEvent[] = [];
    gpu.on('batch', (e) => events.push(e));
    const three = [gpu.infer(vec(1)), gpu.infer(vec(2)), gpu.infer(vec(3))];
    await Promise.all(three.slice(0, 2));
    expect(batchSizes(events)).toEqual([2]);
    expect(gpu.stats().queued).toBe(1);
    await clock.advanceAsync(10_000);
    await three[2];
    expect(batchSizes(events)).toEqual([2, 1]);
  });

  it('keeps growing the pending batch while every instance is busy', async () => {
    const gpu = optimizer({
      maxBatchSize: 4,
      maxQueueDelayMs: 0,
      runtimeOptions: { delayMs: 100 },
    });
    await gpu.ready();
    const events: BatchEvent[] = [];
    gpu.on('batch', (e) => events.push(e));
    const first = gpu.infer(vec(0));
    await new Promise((resolve) => setTimeout(resolve, 20)); // the first batch is running
    const rest = [1, 2, 3, 4, 5].map((v) => gpu.infer(vec(v)));
    await Promise.all([first, ...rest]);
    expect(batchSizes(events)).toEqual([1, 4, 1]);
  });

  it('queues one full batch in a busy worker so it never waits for the main thread', async () => {
    for (const [pipelineDepth, queued] of [
      [2, 0],
      [1, 2],
    ] as const) {
      const gpu = optimizer({
        maxBatchSize: 2,
        maxQueueDelayMs: 0,
        pipelineDepth,
        runtimeOptions: { delayMs: 100 },
      });
      await gpu.ready();
      const running = gpu.infer(vec(0));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const full = [gpu.infer(vec(1)), gpu.infer(vec(2))];
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(gpu.stats().queued).toBe(queued);
      expect((await Promise.all([running, ...full])).map((r) => values(r)[0])).toEqual([0, 2, 4]);
    }
  });

  it('never batches inputs of different shapes together without a padding rule', async () => {
    const gpu = optimizer({ maxBatchSize: 8, maxQueueDelayMs: 20 });
    const results = await Promise.all([
      gpu.infer(vec(1, 1)),
      gpu.infer(vec(2, 2, 2)),
      gpu.infer(vec(3, 3)),
    ]);
    expect(results.map((r) => values(r, 'info')[0])).toEqual([2, 1, 2]);
    expect(results.map((r) => values(r))).toEqual([
      [2, 2],
      [4, 4, 4],
      [6, 6],
    ]);
  });

  it('pads inputs to buckets to share a batch, and cuts outputs back', async () => {
    const gpu = optimizer({
      maxBatchSize: 8,
      maxQueueDelayMs: 20,
      padding: { axis: 0, buckets: [4, 8], value: -1, unpad: { output: 'y', axis: 0, scale: 1 } },
      warmup: false,
    });
    const results = await Promise.all([
      gpu.infer(vec(1, 2, 3)),
      gpu.infer(vec(4, 5, 6, 7)),
      gpu.infer(vec(1, 2, 3, 4, 5, 6)),
    ]);
    expect(results.map((r) => values(r))).toEqual([
      [2, 4, 6],
      [8, 10, 12, 14],
      [2, 4, 6, 8, 10, 12],
    ]);
    expect(results.map((r) => values(r, 'info')[0])).toEqual([2, 2, 1]);
    expect(results[0]?.y?.dims).toEqual([3]);
  });

  it('refuses an input larger than the largest bucket with E_INVALID_INPUT', async () => {
    const gpu = optimizer({ padding: { axis: 0, buckets: [2, 4] }, warmup: false });
    const error = await rejection(gpu.infer(vec(1, 2, 3, 4, 5)));
    expect(error.code).toBe('E_INVALID_INPUT');
    expect(error.message).toContain('axis 0 of at most 4 (the largest padding bucket), received 5');
  });
});

describe('back-pressure, deadlines, cancellation, priority', () => {
  it('rejects at once with E_QUEUE_FULL when maxQueueSize requests wait', async () => {
    const gpu = optimizer({
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      maxQueueSize: 2,
      pipelineDepth: 1,
      runtimeOptions: { delayMs: 100 },
    });
    await gpu.ready();
    const running = gpu.infer(vec(0));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const queued = [gpu.infer(vec(1)), gpu.infer(vec(2))];
    await new Promise((resolve) => setImmediate(resolve));
    const error = await rejection(gpu.infer(vec(3)));
    expect(error.code).toBe('E_QUEUE_FULL');
    expect(error.message).toContain('maxQueueSize 2');
    expect((await Promise.all([running, ...queued])).map((r) => values(r)[0])).toEqual([0, 2, 4]);
    expect(gpu.stats().rejected.queueFull).toBe(1);
  });

  it('fails a request past its deadline with E_DEADLINE_EXCEEDED and does not run it', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({ clock, maxBatchSize: 8, maxQueueDelayMs: 100 });
    await gpu.ready();
    const events: BatchEvent[] = [];
    gpu.on('batch', (e) => events.push(e));
    const late = rejection(gpu.infer(vec(1), { deadlineMs: 40 }));
    const onTime = gpu.infer(vec(2));
    await clock.advanceAsync(40);
    const error = await late;
    expect(error.code).toBe('E_DEADLINE_EXCEEDED');
    expect(error.message).toContain('it was not run');
    await clock.advanceAsync(60);
    expect(values(await onTime)).toEqual([4]);
    expect(batchSizes(events)).toEqual([1]);
    expect(gpu.stats().rejected.deadline).toBe(1);
  });

  it('removes an aborted request from the queue with E_ABORTED', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({ clock, maxBatchSize: 8, maxQueueDelayMs: 100 });
    await gpu.ready();
    const controller = new AbortController();
    const aborted = gpu.infer(vec(1), { signal: controller.signal });
    const kept = gpu.infer(vec(2));
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('camera went offline'));
    const error = await rejection(aborted);
    expect(error.code).toBe('E_ABORTED');
    expect((error.cause as Error).message).toBe('camera went offline');
    expect(gpu.stats().queued).toBe(1);
    await clock.advanceAsync(100);
    expect(values(await kept, 'info')[0]).toBe(1);
  });

  it('rejects an already aborted signal without queueing', async () => {
    const gpu = optimizer();
    expect((await rejection(gpu.infer(vec(1), { signal: AbortSignal.abort() }))).code).toBe(
      'E_ABORTED',
    );
  });

  it('serves higher priority first', async () => {
    const gpu = optimizer({
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      pipelineDepth: 1,
      runtimeOptions: { delayMs: 50 },
    });
    await gpu.ready();
    const order: number[] = [];
    const track = (p: Promise<InferResult>) => p.then((r) => order.push(values(r)[0] as number));
    const blocker = track(gpu.infer(vec(0)));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const rest = [
      track(gpu.infer(vec(1), { priority: 0 })),
      track(gpu.infer(vec(2), { priority: 5 })),
      track(gpu.infer(vec(3), { priority: 1 })),
    ];
    await Promise.all([blocker, ...rest]);
    expect(order).toEqual([0, 4, 6, 2]);
  });
});

describe('bad input', () => {
  it.each([
    [
      { dtype: 'int32', dims: [2], data: Int32Array.of(1, 2) },
      'expected float32 [*], received int32 [2]',
    ],
    [
      { dtype: 'float32', dims: [1, 2], data: Float32Array.of(1, 2) },
      'expected float32 [*], received float32 [1, 2]',
    ],
    [
      { dtype: 'float32', dims: [3], data: Float32Array.of(1, 2) },
      'expected 3 elements for dims [3], received 2 elements',
    ],
    [
      { dtype: 'float32', dims: [2], data: [1, 2] },
      'expected data as Float32Array, received array of length 2',
    ],
    [{ z: vec(1) }, `expected one of the model's inputs (x), received an unknown input name`],
    [
      'frame.jpg',
      'expected a tensor { dtype, dims, data } or a record of them, received string "frame.jpg"',
    ],
  ])(
    'fails %j alone with E_INVALID_INPUT, and the other requests succeed',
    async (bad, message) => {
      const gpu = optimizer({ maxBatchSize: 4, maxQueueDelayMs: 10 });
      const good = [gpu.infer(vec(1)), gpu.infer(vec(2))];
      const error = await rejection(gpu.infer(bad as Tensor));
      expect(error.code).toBe('E_INVALID_INPUT');
      expect(error.message).toContain(message);
      expect((await Promise.all(good)).map((r) => values(r))).toEqual([[2], [4]]);
      expect(gpu.stats().rejected.invalid).toBe(1);
    },
  );

  it.each([
    [{ maxBatchSize: 0 }, 'maxBatchSize: expected number >= 1, received number 0'],
    [{ instances: 'many' }, 'instances'],
    [{ preferredBatchSizes: [16], maxBatchSize: 8 }, 'preferredBatchSizes'],
    [{ padding: { axis: 0, buckets: [8, 4] } }, 'padding.buckets'],
    [{ pool: new MemoryPool() }, 'pool: expected a MemoryPool created with shared: true'],
    [{ runtime: { module: '' } }, 'runtime'],
  ])('rejects options %j with E_INVALID_OPTIONS', (bad, message) => {
    expect(
      () => new GPUOptimizer({ runtime: scale(), ...(bad as object) } as GPUOptimizerOptions),
    ).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining(message),
      }),
    );
  });
});

describe('failures', () => {
  it('fails only the batch whose run throws, with E_BACKEND_FAILED, and keeps serving', async () => {
    const gpu = optimizer({ maxBatchSize: 1, maxQueueDelayMs: 0, runtimeOptions: { failOn: 13 } });
    const [bad, good] = await Promise.allSettled([gpu.infer(vec(13)), gpu.infer(vec(1))]);
    expect(bad.status === 'rejected' && (bad.reason as SalamaError).code).toBe('E_BACKEND_FAILED');
    expect(bad.status === 'rejected' && (bad.reason as Error).message).toContain('cannot score 13');
    expect(good.status === 'fulfilled' && values(good.value)).toEqual([2]);
    expect(gpu.stats()).toMatchObject({ failed: 1, completed: 1, restarts: 0 });
  });

  it('fails only the in-flight requests of a crashed worker, restarts it, and serves later requests', async () => {
    const gpu = optimizer({
      instances: 2,
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      restartDelayMs: 10,
      runtimeOptions: { crashOn: 666, delayMs: 50 },
    });
    await gpu.ready();
    const exits: number[] = [];
    gpu.on('worker:exit', (e) => exits.push(e.instance));
    const restarted = new Promise((resolve) => gpu.once('worker:restart', resolve));
    const [crashed, neighbour] = await Promise.allSettled([gpu.infer(vec(666)), gpu.infer(vec(5))]);
    expect(crashed.status).toBe('rejected');
    const error = (crashed as PromiseRejectedResult).reason as SalamaError;
    expect(error.code).toBe('E_BACKEND_FAILED');
    expect(error.message).toMatch(
      /Inference worker \d \(scale\) died: worker thread exited with code 3/,
    );
    expect(neighbour.status === 'fulfilled' && values(neighbour.value)).toEqual([10]);
    await restarted;
    const later = await gpu.inferMany([1, 2, 3, 4].map((v) => vec(v)));
    expect(later.map((r) => values(r)[0])).toEqual([2, 4, 6, 8]);
    expect(exits).toHaveLength(1);
    expect(gpu.stats().restarts).toBe(1);
  });

  it('rejects ready() and infer() when the runtime cannot load', async () => {
    const gpu = optimizer({ runtimeOptions: { failLoad: true } });
    await expect(gpu.ready()).rejects.toThrow('model file is corrupt');
    expect((await rejection(gpu.infer(vec(1)))).code).toBe('E_BACKEND_FAILED');
  });

  it('says what is wrong with a module that has no default-export factory', async () => {
    const gpu = new GPUOptimizer({
      runtime: runtimeModule(new URL('./fixtures/no-factory.ts', import.meta.url), {}),
      instances: 1,
    });
    open.push(gpu);
    await expect(gpu.ready()).rejects.toThrow(
      /must export a RuntimeFactory as default, found undefined/,
    );
  });
});

describe('warm-up', () => {
  it('runs batches of 1 and maxBatchSize on every instance before ready() resolves', async () => {
    const { logger, lines } = recordingLogger();
    const gpu = optimizer({ instances: 2, maxBatchSize: 6, logger });
    await gpu.ready();
    const runs = lines.filter((l) => l.msg === 'run').map((l) => [l.obj.instance, l.obj.size]);
    expect(runs.sort()).toEqual([
      [0, 1],
      [0, 6],
      [1, 1],
      [1, 6],
    ]);
    expect(gpu.stats().batches).toBe(0);
    expect(
      lines.some(
        (l) =>
          l.level === 'info' && l.msg.includes('GPUOptimizer ready: 2 instance(s) of scale on cpu'),
      ),
    ).toBe(true);
  });

  it('warms up every padding bucket', async () => {
    const { logger, lines } = recordingLogger();
    const gpu = optimizer({
      maxBatchSize: 2,
      padding: { axis: 0, buckets: [4, 8] },
      warmup: undefined,
      logger,
    });
    await gpu.ready();
    expect(lines.filter((l) => l.msg === 'run').map((l) => l.obj.size)).toEqual([1, 2, 1, 2]);
  });
});

describe('swapRuntime', () => {
  it('replaces the model under load with zero failed requests', async () => {
    const gpu = optimizer({
      instances: 2,
      maxBatchSize: 4,
      maxQueueDelayMs: 1,
      runtimeOptions: { version: 1, delayMs: 5 },
    });
    await gpu.ready();
    const versions: number[] = [];
    let stop = false;
    const load = (async () => {
      let failures = 0;
      while (!stop) {
        const batch = await Promise.allSettled([1, 2, 3].map((v) => gpu.infer(vec(v))));
        for (const r of batch) {
          if (r.status === 'rejected') failures++;
          else versions.push(values(r.value, 'info')[2] as number);
        }
      }
      return failures;
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const swapped = new Promise((resolve) => gpu.once('swap', resolve));
    await gpu.swapRuntime(scale({ version: 2, factor: 3, delayMs: 5 }, 'scale@2'));
    await swapped;
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop = true;
    expect(await load).toBe(0);
    expect(versions).toContain(1);
    expect(versions.at(-1)).toBe(2);
    expect(values(await gpu.infer(vec(1)))).toEqual([3]);
    expect(gpu.stats()).toMatchObject({ runtime: 'scale@2', swaps: 1, failed: 0, instances: 2 });
  });

  it('keeps the current model when the new one fails to load', async () => {
    const gpu = optimizer();
    await gpu.ready();
    await expect(gpu.swapRuntime(scale({ failLoad: true }, 'broken'))).rejects.toThrow(
      'model file is corrupt',
    );
    expect(values(await gpu.infer(vec(2)))).toEqual([4]);
    expect(gpu.stats().runtime).toBe('scale');
  });

  it('refuses a model whose inputs differ with E_CONFLICT', async () => {
    const gpu = optimizer();
    await gpu.ready();
    const error = await rejection(gpu.swapRuntime(scale({ dims: [4] }, 'fixed')));
    expect(error.code).toBe('E_CONFLICT');
    expect(error.message).toContain(
      'fixed takes inputs x: float32 [4], but scale takes x: float32 [*]',
    );
    expect(values(await gpu.infer(vec(2, 2)))).toEqual([4, 4]);
  });
});

describe('close', () => {
  it('drains queued work by default, then refuses new work with E_CLOSED', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({ clock, maxQueueDelayMs: 10_000 });
    await gpu.ready();
    const queued = gpu.infer(vec(4));
    await new Promise((resolve) => setImmediate(resolve));
    const closing = gpu.close();
    await clock.advanceAsync(10_000);
    expect(values(await queued)).toEqual([8]);
    await closing;
    expect((await rejection(gpu.infer(vec(1)))).code).toBe('E_CLOSED');
  });

  it('rejects queued work with E_CLOSED when drain is false', async () => {
    const clock = new ManualClock();
    const gpu = optimizer({ clock, maxQueueDelayMs: 10_000 });
    await gpu.ready();
    const queued = rejection(gpu.infer(vec(4)));
    await new Promise((resolve) => setImmediate(resolve));
    await gpu.close({ drain: false });
    const error = await queued;
    expect(error.code).toBe('E_CLOSED');
    expect(gpu.stats().rejected.closed).toBe(1);
  });

  it('is idempotent and works with await using', async () => {
    let escaped: GPUOptimizer | undefined;
    {
      await using gpu = new GPUOptimizer({ runtime: scale(), instances: 1 });
      escaped = gpu;
      await gpu.ready();
    }
    await escaped?.close();
    expect(() => escaped?.swapRuntime(scale())).toThrowError(
      expect.objectContaining({ code: 'E_CLOSED' }),
    );
  });
});
