import { ManualClock, MemoryStore, MultiLevelCache } from 'salama';
import { afterEach, describe, expect, it } from 'vitest';

const caches: MultiLevelCache[] = [];
afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
});

function memoryCache() {
  const clock = new ManualClock(1_700_000_000_000);
  const memory = new MemoryStore({ clock });
  const cache = new MultiLevelCache({ stores: [memory], clock });
  caches.push(cache);
  const ttlOf = (key: string) => {
    const entry = memory.get(key);
    return entry && entry.staleAt - entry.createdAt;
  };
  return { cache, ttlOf };
}

describe('strategy presets beside explicit options', () => {
  it("caches for the explicit ttlMs given beside strategy: 'noCache'", async () => {
    const { cache, ttlOf } = memoryCache();
    await cache.set('k', 'v', { strategy: 'noCache', ttlMs: 60_000 });
    expect(await cache.get('k')).toBe('v');
    expect(ttlOf('k')).toBe(60_000);
    let calls = 0;
    for (let i = 0; i < 3; i++) {
      await cache.getOrSet('g', () => ++calls, { strategy: 'noCache', ttlMs: 60_000 });
    }
    expect(calls).toBe(1);
    expect(ttlOf('g')).toBe(60_000);
  });

  it('takes the explicit ttlMs over any preset, and the preset where the call gives none', async () => {
    const { cache, ttlOf } = memoryCache();
    await cache.set('long', 1, { strategy: 'long', ttlMs: 1_000 });
    await cache.set('short', 1, { strategy: 'short', graceMs: 10 });
    expect(ttlOf('long')).toBe(1_000);
    expect(ttlOf('short')).toBe(5 * 60_000);
  });

  it("stores nothing with strategy: 'noCache' and other options but no ttlMs", async () => {
    const { cache } = memoryCache();
    await cache.set('n', 1, { strategy: 'noCache', graceMs: 60_000 });
    expect(await cache.has('n')).toBe(false);
  });

  it('rejects an explicit ttlMs beside a strategy when it is not a positive number', async () => {
    const { cache } = memoryCache();
    await expect(cache.set('k', 1, { strategy: 'noCache', ttlMs: 0 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    expect(await cache.has('k')).toBe(false);
  });
});
