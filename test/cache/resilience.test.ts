import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore, ManualClock, MemoryStore, MultiLevelCache } from 'salama';
import { RedisStore } from 'salama/cache/redis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChaosStore } from '../support/chaos-store.js';
import { type RedisFixture, redisFixture } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: RedisFixture;
let directory: string;
let clock: ManualClock;
const caches: MultiLevelCache[] = [];

beforeEach(async () => {
  redis = await redisFixture();
  directory = await mkdtemp(join(tmpdir(), 'salama-chaos-'));
  clock = new ManualClock(1_700_000_000_000);
});

afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
  await redis.cleanup();
  await rm(directory, { recursive: true, force: true });
});

/** Memory, a fault-injected real Redis, and files: the L2 can be made to fail or hang. */
function stack() {
  const memory = new MemoryStore({ clock });
  const l2 = new ChaosStore(new RedisStore({ client: redis.client, prefix: redis.prefix }));
  const file = new FileStore({ directory, clock });
  const cache = new MultiLevelCache({
    stores: [memory, l2, file],
    clock,
    remote: { timeoutMs: 100, failureThreshold: 3, timeoutThreshold: 3, breakDurationMs: 5_000 },
  });
  caches.push(cache);
  return { cache, memory, l2, file };
}

/** Another process's view: a cache on the same Redis and nothing else. */
function redisOnly() {
  const cache = new MultiLevelCache({
    stores: [new RedisStore({ client: redis.client, prefix: redis.prefix })],
    clock,
  });
  caches.push(cache);
  return cache;
}

describe('MultiLevelCache when Redis is down or slow', () => {
  it('bounds a hung L2 call by the timeout and serves from the file tier', async () => {
    const { cache, memory, l2 } = stack();
    await cache.set('k', 'from disk');
    memory.clear('');
    l2.mode = 'hang';
    const answer = cache.get('k');
    await until(() => l2.calls.get > 0);
    clock.advance(100);
    expect(await answer).toBe('from disk');
    expect(cache.stats().tiers[1]).toMatchObject({
      name: 'redis',
      errors: 1,
      timeouts: 1,
      circuit: 'closed',
    });
  });

  it('reads Redis once for a burst of 1,000 callers of a cold key', async () => {
    const { cache, l2 } = stack();
    let calls = 0;
    const all = await Promise.all(
      Array.from({ length: 1_000 }, () => cache.getOrSet('cold', async () => ++calls)),
    );
    expect(new Set(all)).toEqual(new Set([1]));
    expect(calls).toBe(1);
    expect(l2.calls.get).toBe(1);
  });

  it('opens the circuit at the first timeout by default, so a hung Redis costs one timeout', async () => {
    const l2 = new ChaosStore(new RedisStore({ client: redis.client, prefix: redis.prefix }));
    const cache = new MultiLevelCache({
      stores: [new MemoryStore({ clock }), l2],
      clock,
      remote: { timeoutMs: 50 },
    });
    caches.push(cache);
    l2.mode = 'hang';
    const first = cache.get('a');
    await until(() => l2.calls.get === 1);
    clock.advance(50);
    expect(await first).toBeUndefined();
    expect(cache.stats().tiers[1]).toMatchObject({ circuit: 'open', timeouts: 1 });
    expect(await cache.get('b')).toBeUndefined();
    expect(l2.calls.get).toBe(1);
  });

  it('opens the circuit after repeated failures, skips L2 while open, and recovers by itself', async () => {
    const { cache, memory, l2 } = stack();
    const transitions: string[] = [];
    cache.on('circuit', (e) => transitions.push(`${e.tier}:${e.state}`));
    await cache.set('k', 'v');
    l2.mode = 'fail';
    for (let i = 0; i < 3; i++) {
      memory.clear('');
      expect(await cache.get('k')).toBe('v');
    }
    expect(cache.stats().tiers[1]?.circuit).toBe('open');
    const callsWhenOpened = l2.calls.get;
    memory.clear('');
    expect(await cache.get('k')).toBe('v');
    expect(l2.calls.get).toBe(callsWhenOpened);
    expect(cache.stats().tiers[1]?.skipped).toBeGreaterThan(0);

    clock.advance(5_000);
    l2.mode = 'pass';
    memory.clear('');
    expect(await cache.get('k')).toBe('v');
    expect(transitions).toEqual(['redis:open', 'redis:half-open', 'redis:closed']);
    expect(cache.stats().tiers[1]?.circuit).toBe('closed');
  });

  it('re-opens the circuit when the half-open probe fails', async () => {
    const { cache, l2 } = stack();
    l2.mode = 'fail';
    for (let i = 0; i < 3; i++) await cache.get(`miss${i}`);
    clock.advance(5_000);
    await cache.get('probe');
    expect(cache.stats().tiers[1]?.circuit).toBe('open');
    const calls = l2.calls.get;
    await cache.get('skipped');
    expect(l2.calls.get).toBe(calls);
  });

  it('keeps loading and serving with the loader while L2 hangs, and nothing hangs', async () => {
    const { cache, l2 } = stack();
    l2.mode = 'hang';
    const first = cache.getOrSet('k', async () => 'computed');
    await until(() => l2.calls.get > 0);
    clock.advance(100);
    await until(() => l2.calls.set > 0);
    clock.advance(100);
    expect(await first).toBe('computed');
    expect(await cache.getOrSet('k', async () => 'again')).toBe('computed');
  });

  it('replays deletes made while L2 was unreachable once it is back, so no deleted value returns', async () => {
    const { cache, memory, l2, file } = stack();
    await cache.set('k', 'old');
    l2.mode = 'fail';
    for (let i = 0; i < 3; i++) await cache.get(`miss${i}`);
    await cache.delete('k');
    expect(cache.stats().tiers[1]?.pendingInvalidations).toBe(1);
    expect(await l2.get('k').catch(() => 'unreachable')).toBe('unreachable');
    clock.advance(5_000);
    l2.mode = 'pass';
    await cache.get('probe');
    await until(() => cache.stats().tiers[1]?.pendingInvalidations === 0);
    await until(() => l2.calls.delete >= 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    memory.clear('');
    await file.clear('');
    expect(await cache.get('k')).toBeUndefined();
    expect(await redis.client.exists(`${redis.prefix}k`)).toBe(0);
  });

  it('deletes the key of a write L2 missed once L2 answers, so the value it replaced does not return', async () => {
    const { cache, l2 } = stack();
    const other = redisOnly();
    await cache.set('plate', 'v1');
    l2.mode = 'fail';
    await cache.set('plate', 'v2');
    expect(cache.stats().tiers[1]).toMatchObject({ circuit: 'closed', pendingInvalidations: 1 });
    l2.mode = 'pass';
    await cache.get('unrelated');
    await until(() => cache.stats().tiers[1]?.pendingInvalidations === 0);
    await until(async () => (await redis.client.exists(`${redis.prefix}plate`)) === 0);
    expect(await other.get('plate')).toBeUndefined();
    expect(await cache.get('plate')).toBe('v2');
  });

  it('reads a key whose write L2 missed as a miss there until the pending delete has run', async () => {
    const { cache, memory, l2, file } = stack();
    await cache.set('plate', 'v1');
    l2.mode = 'fail';
    await cache.set('plate', 'v2');
    l2.mode = 'pass';
    memory.clear('');
    await file.clear('');
    // The first call L2 answers after the outage is a read of that very key.
    expect(await cache.get('plate')).toBeUndefined();
    expect(await cache.getOrSet('plate', () => 'v3')).toBe('v3');
    expect(await redisOnly().get('plate')).toBe('v3');
  });

  it('reads a deleted key as a miss on the first call after the break, which is the probe', async () => {
    const memory = new MemoryStore({ clock });
    const l2 = new ChaosStore(new RedisStore({ client: redis.client, prefix: redis.prefix }));
    const cache = new MultiLevelCache({
      stores: [memory, l2],
      clock,
      remote: { timeoutMs: 100, failureThreshold: 1, timeoutThreshold: 1, breakDurationMs: 5_000 },
    });
    caches.push(cache);
    await cache.set('price', 'old');
    l2.mode = 'fail';
    await cache.delete('price'); // fails: kept pending, and the circuit opens
    expect(cache.stats().tiers[1]).toMatchObject({ circuit: 'open', pendingInvalidations: 1 });
    l2.mode = 'pass';
    clock.advance(5_000); // the break is over; the circuit reads 'open' until the next call
    expect(await cache.get('price')).toBeUndefined();
    expect(memory.get('price')).toBeUndefined();
  });

  it('reads a key under a clear L2 missed as a miss there until the clear has run', async () => {
    const { cache, l2 } = stack();
    await cache.set('plate', 'v1');
    l2.mode = 'fail';
    await cache.clear();
    l2.mode = 'pass';
    expect(await cache.get('plate')).toBeUndefined();
    await until(() => cache.stats().tiers[1]?.pendingInvalidations === 0);
    expect(await redis.client.exists(`${redis.prefix}plate`)).toBe(0);
  });

  it('makes a write wait for a replay under way, so the replayed delete cannot land after it', async () => {
    const { cache, l2 } = stack();
    const other = redisOnly();
    await cache.set('plate', 'v1');
    l2.mode = 'fail';
    await cache.delete('plate');
    l2.mode = 'pass';
    l2.landDelayMs = 50;
    await cache.get('unrelated'); // L2 answers: the replay of the delete starts, and lands late
    await cache.set('plate', 'v2');
    await until(() => cache.stats().tiers[1]?.pendingInvalidations === 0);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await other.get('plate')).toBe('v2');
  });

  it('replays a clear L2 missed before the first write after it, so the write stays', async () => {
    const { cache, l2 } = stack();
    const other = redisOnly();
    await cache.set('plate', 'v1');
    l2.mode = 'fail';
    await cache.clear();
    expect(cache.stats().tiers[1]?.pendingInvalidations).toBe(1);
    l2.mode = 'pass';
    await cache.set('plate', 'v2');
    expect(cache.stats().tiers[1]?.pendingInvalidations).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await other.get('plate')).toBe('v2');
  });

  it('writes a tag invalidation L2 missed once L2 answers, so other caches see it', async () => {
    const { cache, l2 } = stack();
    const other = redisOnly();
    await cache.set('p', 'v', { tags: ['camera:7'] });
    await cache.set('q', 'v', { tags: ['camera:7'] });
    expect(await other.get('q')).toBe('v');
    l2.mode = 'fail';
    clock.advance(1);
    await cache.deleteByTag(['camera:7']);
    l2.mode = 'pass';
    // Any tagged read here writes the missed record again; 'q' is never read by this cache.
    expect(await cache.get('p')).toBeUndefined();
    await until(
      async () => (await redis.client.exists(`${redis.prefix}\u0000tag\u0000camera:7`)) === 1,
    );
    clock.advance(1_000);
    await until(async () => (await other.get('q')) === undefined);
  });

  it('does not let the replay set off by a half-open probe write undo that write', async () => {
    const { cache, l2 } = stack();
    const other = redisOnly();
    await cache.set('plate', 'v1');
    l2.mode = 'fail';
    for (let i = 0; i < 3; i++) await cache.get(`miss${i}`);
    await cache.delete('plate');
    expect(cache.stats().tiers[1]).toMatchObject({ circuit: 'open', pendingInvalidations: 1 });
    clock.advance(5_000);
    l2.mode = 'pass';
    await cache.set('plate', 'v2');
    expect(cache.stats().tiers[1]).toMatchObject({ circuit: 'closed', pendingInvalidations: 0 });
    // Give a wrongly replayed delete time to land.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await other.get('plate')).toBe('v2');
  });

  it('reports tier errors as events and keeps the original cause', async () => {
    const { cache, l2 } = stack();
    const errors: { tier: string; operation: string; error: Error }[] = [];
    cache.on('tier:error', (e) => errors.push(e));
    l2.mode = 'fail';
    await cache.set('k', 'v');
    expect(errors[0]).toMatchObject({ tier: 'redis', operation: 'set' });
    expect(errors[0]?.error).toMatchObject({ code: 'E_BACKEND_FAILED' });
    expect(String((errors[0]?.error.cause as Error | undefined)?.message)).toContain(
      'ECONNREFUSED',
    );
    expect(await cache.get('k')).toBe('v');
  });

  it('serves from memory and files when the Redis server itself is unreachable', async () => {
    const dead = redis.connect({
      port: 1,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    const cache = new MultiLevelCache({
      stores: [
        new MemoryStore({ clock }),
        new RedisStore({ client: dead, prefix: redis.prefix }),
        new FileStore({ directory, clock }),
      ],
      clock,
      remote: { timeoutMs: 100, failureThreshold: 2 },
    });
    caches.push(cache);
    await cache.set('k', 'v');
    expect(await cache.get('k')).toBe('v');
    expect(await cache.getOrSet('other', () => 'loaded')).toBe('loaded');
    expect(cache.stats().tiers[1]?.errors).toBeGreaterThan(0);
  });
});
