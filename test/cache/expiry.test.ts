/**
 * `expire()` and `expireByTag()`: a value made stale keeps its grace period from that moment,
 * so without a grace period it is gone at once, and with one it is served stale for that long.
 */
import { ManualClock, MemoryStore, MultiLevelCache } from 'salama';
import { afterEach, describe, expect, it } from 'vitest';

const caches: MultiLevelCache[] = [];
afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
});

function cache(graceMs?: number) {
  const clock = new ManualClock(1_700_000_000_000);
  const c = new MultiLevelCache({ stores: [new MemoryStore({ clock })], clock, graceMs });
  caches.push(c);
  return { cache: c, clock };
}

describe.each([
  ['expire', (c: MultiLevelCache) => c.expire('k')],
  ['expireByTag', (c: MultiLevelCache) => c.expireByTag(['t'])],
] as const)('%s', (_name, expire) => {
  it('without a grace period, leaves nothing to serve stale', async () => {
    const { cache: c, clock } = cache();
    await c.set('k', 'v1', { ttlMs: 60_000, tags: ['t'] });
    clock.advance(1);
    await expire(c);
    expect(await c.get('k', { allowStale: true })).toBeUndefined();
    expect(await c.fetch('k', () => 'v2', { tags: ['t'] })).toMatchObject({
      value: 'v2',
      state: 'miss',
    });
  });

  it("expires a value kept until deleted (ttlMs Infinity) with the cache's grace period", async () => {
    for (const graceMs of [0, 10_000]) {
      const { cache: c, clock } = cache(graceMs);
      await c.set('k', 'v1', { ttlMs: Number.POSITIVE_INFINITY, tags: ['t'] });
      clock.advance(1);
      await expire(c);
      expect(await c.get('k')).toBeUndefined();
      expect(await c.get('k', { allowStale: true })).toBe(graceMs > 0 ? 'v1' : undefined);
      clock.advance(graceMs);
      expect(await c.get('k', { allowStale: true })).toBeUndefined();
    }
  });

  it('with a grace period, serves the old value stale for that long from the expiry', async () => {
    const { cache: c, clock } = cache(10_000);
    await c.set('k', 'v1', { ttlMs: 60_000, tags: ['t'] });
    clock.advance(1_000);
    await expire(c);
    expect(await c.get('k')).toBeUndefined();
    expect(await c.get('k', { allowStale: true })).toBe('v1');
    clock.advance(9_999);
    expect(await c.get('k', { allowStale: true })).toBe('v1');
    clock.advance(1);
    expect(await c.get('k', { allowStale: true })).toBeUndefined();
  });
});
