import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileStore,
  type InvalidationMessage,
  ManualClock,
  MemoryBus,
  MemoryStore,
  MultiLevelCache,
} from 'salama';
import { RedisBus, RedisStore } from 'salama/cache/redis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChaosStore } from '../support/chaos-store.js';
import { type RedisFixture, redisFixture } from '../support/redis.js';
import { until } from '../support/until.js';

let redis: RedisFixture;
let clock: ManualClock;
const closables: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  redis = await redisFixture();
  clock = new ManualClock(1_700_000_000_000);
});

afterEach(async () => {
  for (const c of closables.splice(0).reverse()) await c.close();
  await redis.cleanup();
});

/** A cache on the shared Redis alone: no memory tier, no bus. */
function redisOnly() {
  const cache = new MultiLevelCache({
    stores: [new RedisStore({ client: redis.client, prefix: redis.prefix })],
    clock,
  });
  closables.push(cache);
  return cache;
}

/** Two "nodes": each its own connections, memory tier and bus subscriber, one Redis between them. */
async function twoNodes(options: { graceMs?: number } = {}) {
  const node = async () => {
    const client = redis.connect();
    const bus = new RedisBus({ client, channel: `${redis.prefix}bus` });
    await bus.ready();
    const memory = new MemoryStore({ clock });
    const cache = new MultiLevelCache({
      stores: [memory, new RedisStore({ client, prefix: redis.prefix })],
      bus,
      clock,
      ...options,
    });
    closables.push(bus, cache);
    return { cache, memory };
  };
  return [await node(), await node()] as const;
}

describe('invalidation bus on Redis pub/sub', () => {
  it("evicts the other node's memory copy when a key is set or deleted", async () => {
    const [a, b] = await twoNodes();
    await a.cache.set('plate', 'v1');
    await until(() => b.cache.stats().bus.received === 1);
    expect(await b.cache.get('plate')).toBe('v1');
    expect(b.memory.get('plate')).toBeDefined();
    await a.cache.set('plate', 'v2');
    await until(() => b.cache.stats().bus.received === 2);
    expect(b.memory.get('plate')).toBeUndefined();
    expect(await b.cache.get('plate')).toBe('v2');
    await a.cache.delete('plate');
    await until(() => b.cache.stats().bus.received === 3);
    expect(await b.cache.get('plate')).toBeUndefined();
  });

  it('ignores its own messages and sends keys only', async () => {
    const [a, b] = await twoNodes();
    const seen: InvalidationMessage[] = [];
    b.cache.on('bus', (m) => seen.push(m));
    const raw: string[] = [];
    const spy = redis.connect();
    await spy.subscribe(`${redis.prefix}bus`);
    spy.on('message', (_channel, text: string) => raw.push(text));
    await a.cache.set('secret-key', { password: 'hunter2' });
    await until(() => seen.length === 1 && raw.length === 1);
    expect(seen[0]).toEqual({ from: a.cache.nodeId, type: 'set', keys: ['secret-key'] });
    expect(raw[0]).not.toContain('hunter2');
    expect(a.cache.stats().bus).toMatchObject({ published: 1, received: 0 });
  });

  it('clears a namespace on every node and leaves the others', async () => {
    const [a, b] = await twoNodes();
    await a.cache.namespace('cam-1').set('x', 1);
    await a.cache.namespace('cam-2').set('x', 2);
    expect(await b.cache.namespace('cam-1').get('x')).toBe(1);
    expect(await b.cache.namespace('cam-2').get('x')).toBe(2);
    await a.cache.namespace('cam-1').clear();
    await until(() => b.cache.stats().bus.received === 3);
    expect(b.memory.get('cam-1:x')).toBeUndefined();
    expect(await b.cache.namespace('cam-1').get('x')).toBeUndefined();
    expect(await b.cache.namespace('cam-2').get('x')).toBe(2);
  });
});

describe('invalidation bus with fail-fast clients', () => {
  it('subscribes even when the clients are created with enableOfflineQueue: false', async () => {
    const node = async () => {
      const client = redis.connect({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      await new Promise((resolve) => client.once('ready', resolve));
      const bus = new RedisBus({ client, channel: `${redis.prefix}bus` });
      await bus.ready();
      const cache = new MultiLevelCache({
        stores: [new MemoryStore({ clock }), new RedisStore({ client, prefix: redis.prefix })],
        bus,
        clock,
      });
      closables.push(bus, cache);
      return cache;
    };
    const a = await node();
    const b = await node();
    await a.set('k', 1);
    await until(() => b.stats().bus.received === 1);
    expect(await b.get('k')).toBe(1);
  });
});

describe('tags', () => {
  it('deleteByTag removes tagged values on every node, with no stale copy served afterwards', async () => {
    const [a, b] = await twoNodes({ graceMs: 60_000 });
    await a.cache.set('p1', 'AB123', { tags: ['camera:north'] });
    await a.cache.set('p2', 'CD456', { tags: ['camera:north', 'day:1'] });
    await a.cache.set('p3', 'EF789', { tags: ['camera:south'] });
    expect(await b.cache.get('p1')).toBe('AB123');
    clock.advance(1);
    await a.cache.deleteByTag(['camera:north']);
    expect(await a.cache.get('p1', { allowStale: true })).toBeUndefined();
    expect(await a.cache.getOrSet('p2', () => 'reloaded')).toBe('reloaded');
    await until(() => b.cache.stats().bus.received >= 4);
    expect(await b.cache.get('p1', { allowStale: true })).toBeUndefined();
    expect(await b.cache.get('p3')).toBe('EF789');
  });

  it('expireByTag marks tagged values stale: graced copies are still served while they refresh', async () => {
    const [a, b] = await twoNodes({ graceMs: 60_000 });
    await a.cache.set('p1', 'old', { tags: ['model:v1'] });
    expect(await b.cache.get('p1')).toBe('old');
    clock.advance(1);
    await a.cache.expireByTag(['model:v1']);
    expect(await a.cache.get('p1')).toBeUndefined();
    expect(await a.cache.get('p1', { allowStale: true })).toBe('old');
    await until(() => b.cache.stats().bus.received === 2);
    const result = await b.cache.fetch('p1', async () => 'new');
    expect(result).toMatchObject({ value: 'old', state: 'stale' });
    await until(() => b.cache.stats().inflight === 0);
    expect(await b.cache.get('p1')).toBe('new');
  });

  it('values set after a tag was deleted are unaffected', async () => {
    const [a] = await twoNodes();
    await a.cache.set('p', 'before', { tags: ['t'] });
    clock.advance(1);
    await a.cache.deleteByTag(['t']);
    clock.advance(1);
    await a.cache.set('p', 'after', { tags: ['t'] });
    expect(await a.cache.get('p')).toBe('after');
  });

  it('without a bus, re-reads a tag from Redis within a second, so a value deleted elsewhere stops being served', async () => {
    const [a, b] = [redisOnly(), redisOnly()];
    await a.set('frame', 'f1', { tags: ['camera:7'] });
    expect(await b.get('frame')).toBe('f1');
    clock.advance(1);
    await a.deleteByTag(['camera:7']);
    clock.advance(999);
    await b.get('frame');
    clock.advance(1);
    expect(await b.get('frame')).toBeUndefined();
  });

  it('re-reads a tag from Redis even when a private file tier above it holds an older record', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'salama-tags-'));
    try {
      const a = new MultiLevelCache({
        stores: [
          new MemoryStore({ clock }),
          new FileStore({ directory, clock }),
          new RedisStore({ client: redis.client, prefix: redis.prefix }),
        ],
        clock,
      });
      const b = new MultiLevelCache({
        stores: [new RedisStore({ client: redis.client, prefix: redis.prefix })],
        clock,
      });
      closables.push(a, b);
      await a.deleteByTag(['plates']); // a record of the tag now sits in the file tier too
      clock.advance(10);
      await a.set('plate', 'v1', { tags: ['plates'] });
      clock.advance(10);
      await b.deleteByTag(['plates']);
      clock.advance(1_000);
      expect(await a.get('plate')).toBeUndefined();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('does not overwrite a newer record of another cache when it invalidates a tag it knew older', async () => {
    const [a, b, reader] = [redisOnly(), redisOnly(), redisOnly()];
    await a.set('frame', 'f1', { tags: ['camera:7'], graceMs: 60_000 });
    expect(await a.get('frame')).toBe('f1'); // a now knows the tag: never invalidated
    clock.advance(1);
    await b.deleteByTag(['camera:7']);
    clock.advance(1);
    await a.expireByTag(['camera:7']);
    // Deleted by b, not merely stale: nothing to serve even within the grace period.
    expect(await reader.get('frame', { allowStale: true })).toBeUndefined();
  });

  it('keeps a deleteByTag that lands while a slow read of the same tag is out', async () => {
    const writer = new MultiLevelCache({
      stores: [new RedisStore({ client: redis.client, prefix: redis.prefix })],
      clock,
    });
    const slow = new ChaosStore(new RedisStore({ client: redis.client, prefix: redis.prefix }));
    slow.readDelayMs = 50;
    const reader = new MultiLevelCache({ stores: [new MemoryStore({ clock }), slow], clock });
    closables.push(writer, reader);
    await writer.set('frame', 'f1', { tags: ['camera:7'] });
    clock.advance(1);
    const racing = reader.get('frame'); // reads the entry, then the tag, both slowly
    await until(() => slow.calls.get === 1);
    await reader.deleteByTag(['camera:7']);
    await racing;
    expect(await reader.get('frame')).toBeUndefined();
  });

  it('orders a set and a deleteByTag in the same millisecond as they were called', async () => {
    const [a, b] = await twoNodes();
    // The clock does not move: every call below happens in one millisecond.
    await a.cache.set('before', 'x', { tags: ['t'] });
    await a.cache.deleteByTag(['t']);
    await a.cache.set('after', 'y', { tags: ['t'] });
    expect(await a.cache.get('before')).toBeUndefined();
    expect(await a.cache.get('after')).toBe('y');
    await until(() => b.cache.stats().bus.received === 3);
    expect(await b.cache.get('after')).toBe('y');
  });
});

describe('in-process MemoryBus', () => {
  it('keeps two memory-and-Redis caches in one process coherent', async () => {
    const bus = new MemoryBus();
    closables.push(bus);
    const make = () => {
      const memory = new MemoryStore({ clock });
      const cache = new MultiLevelCache({
        stores: [memory, new RedisStore({ client: redis.client, prefix: redis.prefix })],
        bus,
        clock,
      });
      closables.push(cache);
      return { cache, memory };
    };
    const a = make();
    const b = make();
    await a.cache.set('k', 1);
    expect(await b.cache.get('k')).toBe(1);
    await a.cache.set('k', 2);
    await until(() => b.cache.stats().bus.received === 2);
    expect(await b.cache.get('k')).toBe(2);
  });

  it('does not fill memory with a value that was replaced while it was being read from Redis', async () => {
    const bus = new MemoryBus();
    closables.push(bus);
    const a = new MultiLevelCache({
      stores: [
        new MemoryStore({ clock }),
        new RedisStore({ client: redis.client, prefix: redis.prefix }),
      ],
      bus,
      clock,
    });
    const slow = new ChaosStore(new RedisStore({ client: redis.client, prefix: redis.prefix }));
    slow.readDelayMs = 50;
    const b = new MultiLevelCache({ stores: [new MemoryStore({ clock }), slow], bus, clock });
    closables.push(a, b);
    await a.set('plate', 'v1');
    const read = b.get('plate');
    await until(() => slow.calls.get === 1);
    await a.set('plate', 'v2');
    await until(() => b.stats().bus.received === 2);
    // The read began before v2 was written, so it may answer v1; it must not keep it.
    expect(await read).toBe('v1');
    expect(await b.get('plate')).toBe('v2');
  });

  it('applies tag invalidations on memory-only caches with the receiving clock', async () => {
    const bus = new MemoryBus();
    closables.push(bus);
    const a = new MultiLevelCache({ stores: [new MemoryStore({ clock })], bus, clock });
    const b = new MultiLevelCache({ stores: [new MemoryStore({ clock })], bus, clock });
    closables.push(a, b);
    await b.set('local', 'x', { tags: ['t'] });
    clock.advance(1);
    await a.deleteByTag(['t']);
    await until(() => b.stats().bus.received === 1);
    expect(await b.get('local')).toBeUndefined();
  });
});
