import { mkdtemp, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CacheEntry,
  type EvictionReason,
  FileStore,
  ManualClock,
  MemoryBus,
  MemoryStore,
  MultiLevelCache,
} from 'salama';
import { RedisStore } from 'salama/cache/redis';
import { afterEach, describe, expect, it } from 'vitest';
import { type RedisFixture, redisFixture } from '../support/redis.js';
import { until } from '../support/until.js';
import { storeConformance } from './store-conformance.js';

const memoryClock = new ManualClock(1_000);
storeConformance('MemoryStore', {
  create: async () => new MemoryStore({ clock: memoryClock }),
  advance: (ms) => memoryClock.advance(ms),
});

const fileClock = new ManualClock(1_000);
let fileDirectory = '';
storeConformance('FileStore', {
  create: async () => {
    fileDirectory = await mkdtemp(join(tmpdir(), 'salama-file-store-'));
    return new FileStore({ directory: fileDirectory, clock: fileClock });
  },
  advance: (ms) => fileClock.advance(ms),
  cleanup: () => rm(fileDirectory, { recursive: true, force: true }),
});

let redis: RedisFixture | undefined;
storeConformance('RedisStore', {
  create: async () => {
    redis = await redisFixture();
    return new RedisStore({ client: redis.client, prefix: redis.prefix });
  },
  cleanup: async () => redis?.cleanup(),
});

const entry = (value: unknown, size?: number): CacheEntry => ({
  value,
  createdAt: 0,
  staleAt: 1e12,
  expiresAt: 1e12,
  tags: [],
  negative: false,
  ...(size === undefined ? {} : { size }),
});

describe('MemoryStore', () => {
  it('evicts the least recently used entry past maxEntries and reports it', () => {
    const store = new MemoryStore({ maxEntries: 2 });
    const evicted: [string, EvictionReason][] = [];
    store.onEvict((key, reason) => evicted.push([key, reason]));
    store.set('a', entry(1), undefined);
    store.set('b', entry(2), undefined);
    store.get('a');
    store.set('c', entry(3), undefined);
    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')?.value).toBe(1);
    expect(evicted).toEqual([['b', 'capacity']]);
  });

  it('bounds bytes by the serialised size when known, else by an estimate of the value', () => {
    const store = new MemoryStore({ maxBytes: 1_000 });
    store.set('known', entry('x', 600), undefined);
    store.set('estimated', entry('y'.repeat(150)), undefined);
    expect(store.bytes).toBe(900);
    store.set('big', entry(new Uint8Array(400)), undefined);
    expect(store.get('known')).toBeUndefined();
    expect(store.bytes).toBe(700);
  });

  it('rejects options that are not counts', () => {
    expect(() => new MemoryStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new MemoryStore({ maxBytes: -1 } as never)).toThrowError(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    );
  });
});

describe('FileStore', () => {
  let directory: string;
  afterEach(async () => rm(directory, { recursive: true, force: true }));

  const record = (bytes: number) => Buffer.alloc(bytes, 7);

  it('shards files into 256 directories and leaves no temporary files behind', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const store = new FileStore({ directory });
    for (let i = 0; i < 50; i++) await store.set(`plate:${i}`, record(10), undefined);
    const dirs = (await readdir(directory)).filter((d) => d !== '.tmp');
    expect(dirs.length).toBeGreaterThan(20);
    expect(dirs.every((d) => /^[0-9a-f]{2}$/.test(d))).toBe(true);
    expect(await readdir(join(directory, '.tmp'))).toEqual([]);
  });

  it('deletes the least recently used files past maxBytes and reports them', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const store = new FileStore({ directory, maxBytes: 3_500 });
    const evicted: string[] = [];
    store.onEvict((key) => evicted.push(key));
    await store.set('a', record(1_000), undefined);
    await store.set('b', record(1_000), undefined);
    await store.set('c', record(1_000), undefined);
    await store.get('a');
    await store.set('d', record(1_000), undefined);
    expect(evicted).toEqual(['b']);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBeDefined();
    expect(store.bytes).toBeLessThanOrEqual(3_500);
  });

  it('finds files from an earlier process, oldest evicted first, and sweeps stale temporary files', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const first = new FileStore({ directory });
    await first.set('old', record(1_000), undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await first.set('new', record(1_000), undefined);
    const crashed = join(directory, '.tmp', 'crashed-write');
    await writeFile(crashed, 'partial');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(crashed, anHourAgo, anHourAgo);
    const second = new FileStore({ directory, maxBytes: 1_500 });
    expect(await second.get('new')).toBeDefined();
    expect(await second.get('old')).toBeUndefined();
    expect(await readdir(join(directory, '.tmp'))).toEqual([]);
  });

  it('starting on a directory leaves the temporary files of writes still in flight', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const first = new FileStore({ directory });
    await first.set('seed', record(10), undefined);
    // Another store's write between its writeFile and its rename.
    const inFlight = join(directory, '.tmp', 'other-process-write');
    await writeFile(inFlight, 'about to be renamed');
    const second = new FileStore({ directory });
    expect(await second.get('seed')).toBeDefined();
    await rename(inFlight, join(directory, 'renamed'));
  });

  it("does not fail another store's writes while it starts on the same directory", async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const first = new FileStore({ directory });
    for (let i = 0; i < 200; i++) await first.set(`seed:${i}`, record(100), undefined);
    const failures: unknown[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const batch = Array.from({ length: 8 }, (_, j) =>
          first.set(`k:${i}:${j}`, record(1_000), undefined),
        );
        for (const outcome of await Promise.allSettled(batch)) {
          if (outcome.status === 'rejected') failures.push(outcome.reason);
        }
      }
    })();
    await new FileStore({ directory }).get('seed:0');
    writing = false;
    await writer;
    expect(failures).toEqual([]);
  });

  it('retries its start-up on the next call after it failed', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const cacheDirectory = join(directory, 'cache');
    await writeFile(cacheDirectory, 'not a directory yet');
    const store = new FileStore({ directory: cacheDirectory });
    await expect(store.get('k')).rejects.toThrow();
    await rm(cacheDirectory);
    await store.set('k', record(10), undefined);
    expect(await store.get('k')).toEqual(record(10));
  });

  it('with shared: true, keeps the files other caches on the bus write to a common directory', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const bus = new MemoryBus();
    const make = (withBus: boolean) =>
      new MultiLevelCache({
        stores: [new MemoryStore(), new FileStore({ directory, shared: true })],
        ...(withBus ? { bus } : {}),
      });
    const [a, b, noBus] = [make(true), make(true), make(false)];
    try {
      await b.set('plate', 'v0');
      await a.set('plate', 'v1');
      await until(() => b.stats().bus.received === 1);
      expect(await b.get('plate')).toBe('v1');
      expect(await noBus.get('plate')).toBe('v1');
      expect(await a.get('plate')).toBe('v1');
    } finally {
      for (const cache of [a, b, noBus]) await cache.close();
      await bus.close();
    }
  });

  it('is private to this cache unless shared is set, and rejects a shared that is not a boolean', () => {
    expect(new FileStore({ directory: tmpdir() }).shared).toBe(false);
    expect(new FileStore({ directory: tmpdir(), shared: true }).shared).toBe(true);
    expect(() => new FileStore({ directory: tmpdir(), shared: 'yes' } as never)).toThrowError(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    );
  });

  it('prunes expired files', async () => {
    directory = await mkdtemp(join(tmpdir(), 'salama-file-'));
    const clock = new ManualClock(0);
    const store = new FileStore({ directory, clock });
    await store.set('short', record(10), 100);
    await store.set('long', record(10), 10_000);
    clock.advance(500);
    expect(await store.prune()).toBe(1);
    expect(await store.get('long')).toBeDefined();
  });
});

describe('RedisStore', () => {
  let fx: RedisFixture;
  afterEach(async () => fx.cleanup());

  it('stores records under its prefix with a millisecond expiry', async () => {
    fx = await redisFixture();
    const store = new RedisStore({ client: fx.client, prefix: fx.prefix });
    await store.set('k', Buffer.from('v'), 60_000);
    await store.set('forever', Buffer.from('v'), undefined);
    const ttl = await fx.client.pttl(`${fx.prefix}k`);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await fx.client.pttl(`${fx.prefix}forever`)).toBe(-1);
  });

  it('locks a key for one holder at a time and releases only with the holder token', async () => {
    fx = await redisFixture();
    const store = new RedisStore({ client: fx.client, prefix: fx.prefix });
    const token = await store.lock.tryAcquire('job', 10_000);
    expect(token).toBeTypeOf('string');
    expect(await store.lock.tryAcquire('job', 10_000)).toBeUndefined();
    await store.lock.release('job', 'not-the-token');
    expect(await store.lock.tryAcquire('job', 10_000)).toBeUndefined();
    await store.lock.release('job', token as string);
    expect(await store.lock.tryAcquire('job', 10_000)).toBeTypeOf('string');
  });

  it('keeps locks apart from values whose keys start with lock:', async () => {
    fx = await redisFixture();
    const store = new RedisStore({ client: fx.client, prefix: fx.prefix });
    await store.set('lock:job', Buffer.from('a value'), undefined);
    const token = await store.lock.tryAcquire('job', 10_000);
    expect(token).toBeTypeOf('string');
    await store.lock.release('job', token as string);
    expect(Buffer.from((await store.get('lock:job')) ?? [])).toEqual(Buffer.from('a value'));
  });

  it('clears every record but leaves a held lock to its holder', async () => {
    fx = await redisFixture();
    const store = new RedisStore({ client: fx.client, prefix: fx.prefix });
    expect(await store.lock.tryAcquire('job', 10_000)).toBeTypeOf('string');
    await store.set('job', Buffer.from('v'), undefined);
    await store.clear('');
    expect(await store.get('job')).toBeUndefined();
    expect(await store.lock.tryAcquire('job', 10_000)).toBeUndefined();
  });

  it('clears a prefix across more keys than one SCAN step returns', async () => {
    fx = await redisFixture();
    const store = new RedisStore({ client: fx.client, prefix: fx.prefix, scanCount: 10 });
    for (let i = 0; i < 120; i++) await store.set(`ns:${i}`, Buffer.from('v'), undefined);
    await store.set('other', Buffer.from('v'), undefined);
    await store.clear('ns:');
    expect(await fx.keys()).toEqual([`${fx.prefix}other`]);
  });
});
