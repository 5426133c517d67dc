import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  binarySerializer,
  cacheStrategies,
  FileStore,
  ManualClock,
  MemoryStore,
  MultiLevelCache,
  type MultiLevelCacheOptions,
} from 'salama';
import { RedisStore } from 'salama/cache/redis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testMeterProvider } from '../support/metrics.js';
import { type RedisFixture, redisFixture } from '../support/redis.js';

let redis: RedisFixture;
let directory: string;
let clock: ManualClock;
const caches: MultiLevelCache[] = [];

beforeEach(async () => {
  redis = await redisFixture();
  directory = await mkdtemp(join(tmpdir(), 'salama-cache-'));
  clock = new ManualClock(1_700_000_000_000);
});

afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
  await redis.cleanup();
  await rm(directory, { recursive: true, force: true });
});

function stack(options: Partial<MultiLevelCacheOptions> = {}) {
  const memory = new MemoryStore({ clock });
  const remote = new RedisStore({ client: redis.client, prefix: redis.prefix });
  const file = new FileStore({ directory, clock });
  const cache = new MultiLevelCache({ stores: [memory, remote, file], clock, ...options });
  caches.push(cache);
  return { cache, memory, remote, file };
}

describe('MultiLevelCache reads and writes', () => {
  it('writes every tier and reads the value back', async () => {
    const { cache, memory, remote, file } = stack();
    await cache.set('plate:1', { text: 'AB123', confidence: 0.97 });
    expect(await cache.get('plate:1')).toEqual({ text: 'AB123', confidence: 0.97 });
    expect(memory.get('plate:1')?.value).toEqual({ text: 'AB123', confidence: 0.97 });
    expect(await remote.get('plate:1')).toBeInstanceOf(Uint8Array);
    expect(await file.get('plate:1')).toBeInstanceOf(Uint8Array);
  });

  it('fills the tiers above a lower-tier hit', async () => {
    const { cache, memory, remote } = stack();
    await cache.set('k', 'v');
    memory.delete(['k']);
    await remote.delete(['k']);
    expect(await cache.get('k')).toBe('v');
    expect(cache.stats().tiers.map((t) => [t.name, t.hits, t.misses])).toEqual([
      ['memory', 0, 1],
      ['redis', 0, 1],
      ['file', 1, 0],
    ]);
    expect(memory.get('k')?.value).toBe('v');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await remote.get('k')).toBeDefined();
  });

  it('serves from a lower tier what a fresh process has not seen yet', async () => {
    const { cache } = stack();
    await cache.set('shared', [1, 2, 3]);
    const other = new MultiLevelCache({
      stores: [
        new MemoryStore({ clock }),
        new RedisStore({ client: redis.client, prefix: redis.prefix }),
      ],
      clock,
    });
    caches.push(other);
    expect(await other.get('shared')).toEqual([1, 2, 3]);
  });

  it('deletes from every tier and reports has() truthfully', async () => {
    const { cache, remote, file } = stack();
    await cache.set('k', 0);
    expect(await cache.has('k')).toBe(true);
    await cache.delete('k');
    expect(await cache.has('k')).toBe(false);
    expect(await cache.get('k')).toBeUndefined();
    expect(await remote.get('k')).toBeUndefined();
    expect(await file.get('k')).toBeUndefined();
  });

  it('treats a value as stale after its TTL and gone after its grace period', async () => {
    const { cache } = stack({ ttlMs: 1_000, graceMs: 5_000 });
    await cache.set('k', 'v');
    clock.advance(999);
    expect(await cache.get('k')).toBe('v');
    clock.advance(2);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.get('k', { allowStale: true })).toBe('v');
    clock.advance(5_000);
    expect(await cache.get('k', { allowStale: true })).toBeUndefined();
  });

  it('spreads TTLs with jitter within the configured fraction', async () => {
    const { cache, memory } = stack();
    for (let i = 0; i < 50; i++) await cache.set(`k${i}`, i, { ttlMs: 10_000, jitter: 0.2 });
    const ttls = Array.from({ length: 50 }, (_, i) => {
      const e = memory.get(`k${i}`);
      return (e?.staleAt ?? 0) - (e?.createdAt ?? 0);
    });
    expect(Math.min(...ttls)).toBeGreaterThanOrEqual(10_000);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(12_000);
    expect(new Set(ttls).size).toBeGreaterThan(40);
  });

  it('applies the strategy presets from the seeds', async () => {
    const { cache, memory } = stack();
    await cache.set('s', 1, { strategy: 'short' });
    await cache.set('l', 1, { strategy: 'long' });
    await cache.set('p', 1, { strategy: 'persistent' });
    await cache.set('n', 1, { strategy: 'noCache' });
    const ttl = (k: string) => (memory.get(k)?.staleAt ?? 0) - (memory.get(k)?.createdAt ?? 0);
    expect(ttl('s')).toBe(cacheStrategies.short.ttlMs);
    expect(ttl('l')).toBe(24 * 3_600_000);
    expect(memory.get('p')?.staleAt).toBe(Number.POSITIVE_INFINITY);
    expect(await redis.client.pttl(`${redis.prefix}p`)).toBe(-1);
    expect(await cache.has('n')).toBe(false);
    let calls = 0;
    await cache.getOrSet('nc', async () => ++calls, { strategy: 'noCache' });
    await cache.getOrSet('nc', async () => ++calls, { strategy: 'noCache' });
    expect(calls).toBe(2);
  });
});

describe('MultiLevelCache namespaces', () => {
  it('keeps namespaces apart and clears only the one asked', async () => {
    const { cache, remote } = stack();
    const users = cache.namespace('users');
    const plates = cache.namespace('plates');
    await users.set('1', 'alice');
    await plates.set('1', 'AB123');
    await cache.set('root', true);
    expect(await users.get('1')).toBe('alice');
    expect(await cache.get('users:1')).toBe('alice');
    await users.clear();
    expect(await users.get('1')).toBeUndefined();
    expect(await remote.get('users:1')).toBeUndefined();
    expect(await plates.get('1')).toBe('AB123');
    expect(await cache.get('root')).toBe(true);
    await users.namespace('admins').set('2', 'bob');
    expect(await cache.get('users:admins:2')).toBe('bob');
  });
});

describe('MultiLevelCache values', () => {
  it('round-trips Buffers, typed arrays, Dates, Maps, Sets and BigInt with the binary serializer', async () => {
    const { cache, memory } = stack({ serializer: binarySerializer });
    const value = {
      crop: Buffer.from([0, 1, 254, 255]),
      logits: new Float32Array([0.25, -1.5]),
      seenAt: new Date('2026-11-23T10:00:00Z'),
      byCamera: new Map([['cam-1', new Set(['AB123'])]]),
      frames: 12n,
      missing: undefined,
    };
    await cache.set('v', value);
    memory.clear('');
    const back = (await cache.get('v')) as typeof value;
    expect(Buffer.isBuffer(back.crop)).toBe(true);
    expect(back).toEqual(value);
    expect(back.logits).toBeInstanceOf(Float32Array);
    expect(back.seenAt).toBeInstanceOf(Date);
    expect(back.byCamera.get('cam-1')).toEqual(new Set(['AB123']));
  });

  it('round-trips JSON values exactly through Redis and files', async () => {
    const { cache, memory, remote } = stack();
    const value = { a: [1, 2.5, -0.125], b: 'ünïcödé ✓', c: null, d: { e: true } };
    await cache.set('json', value);
    memory.clear('');
    expect(await cache.get('json')).toEqual(value);
    memory.clear('');
    await remote.delete(['json']);
    expect(await cache.get('json')).toEqual(value);
  });

  it('compresses large values in the byte tiers, not small ones', async () => {
    const { cache, memory } = stack({ compression: { thresholdBytes: 1_024 } });
    const big = {
      rows: Array.from({ length: 500 }, (_, i) => ({ plate: `AB${i}`, camera: 'north-gate' })),
    };
    await cache.set('big', big);
    await cache.set('small', { x: 1 });
    const bigRecord = (await redis.client.getBuffer(`${redis.prefix}big`)) as Buffer;
    expect(bigRecord.byteLength).toBeLessThan(JSON.stringify(big).length / 4);
    memory.clear('');
    expect(await cache.get('big')).toEqual(big);
  });

  it('refuses a value the serializer cannot represent and leaves the old value everywhere', async () => {
    const { cache, remote } = stack();
    await cache.set('k', 'old');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [cyclic, 10n, () => 1]) {
      await expect(cache.set('k', bad)).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringMatching(/expected a JSON value.*received/),
      });
    }
    expect(await cache.get('k')).toBe('old');
    expect(await remote.get('k')).toBeDefined();
  });

  it('treats a record written with another serializer as a miss', async () => {
    const { cache } = stack({ serializer: binarySerializer });
    await cache.set('k', 'binary');
    const jsonReader = new MultiLevelCache({
      stores: [new RedisStore({ client: redis.client, prefix: redis.prefix })],
      clock,
    });
    caches.push(jsonReader);
    expect(await jsonReader.get('k')).toBeUndefined();
  });
});

describe('MultiLevelCache bad input', () => {
  it('rejects keys that are empty, not strings or hold NUL (kept for tag and lock records), naming what came', async () => {
    const { cache } = stack();
    for (const key of ['', 42, undefined, null, { id: 1 }, '\u0000tag\u0000camera:7']) {
      await expect(cache.get(key as string)).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringContaining('expected a non-empty string key'),
      });
      await expect(cache.set(key as string, 1)).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      });
    }
  });

  it('rejects TTLs that are not positive and leaves the cache unchanged', async () => {
    const { cache } = stack();
    await cache.set('k', 'old');
    for (const ttlMs of [0, -5, Number.NaN, '10']) {
      await expect(cache.set('k', 'new', { ttlMs: ttlMs as number })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringMatching(/ttlMs expected a number of milliseconds > 0.*received/),
      });
    }
    expect(await cache.get('k')).toBe('old');
  });

  it('rejects undefined values, unknown options and bad tags', async () => {
    const { cache } = stack();
    await expect(cache.set('k', undefined)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(cache.set('k', 1, { ttl: 5 } as never)).rejects.toThrow(
      /option ttl expected one of ttlMs/,
    );
    await expect(cache.set('k', 1, { tags: [''] })).rejects.toThrow(
      /tags expected an array of non-empty strings/,
    );
    await expect(cache.deleteByTag([])).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });

  it('rejects bad construction options with every bad path named', () => {
    expect(() => new MultiLevelCache({ stores: [] })).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('stores'),
      }),
    );
    expect(
      () =>
        new MultiLevelCache({
          stores: [new MemoryStore()],
          ttlMs: 0,
          eagerRefresh: 1.5,
          remote: { timeoutMs: -1 },
        }),
    ).toThrowError(/ttlMs[\s\S]*eagerRefresh[\s\S]*remote\.timeoutMs/);
  });

  it('throws E_CLOSED after close, which is idempotent', async () => {
    const { cache } = stack();
    await cache.close();
    await cache.close();
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});

describe('MultiLevelCache metrics and events', () => {
  it('publishes hits, misses and tier counters through OpenTelemetry', async () => {
    const metrics = testMeterProvider();
    const { cache } = stack({ meterProvider: metrics.provider, name: 'plates' });
    await cache.set('k', 1);
    await cache.get('k');
    await cache.get('absent');
    const read = await metrics.read();
    const hits = read.get('salama.cache.hits')?.dataPoints[0];
    expect(hits?.value).toBe(1);
    expect(hits?.attributes).toEqual({ cache: 'plates' });
    const tierMisses = read.get('salama.cache.tier.misses')?.dataPoints ?? [];
    expect(tierMisses.map((p) => [p.attributes.tier, p.value])).toEqual([
      ['0:memory', 1],
      ['1:redis', 1],
      ['2:file', 1],
    ]);
    expect(cache.stats().hitRate).toBe(0.5);
  });

  it('emits evict when the memory tier drops entries for capacity', async () => {
    const memory = new MemoryStore({ maxEntries: 1, clock });
    const cache = new MultiLevelCache({ stores: [memory], clock });
    caches.push(cache);
    const evicted: string[] = [];
    cache.on('evict', (e) => evicted.push(`${e.tier}:${e.key}:${e.reason}`));
    await cache.set('a', 1);
    await cache.set('b', 2);
    expect(evicted).toEqual(['memory:a:capacity']);
  });
});
