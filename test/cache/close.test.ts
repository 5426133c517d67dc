/** What `close()` does to work still running: loaders are told, nothing is written after. */
import { type InvalidationMessage, MemoryBus, MemoryStore, MultiLevelCache } from 'salama';
import { describe, expect, it } from 'vitest';
import { until } from '../support/until.js';

describe('MultiLevelCache close() with loads in flight', () => {
  it('aborts running loaders with E_CLOSED and stores or publishes nothing they return', async () => {
    const memory = new MemoryStore();
    const bus = new MemoryBus();
    const published: InvalidationMessage[] = [];
    bus.subscribe((message) => published.push(message));
    const cache = new MultiLevelCache({ stores: [memory], bus });
    let reason: unknown;
    let release = (_: string) => {};
    const ignoring = cache.getOrSet('ignores-abort', ({ signal }) => {
      signal.addEventListener('abort', () => {
        reason = signal.reason;
      });
      return new Promise<string>((resolve) => {
        release = resolve;
      });
    });
    const honouring = cache.getOrSet(
      'honours-abort',
      ({ signal }) =>
        new Promise<string>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        ),
    );
    await until(() => cache.stats().inflight === 2);
    await cache.close();
    expect(reason).toMatchObject({ code: 'E_CLOSED' });
    await expect(honouring).rejects.toMatchObject({ code: 'E_CLOSED' });
    release('late');
    // The caller still gets what its loader returned; the closed cache keeps none of it.
    expect(await ignoring).toBe('late');
    expect(memory.size).toBe(0);
    expect(published).toEqual([]);
    await bus.close();
  });
});
