import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { MemoryStore, MultiLevelCache } from 'salama';
import { RedisBus, RedisStore } from 'salama/cache/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster } from '../support/redis-cluster.js';
import { storeConformance } from './store-conformance.js';

let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
const clients: Cluster[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.stop();
});

function client(): Cluster {
  const c = cluster.connect();
  clients.push(c);
  return c;
}

storeConformance('RedisStore on a Redis Cluster', {
  create: async () =>
    new RedisStore({ client: client(), prefix: `t${randomBytes(4).toString('hex')}:` }),
});

describe('MultiLevelCache on a Redis Cluster', () => {
  it('spreads keys over the masters, clears a namespace on all of them, and locks', async () => {
    const c = client();
    const store = new RedisStore({ client: c, prefix: 'plates:' });
    const cache = new MultiLevelCache({ stores: [new MemoryStore(), store] });
    for (let i = 0; i < 60; i++) await cache.namespace('cam').set(String(i), i);
    const perMaster = await Promise.all(c.nodes('master').map((node) => node.keys('plates:cam:*')));
    expect(perMaster.filter((keys) => keys.length > 0)).toHaveLength(3);
    await cache.namespace('cam').clear();
    const left = await Promise.all(c.nodes('master').map((node) => node.keys('plates:cam:*')));
    expect(left.flat()).toEqual([]);
    let calls = 0;
    expect(await cache.getOrSet('report', async () => ++calls, { distributedLock: true })).toBe(1);
    await cache.close();
  });

  it('carries invalidations over the cluster bus', async () => {
    const make = async () => {
      const c = client();
      const bus = new RedisBus({ client: c, channel: 'salama-test-bus' });
      await bus.ready();
      const cache = new MultiLevelCache({
        stores: [new MemoryStore(), new RedisStore({ client: c, prefix: 'bus:' })],
        bus,
      });
      return { cache, bus };
    };
    const a = await make();
    const b = await make();
    await a.cache.set('k', 1);
    expect(await b.cache.get('k')).toBe(1);
    await a.cache.set('k', 2);
    const deadline = Date.now() + 2_000;
    while (b.cache.stats().bus.received < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(await b.cache.get('k')).toBe(2);
    for (const node of [a, b]) {
      await node.cache.close();
      await node.bus.close();
    }
  });
});
