import { ManualClock, MemoryStore, MultiLevelCache, type MultiLevelCacheOptions } from 'salama';
import { RedisStore } from 'salama/cache/redis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RedisFixture, redisFixture } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: RedisFixture;
let clock: ManualClock;
const caches: MultiLevelCache[] = [];

beforeEach(async () => {
  redis = await redisFixture();
  clock = new ManualClock(1_700_000_000_000);
});

afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
  await redis.cleanup();
});

function cacheWith(options: Partial<MultiLevelCacheOptions> = {}) {
  const cache = new MultiLevelCache({
    stores: [
      new MemoryStore({ clock }),
      new RedisStore({ client: redis.client, prefix: redis.prefix }),
    ],
    clock,
    ...options,
  });
  caches.push(cache);
  return cache;
}

/** A promise the test settles by hand, standing in for a slow database call. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

const loading = (cache: MultiLevelCache) => () => cache.stats().inflight > 0;
const lockHeld = (key: string) => async () =>
  (await redis.client.exists(`${redis.prefix}\u0000lock\u0000${key}`)) === 1;
const idle = (cache: MultiLevelCache) => () => cache.stats().inflight === 0;

describe('getOrSet stampede protection', () => {
  it('runs the loader once for 1,000 concurrent callers of a missing key', async () => {
    const cache = cacheWith();
    const gate = deferred<string>();
    let calls = 0;
    const all = Promise.all(
      Array.from({ length: 1_000 }, () =>
        cache.getOrSet('cold', () => {
          calls++;
          return gate.promise;
        }),
      ),
    );
    await until(loading(cache));
    gate.resolve('value');
    expect(new Set(await all)).toEqual(new Set(['value']));
    expect(calls).toBe(1);
    expect(cache.stats()).toMatchObject({ loaderCalls: 1, inflight: 0 });
    expect(await cache.getOrSet('cold', () => 'other')).toBe('value');
  });

  it('passes the loader error to every waiter unchanged and caches nothing', async () => {
    const cache = cacheWith();
    const failure = new Error('database down');
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => cache.getOrSet('k', async () => Promise.reject(failure))),
    );
    expect(results.every((r) => r.status === 'rejected' && r.reason === failure)).toBe(true);
    expect(cache.stats()).toMatchObject({ loaderCalls: 1, loaderErrors: 1 });
    expect(await cache.getOrSet('k', () => 'recovered')).toBe('recovered');
  });

  it('runs the loader once across two caches with the distributed lock', async () => {
    const a = cacheWith({ lock: { retryMs: 10, waitMs: 1_000 } });
    const b = cacheWith({ lock: { retryMs: 10, waitMs: 1_000 } });
    const gate = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls++;
      return gate.promise;
    };
    const first = a.getOrSet('report', loader, { distributedLock: true });
    await until(lockHeld('report'));
    const second = b.getOrSet('report', loader, { distributedLock: true });
    await flush();
    clock.advance(10);
    await flush();
    gate.resolve('built once');
    await first;
    for (let i = 0; i < 20 && b.stats().inflight > 0; i++) {
      await clock.advanceAsync(10);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await second).toBe('built once');
    expect(calls).toBe(1);
  });

  it('fails with E_LOCKED when the lock holder outlasts lock.waitMs', async () => {
    const a = cacheWith();
    const b = cacheWith({ lock: { retryMs: 100, waitMs: 300 } });
    const gate = deferred<string>();
    const held = a.getOrSet('slow', () => gate.promise, { distributedLock: true });
    await until(lockHeld('slow'));
    const waiting = b.getOrSet('slow', () => 'mine', { distributedLock: true });
    const outcome = waiting.then(
      () => 'resolved',
      (error: { code: string }) => error.code,
    );
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await clock.advanceAsync(100);
    }
    expect(await outcome).toBe('E_LOCKED');
    gate.resolve('done');
    await held;
  });

  it('refuses distributedLock on a cache with no tier that can lock', async () => {
    const cache = new MultiLevelCache({ stores: [new MemoryStore()] });
    caches.push(cache);
    await expect(cache.getOrSet('k', () => 1, { distributedLock: true })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('RedisStore'),
    });
  });
});

describe('getOrSet grace, fail-safe and timeouts', () => {
  it('serves a stale copy at once within the grace period and refreshes it in the background', async () => {
    const cache = cacheWith({ ttlMs: 1_000, graceMs: 60_000 });
    await cache.set('k', 'v1');
    clock.advance(1_500);
    const gate = deferred<string>();
    const result = await cache.fetch('k', () => gate.promise);
    expect(result).toMatchObject({ value: 'v1', state: 'stale', ageMs: 1_500 });
    gate.resolve('v2');
    await until(idle(cache));
    expect(await cache.fetch('k', () => 'unused')).toMatchObject({ value: 'v2', state: 'hit' });
    expect(cache.stats().staleServed).toBe(1);
  });

  it('waits up to the soft timeout for a fresh value before serving the stale copy', async () => {
    const cache = cacheWith({ ttlMs: 1_000, graceMs: 60_000, softTimeoutMs: 200 });
    await cache.set('k', 'old');
    clock.advance(2_000);
    const quick = deferred<string>();
    const fast = cache.fetch('k', () => quick.promise);
    await until(loading(cache));
    quick.resolve('new');
    expect(await fast).toMatchObject({ value: 'new', state: 'miss' });

    clock.advance(2_000);
    const slow = deferred<string>();
    const answer = cache.fetch('k', () => slow.promise);
    await until(loading(cache));
    await flush();
    clock.advance(200);
    expect(await answer).toMatchObject({ value: 'new', state: 'stale' });
    slow.resolve('newest');
    await until(idle(cache));
    expect(await cache.get('k')).toBe('newest');
  });

  it('serves the stale copy when the loader throws, then leaves the loader alone for the throttle', async () => {
    const cache = cacheWith({
      ttlMs: 1_000,
      graceMs: 60_000,
      softTimeoutMs: 1_000,
      failSafeThrottleMs: 5_000,
    });
    const failsafe: unknown[] = [];
    cache.on('failsafe', (e) => failsafe.push(e.error));
    await cache.set('k', 'last good');
    clock.advance(1_001);
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error('upstream 503');
    };
    expect(await cache.fetch('k', failing)).toMatchObject({ value: 'last good', state: 'stale' });
    expect(await cache.getOrSet('k', failing)).toBe('last good');
    clock.advance(4_000);
    expect(await cache.getOrSet('k', failing)).toBe('last good');
    expect(calls).toBe(1);
    clock.advance(1_001);
    expect(await cache.getOrSet('k', failing)).toBe('last good');
    expect(calls).toBe(2);
    expect(failsafe).toHaveLength(2);
    expect(cache.stats()).toMatchObject({ loaderErrors: 2 });
  });

  it('throws the loader error when fail-safe is off or no stale copy is left', async () => {
    const cache = cacheWith({ ttlMs: 1_000, graceMs: 1_000, softTimeoutMs: 500 });
    await cache.set('k', 'v');
    clock.advance(1_500);
    await expect(
      cache.getOrSet('k', () => Promise.reject(new Error('boom')), { failSafe: false }),
    ).rejects.toThrow('boom');
    clock.advance(1_000);
    await expect(cache.getOrSet('k', () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
  });

  it('abandons a loader at the hard timeout with E_TIMEOUT and aborts its signal', async () => {
    const cache = cacheWith({ hardTimeoutMs: 1_000 });
    let signal: AbortSignal | undefined;
    const pending = cache.getOrSet('k', (ctx) => {
      signal = ctx.signal;
      return new Promise<string>(() => {});
    });
    const outcome = pending.catch((error: { code: string }) => error.code);
    await until(loading(cache));
    clock.advance(1_000);
    expect(await outcome).toBe('E_TIMEOUT');
    expect(signal?.aborted).toBe(true);
    expect(cache.stats()).toMatchObject({ loaderTimeouts: 1, inflight: 0 });
  });

  it('falls back to the stale copy when the loader hits the hard timeout', async () => {
    const cache = cacheWith({
      ttlMs: 1_000,
      graceMs: 60_000,
      softTimeoutMs: 5_000,
      hardTimeoutMs: 2_000,
    });
    await cache.set('k', 'stale but ok');
    clock.advance(1_001);
    const answer = cache.getOrSet('k', () => new Promise<string>(() => {}));
    await until(loading(cache));
    await flush();
    clock.advance(2_000);
    expect(await answer).toBe('stale but ok');
  });

  it('refreshes in the background when a hit finds less than the eager fraction of its TTL left', async () => {
    const cache = cacheWith({ ttlMs: 10_000, eagerRefresh: 0.2 });
    let version = 0;
    const loader = async () => `v${++version}`;
    expect(await cache.getOrSet('k', loader)).toBe('v1');
    clock.advance(7_000);
    expect(await cache.getOrSet('k', loader)).toBe('v1');
    expect(version).toBe(1);
    clock.advance(1_500);
    expect(await cache.getOrSet('k', loader)).toBe('v1');
    await until(idle(cache));
    expect(version).toBe(2);
    expect(await cache.getOrSet('k', loader)).toBe('v2');
  });

  it('caches "nothing there" only when asked, for negativeTtlMs', async () => {
    const cache = cacheWith();
    let lookups = 0;
    const missingRow = async () => {
      lookups++;
      return undefined;
    };
    expect(await cache.getOrSet('plate:none', missingRow)).toBeUndefined();
    expect(await cache.getOrSet('plate:none', missingRow)).toBeUndefined();
    expect(lookups).toBe(2);
    expect(
      await cache.getOrSet('plate:gone', missingRow, { negativeTtlMs: 30_000 }),
    ).toBeUndefined();
    expect(
      await cache.getOrSet('plate:gone', missingRow, { negativeTtlMs: 30_000 }),
    ).toBeUndefined();
    expect(lookups).toBe(3);
    expect(await cache.has('plate:gone')).toBe(false);
    clock.advance(30_001);
    await cache.getOrSet('plate:gone', missingRow, { negativeTtlMs: 30_000 });
    expect(lookups).toBe(4);
  });
});

describe('wrap and cached', () => {
  it('caches a function per arguments', async () => {
    const cache = cacheWith();
    let calls = 0;
    async function plateOwner(plate: string, country: string) {
      calls++;
      return `${plate}/${country}`;
    }
    const cachedOwner = cache.wrap(plateOwner, { strategy: 'short' });
    expect(await cachedOwner('AB123', 'FI')).toBe('AB123/FI');
    expect(await cachedOwner('AB123', 'FI')).toBe('AB123/FI');
    expect(await cachedOwner('AB123', 'SE')).toBe('AB123/SE');
    expect(calls).toBe(2);
    expect(await cache.get('plateOwner:["AB123","FI"]')).toBe('AB123/FI');
    expect(() => cache.wrap(async () => 1)).toThrow(/anonymous function needs options.key/);
  });
});
