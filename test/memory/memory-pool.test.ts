import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ManualClock, SalamaError } from 'salama';
import { hasFloat16Array, type LeakEvent, MemoryPool, type TrimEvent } from 'salama/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { collectGarbageUntil } from '../support/gc.js';
import { testMeterProvider } from '../support/metrics.js';

const MiB = 1024 * 1024;
const pools: MemoryPool[] = [];
function pool(options: ConstructorParameters<typeof MemoryPool>[0] = {}): MemoryPool {
  const p = new MemoryPool({ idleTimeoutMs: false, ...options });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof SalamaError) return error.code;
    throw error;
  }
  return undefined;
}

describe('MemoryPool.acquire', () => {
  it.each([
    ['float32', Float32Array],
    ['float64', Float64Array],
    ['int32', Int32Array],
    ['uint8', Uint8Array],
  ] as const)('gives a %s array of exactly the requested length', (dtype, View) => {
    const p = pool();
    const byName = p.acquire(dtype, 1001);
    const byCtor = p.acquire(View, 77);
    expect(byName.array).toBeInstanceOf(View);
    expect(byName.array.length).toBe(1001);
    expect(byName.dtype).toBe(dtype);
    expect(byName.dims).toEqual([1001]);
    expect(byCtor.array).toBeInstanceOf(View);
    expect(byCtor.length).toBe(77);
  });

  it.runIf(hasFloat16Array)('gives float16 arrays where the runtime has Float16Array', () => {
    const lease = pool().acquire('float16', 8);
    expect(lease.array.BYTES_PER_ELEMENT).toBe(2);
  });

  it.skipIf(hasFloat16Array)(
    'refuses float16 with E_INVALID_TYPE where Float16Array is missing',
    () => {
      expect(() => pool().acquire('float16', 8)).toThrowError(/needs Float16Array.*Node\.js 24/);
    },
  );

  it('serves a released buffer to the next request of the same size class', () => {
    const p = pool();
    const first = p.acquire('float32', 1000);
    const buffer = first.buffer;
    first.release();
    const second = p.acquire('float32', 990); // 3960 bytes rounds to the same 4096-byte class
    expect(second.buffer).toBe(buffer);
    expect(second.array.length).toBe(990);
    expect(p.stats()).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5, allocations: 1 });
  });

  it('shares a buffer across dtypes of the same byte size', () => {
    const p = pool();
    const floats = p.acquire('float32', 256);
    const buffer = floats.buffer;
    floats.release();
    expect(p.acquire('uint8', 1024).buffer).toBe(buffer);
  });

  it('keeps different size classes apart', () => {
    const p = pool();
    const small = p.acquire('uint8', 1000);
    const smallBuffer = small.buffer;
    small.release();
    const large = p.acquire('uint8', 5000);
    expect(large.buffer).not.toBe(smallBuffer);
    expect(p.stats().buffersPooled).toBe(1);
  });

  it('hands out the most recently released buffer first', () => {
    const p = pool();
    const a = p.acquire('float32', 100);
    const b = p.acquire('float32', 100);
    const [bufA, bufB] = [a.buffer, b.buffer];
    a.release();
    b.release();
    expect(p.acquire('float32', 100).buffer).toBe(bufB);
    expect(p.acquire('float32', 100).buffer).toBe(bufA);
  });

  it('releases a lease bound with `using` when the block ends', () => {
    const p = pool();
    {
      using lease = p.acquire('float32', 64);
      lease.array[0] = 1;
      expect(p.stats().leases).toBe(1);
    }
    expect(p.stats()).toMatchObject({ leases: 0, buffersPooled: 1 });
  });

  it('lets `using` end quietly after an explicit release', () => {
    const p = pool();
    {
      using lease = p.acquire('float32', 64);
      lease.release();
    }
    expect(p.stats().leases).toBe(0);
  });
});

describe('MemoryPool.acquireShape', () => {
  it('sizes the array by the product of dims and keeps the shape', () => {
    const lease = pool().acquireShape('float32', [8, 3, 48, 320]);
    expect(lease.array.length).toBe(8 * 3 * 48 * 320);
    expect(lease.dims).toEqual([8, 3, 48, 320]);
    expect(Object.isFrozen(lease.dims)).toBe(true);
  });

  it('treats an empty shape as a scalar', () => {
    expect(pool().acquireShape('int32', []).array.length).toBe(1);
  });

  it('accepts a zero dimension (an empty batch)', () => {
    expect(pool().acquireShape('float32', [0, 3, 48, 320]).array.length).toBe(0);
  });
});

describe('zero-filling', () => {
  it('zero: true clears what the previous lease wrote', () => {
    const p = pool({ zero: true });
    const first = p.acquire('float32', 100);
    first.array.fill(7);
    first.release();
    const second = p.acquire('float32', 100);
    expect(second.array.every((v) => v === 0)).toBe(true);
  });

  it('zero: false (the default) leaves the previous contents in a reused buffer', () => {
    const p = pool();
    const first = p.acquire('float32', 100);
    first.array.fill(7);
    first.release();
    expect(p.acquire('float32', 100).array[99]).toBe(7);
  });

  it('fresh buffers are zero either way', () => {
    expect(
      pool()
        .acquire('float64', 100)
        .array.every((v) => v === 0),
    ).toBe(true);
  });
});

describe('shared buffers', () => {
  it('backs leases with SharedArrayBuffer that a worker writes without a copy', async () => {
    const p = pool({ shared: true });
    const lease = p.acquire('float32', 1024);
    expect(lease.buffer).toBeInstanceOf(SharedArrayBuffer);
    const worker = new Worker(new URL('./fixtures/fill-worker.mjs', import.meta.url));
    try {
      worker.postMessage({ array: lease.array });
      const [reply] = await once(worker, 'message');
      expect(reply).toEqual({ sameBuffer: true });
      expect(lease.array[1023]).toBe(2046);
      expect(lease.array[10]).toBe(20);
    } finally {
      await worker.terminate();
    }
  });

  it('uses plain ArrayBuffers by default', () => {
    expect(pool().acquire('uint8', 10).buffer).toBeInstanceOf(ArrayBuffer);
  });
});

describe('budget and trimming', () => {
  it('trims idle buffers least recently used first, across size classes, to stay within maxBytes', () => {
    const p = pool({ maxBytes: 4 * MiB });
    const trims: TrimEvent[] = [];
    p.on('trim', (e) => trims.push(e));
    const a = p.acquire('uint8', MiB); // 1 MiB class
    const b = p.acquire('uint8', MiB + 1); // 1.125 MiB class
    const bufB = b.buffer;
    a.release(); // released first: least recently used
    b.release();
    p.acquire('uint8', 2 * MiB); // 2 + 2.125 idle > 4 MiB: one idle buffer must go
    expect(p.stats()).toMatchObject({ buffersPooled: 1, trims: 1, bytesPooled: 1.125 * MiB });
    expect(p.acquire('uint8', MiB + 1).buffer).toBe(bufB);
    expect(trims).toEqual([{ pool: 'default', reason: 'budget', buffers: 1, bytes: MiB }]);
  });

  it('trims within a size class oldest first', () => {
    const p = pool({ maxBytes: 3 * MiB });
    const a = p.acquire('uint8', MiB);
    const b = p.acquire('uint8', MiB);
    const bufB = b.buffer;
    a.release();
    b.release();
    p.acquire('uint8', 2 * MiB);
    expect(p.acquire('uint8', MiB).buffer).toBe(bufB);
  });

  it('throws E_POOL_EXHAUSTED when leased buffers fill the budget, and recovers after release', () => {
    const p = pool({ maxBytes: 2 * MiB });
    const held = p.acquire('uint8', 2 * MiB);
    expect(() => p.acquire('uint8', 1024)).toThrowError(
      expect.objectContaining({
        code: 'E_POOL_EXHAUSTED',
        message: expect.stringContaining('maxBytes (2097152)'),
      }),
    );
    expect(held.array.length).toBe(2 * MiB);
    held.release();
    expect(p.acquire('uint8', 1024).array.length).toBe(1024);
  });

  it("whenExhausted: 'allocate' makes one-off buffers that are dropped on release", () => {
    const p = pool({ maxBytes: MiB, whenExhausted: 'allocate' });
    const held = p.acquire('uint8', MiB);
    const extra = p.acquire('uint8', MiB);
    expect(extra.array.length).toBe(MiB);
    expect(p.stats()).toMatchObject({
      allocations: 1,
      overflowAllocations: 1,
      bytesLeased: MiB,
      leases: 2,
    });
    extra.release();
    held.release();
    expect(p.stats()).toMatchObject({ leases: 0, bytesPooled: MiB, buffersPooled: 1 });
  });

  it('trim() frees every idle buffer and reports the bytes', () => {
    const p = pool();
    for (const lease of [p.acquire('uint8', 4096), p.acquire('uint8', 8192)]) lease.release();
    const kept = p.acquire('uint8', 100);
    expect(p.trim()).toBe(4096 + 8192);
    expect(p.stats()).toMatchObject({ bytesPooled: 0, buffersPooled: 0, trims: 2, leases: 1 });
    expect(kept.array.length).toBe(100);
  });

  it('trim({ keepBytes }) stops once the idle bytes fit', () => {
    const p = pool();
    const leases = [p.acquire('uint8', 4096), p.acquire('uint8', 4096), p.acquire('uint8', 4096)];
    for (const lease of leases) lease.release();
    p.trim({ keepBytes: 5000 });
    expect(p.stats().bytesPooled).toBe(4096);
  });

  it('trim({ idleForMs }) frees only buffers idle that long', () => {
    const clock = new ManualClock();
    const p = pool({ clock });
    p.acquire('uint8', 4096).release();
    clock.advance(1000);
    p.acquire('uint8', 100_000).release();
    expect(p.trim({ idleForMs: 500 })).toBe(4096);
    expect(p.stats().buffersPooled).toBe(1);
  });

  it('frees buffers idle past idleTimeoutMs on its own', () => {
    const clock = new ManualClock();
    const p = pool({ clock, idleTimeoutMs: 1000 });
    const trims: TrimEvent[] = [];
    p.on('trim', (e) => trims.push(e));
    p.acquire('uint8', 4096).release();
    clock.advance(999);
    const kept = p.acquire('uint8', 8192);
    kept.release();
    clock.advance(1); // first check at 1000: the 4096 buffer has been idle 1000 ms
    expect(p.stats()).toMatchObject({ buffersPooled: 1, bytesPooled: 8192 });
    clock.advance(1000); // second check at 2000: the 8192 buffer has been idle 1001 ms
    expect(p.stats().buffersPooled).toBe(0);
    expect(trims.map((t) => t.reason)).toEqual(['idle', 'idle']);
  });

  it('tracks peak bytes', () => {
    const p = pool();
    const a = p.acquire('uint8', 4096);
    const b = p.acquire('uint8', 4096);
    a.release();
    b.release();
    p.trim();
    expect(p.stats()).toMatchObject({ peakBytes: 8192, bytesLeased: 0, bytesPooled: 0 });
  });
});

describe('misuse', () => {
  it('throws E_DOUBLE_RELEASE on a second release and keeps the pool consistent', () => {
    const p = pool();
    const lease = p.acquire('float32', 10);
    lease.release();
    expect(() => lease.release()).toThrowError(
      expect.objectContaining({
        code: 'E_DOUBLE_RELEASE',
        message: expect.stringContaining('released twice'),
      }),
    );
    expect(codeOf(() => p.release(lease))).toBe('E_DOUBLE_RELEASE');
    expect(p.stats()).toMatchObject({ leases: 0, buffersPooled: 1 });
  });

  it('throws E_USE_AFTER_RELEASE when a released lease is read', () => {
    const lease = pool().acquire('float32', 10);
    lease.release();
    expect(lease.released).toBe(true);
    expect(codeOf(() => lease.array)).toBe('E_USE_AFTER_RELEASE');
    expect(codeOf(() => lease.buffer)).toBe('E_USE_AFTER_RELEASE');
  });

  it('refuses a lease from another pool with E_INVALID_ARGUMENT', () => {
    const a = pool({ name: 'a' });
    const b = pool({ name: 'b' });
    const lease = a.acquire('uint8', 10);
    expect(() => b.release(lease)).toThrowError(
      /expects a lease acquired from this pool, received a lease of pool "a"/,
    );
    expect(lease.released).toBe(false);
    expect(codeOf(() => b.release({} as never))).toBe('E_INVALID_ARGUMENT');
  });

  it('emits leak for a lease garbage-collected without release, with the stack in debug mode', async () => {
    const p = pool({ debug: true });
    const leaks: LeakEvent[] = [];
    p.on('leak', (e) => leaks.push(e));
    (function forget() {
      p.acquireShape('float32', [2, 64]);
    })();
    await collectGarbageUntil(() => leaks.length > 0);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]).toMatchObject({
      pool: 'default',
      dtype: 'float32',
      dims: [2, 64],
      bytes: 512,
    });
    expect(leaks[0]?.stack).toContain('memory-pool.test.ts');
    expect(p.stats()).toMatchObject({ leaks: 1, leases: 0, bytesLeased: 0 });
  });

  it('does not report a released lease as leaked', async () => {
    const p = pool();
    let leaks = 0;
    p.on('leak', () => leaks++);
    (function useProperly() {
      p.acquire('float32', 128).release();
    })();
    let sentinelCollected = false;
    const registry = new FinalizationRegistry(() => {
      sentinelCollected = true;
    });
    (function sentinel() {
      registry.register({}, 0);
    })();
    await collectGarbageUntil(() => sentinelCollected);
    expect(sentinelCollected).toBe(true);
    expect(leaks).toBe(0);
  });
});

describe('bad input', () => {
  const lengths: unknown[] = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null, 2 ** 53];
  it.each(lengths)('rejects length %s with E_INVALID_ARGUMENT', (length) => {
    const p = pool();
    expect(() => p.acquire('float32', length as number)).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringMatching(/non-negative integer, received/),
      }),
    );
  });

  it.each([[[2, -1]], [[1.5]], ['3x3'], [[Number.NaN]]])(
    'rejects dims %j with E_INVALID_ARGUMENT',
    (dims) => {
      expect(codeOf(() => pool().acquireShape('float32', dims as number[]))).toBe(
        'E_INVALID_ARGUMENT',
      );
    },
  );

  it.each(['int64', 'Float32', 'bool', Int16Array, 42, undefined])(
    'rejects dtype %s with E_INVALID_TYPE',
    (type) => {
      expect(() => pool().acquire(type as 'float32', 4)).toThrowError(
        expect.objectContaining({
          code: 'E_INVALID_TYPE',
          message: expect.stringContaining('expected one of "float32"'),
        }),
      );
    },
  );

  it('rejects a request larger than maxBytes with E_INVALID_SIZE', () => {
    const p = pool({ maxBytes: MiB });
    expect(() => p.acquire('float32', MiB)).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_SIZE',
        message: expect.stringContaining('needs 4194304 bytes, more than maxBytes (1048576)'),
      }),
    );
    expect(codeOf(() => p.acquireShape('float64', [1024, 1024, 1024]))).toBe('E_INVALID_SIZE');
  });

  it('rejects a request within maxBytes whose size class is not, even on an empty pool', () => {
    // 1000 bytes are served from a 1024-byte buffer; 100 bytes from a 104-byte one.
    for (const whenExhausted of ['throw', 'allocate'] as const) {
      const p = pool({ maxBytes: 1000, whenExhausted });
      expect(() => p.acquire('uint8', 1000)).toThrowError(
        expect.objectContaining({
          code: 'E_INVALID_SIZE',
          message: expect.stringContaining(
            'needs 1000 bytes (a buffer of 1024 bytes, its size class), more than maxBytes (1000)',
          ),
        }),
      );
      expect(codeOf(() => pool({ maxBytes: 100, whenExhausted }).acquire('uint8', 100))).toBe(
        'E_INVALID_SIZE',
      );
      expect(p.stats()).toMatchObject({ allocations: 0, overflowAllocations: 0, leases: 0 });
    }
    const exact = pool({ maxBytes: 1024 }).acquire('uint8', 1000);
    expect(exact.capacityBytes).toBe(1024);
  });

  it('loses nothing already leased or pooled when a request is refused', () => {
    const p = pool({ maxBytes: MiB });
    const held = p.acquire('float32', 100);
    held.array.fill(3);
    p.acquire('uint8', 4096).release();
    const before = p.stats();
    for (const bad of [
      () => p.acquire('float32', -1),
      () => p.acquire('int64' as 'float32', 1),
      () => p.acquire('uint8', 2 * MiB),
    ]) {
      expect(codeOf(bad)).toMatch(/^E_INVALID_/);
    }
    expect(p.stats()).toEqual(before);
    expect(held.array.every((v) => v === 3)).toBe(true);
  });

  it.each([
    [{ maxBytes: 0 }, 'maxBytes: expected number >= 64, received number 0'],
    [{ maxBytes: 32 }, 'maxBytes: expected number >= 64, received number 32'],
    [{ maxBytes: 1.5 }, 'maxBytes: expected an integer, received number 1.5'],
    [
      { whenExhausted: 'wait' },
      'whenExhausted: expected one of "throw", "allocate", received string "wait"',
    ],
    [{ idleTimeoutMs: true }, 'idleTimeoutMs'],
    [{ shared: 'yes' }, 'shared: expected boolean, received string "yes"'],
    [{ clock: Date }, 'clock: expected a Clock'],
    [{ sharedMemory: true }, 'sharedMemory: expected no such option'],
  ])('rejects options %j with E_INVALID_OPTIONS', (options, message) => {
    expect(() => new MemoryPool(options as never)).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining(message),
      }),
    );
  });

  it.each([{ keepBytes: -1 }, { idleForMs: Number.NaN }])(
    'rejects trim(%j) with E_INVALID_ARGUMENT',
    (options) => {
      expect(codeOf(() => pool().trim(options))).toBe('E_INVALID_ARGUMENT');
    },
  );
});

describe('lifecycle', () => {
  it('close() frees idle buffers, is idempotent, and refuses later acquires with E_CLOSED', async () => {
    const p = new MemoryPool({ idleTimeoutMs: false });
    p.acquire('uint8', 4096).release();
    const outstanding = p.acquire('uint8', 100);
    await Promise.all([p.close(), p.close()]);
    expect(p.stats()).toMatchObject({ bytesPooled: 0, buffersPooled: 0 });
    expect(() => p.acquire('uint8', 1)).toThrowError(
      expect.objectContaining({
        code: 'E_CLOSED',
        message: expect.stringContaining('MemoryPool.acquire()'),
      }),
    );
    outstanding.release();
    expect(p.stats()).toMatchObject({ leases: 0, bytesLeased: 0, buffersPooled: 0 });
  });

  it('closes with `await using`', async () => {
    let escaped: MemoryPool | undefined;
    {
      await using p = new MemoryPool();
      escaped = p;
    }
    expect(codeOf(() => escaped?.acquire('uint8', 1))).toBe('E_CLOSED');
  });

  it('stops its idle timer on close', async () => {
    const clock = new ManualClock();
    const p = new MemoryPool({ clock, idleTimeoutMs: 1000 });
    expect(clock.pendingTimers).toBe(1);
    await p.close();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('metrics', () => {
  it('publishes stats through OpenTelemetry with the pool name', async () => {
    const otel = testMeterProvider();
    const p = pool({ name: 'frames', meterProvider: otel.provider });
    p.acquire('uint8', 4096).release();
    p.acquire('uint8', 4096);
    const metrics = await otel.read();
    expect(metrics.get('salama.memory.hits')?.dataPoints[0]).toMatchObject({
      value: 1,
      attributes: { pool: 'frames' },
    });
    expect(metrics.get('salama.memory.misses')?.dataPoints[0]?.value).toBe(1);
    expect(metrics.get('salama.memory.leased')?.dataPoints[0]?.value).toBe(4096);
    expect(metrics.get('salama.memory.leased')?.descriptor.unit).toBe('By');
    await otel.shutdown();
  });
});
