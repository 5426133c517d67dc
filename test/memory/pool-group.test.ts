import { SalamaError } from 'salama';
import { PoolGroup } from 'salama/memory';
import { afterEach, describe, expect, it } from 'vitest';

const MiB = 1024 * 1024;
const groups: PoolGroup[] = [];
function group(options: ConstructorParameters<typeof PoolGroup>[0]): PoolGroup {
  const g = new PoolGroup(options);
  groups.push(g);
  return g;
}
afterEach(async () => {
  await Promise.all(groups.splice(0).map((g) => g.close()));
});

describe('PoolGroup', () => {
  it('creates named pools with their own budgets', () => {
    const g = group({
      pools: {
        ocr: { maxBytes: MiB, idleTimeoutMs: false },
        frames: { maxBytes: 8 * MiB, shared: true },
      },
    });
    expect(g.names).toEqual(['ocr', 'frames']);
    expect(g.pool('ocr').name).toBe('ocr');
    expect(g.pool('frames').acquire('uint8', 10).buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(() => g.pool('ocr').acquire('uint8', 2 * MiB)).toThrowError(
      expect.objectContaining({ code: 'E_INVALID_SIZE' }),
    );
    expect(g.pool('frames').acquire('uint8', 2 * MiB).length).toBe(2 * MiB);
  });

  it('keeps one pool from starving another: each is capped by its own budget', () => {
    const g = group({ pools: { greedy: { maxBytes: MiB }, other: { maxBytes: MiB } } });
    g.pool('greedy').acquire('uint8', MiB);
    expect(() => g.pool('greedy').acquire('uint8', 1024)).toThrowError(
      expect.objectContaining({ code: 'E_POOL_EXHAUSTED' }),
    );
    expect(g.pool('other').acquire('uint8', MiB).length).toBe(MiB);
  });

  it('reclaims idle buffers from other pools, least recently used first, under a group budget', () => {
    const g = group({ maxBytes: 3 * MiB, pools: { a: {}, b: {}, c: {} } });
    g.pool('a').acquire('uint8', MiB).release();
    g.pool('b').acquire('uint8', MiB).release();
    const c = g.pool('c').acquire('uint8', 2 * MiB);
    expect(c.length).toBe(2 * MiB);
    expect(g.stats().pools.a).toMatchObject({ buffersPooled: 0, trims: 1 });
    expect(g.stats().pools.b).toMatchObject({ buffersPooled: 1 });
    expect(g.stats().bytesRetained).toBe(3 * MiB);
  });

  it('throws E_POOL_EXHAUSTED naming the group budget when leases fill it', () => {
    const g = group({ maxBytes: 2 * MiB, pools: { a: {}, b: {} } });
    g.pool('a').acquire('uint8', 2 * MiB);
    expect(() => g.pool('b').acquire('uint8', MiB)).toThrowError(/group budget \(2097152\)/);
  });

  it('refuses an unknown pool with E_NOT_FOUND listing the pools', () => {
    const g = group({ pools: { ocr: {} } });
    expect(() => g.pool('orc')).toThrowError(
      expect.objectContaining({
        code: 'E_NOT_FOUND',
        message: 'PoolGroup has no pool named "orc"; it has "ocr"',
      }),
    );
  });

  it('refuses a duplicate pool name with E_CONFLICT', () => {
    const g = group({ pools: { ocr: {} } });
    expect(() => g.add('ocr')).toThrowError(expect.objectContaining({ code: 'E_CONFLICT' }));
  });

  it('validates the options of the group and of each pool', () => {
    expect(() => new PoolGroup({ maxBytes: -1 })).toThrowError(
      /Invalid PoolGroup options:\n {2}- maxBytes/,
    );
    expect(() => new PoolGroup({ pools: { ocr: { zero: 1 as never } } })).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('zero: expected boolean'),
      }),
    );
  });

  it('trims and closes every pool', async () => {
    const g = new PoolGroup({ pools: { a: {}, b: {} } });
    g.pool('a').acquire('uint8', 4096).release();
    g.pool('b').acquire('uint8', 8192).release();
    expect(g.trim()).toBe(4096 + 8192);
    const a = g.pool('a');
    await g.close();
    expect(() => a.acquire('uint8', 1)).toThrowError(expect.objectContaining({ code: 'E_CLOSED' }));
    expect(() => g.pool('a')).toThrowError(SalamaError);
  });
});
