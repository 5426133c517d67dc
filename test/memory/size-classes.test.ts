import fc from 'fast-check';
import { CLASSES_PER_DOUBLING, MIN_CLASS_BYTES, sizeClassOf } from 'salama/memory';
import { describe, expect, it } from 'vitest';

describe('sizeClassOf', () => {
  it('serves every request with a class at least as large, wasting under 1/8 above 64 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_CLASS_BYTES + 1, max: 2 ** 40 }), (bytes) => {
        const cls = sizeClassOf(bytes);
        expect(cls).toBeGreaterThanOrEqual(bytes);
        expect(cls - bytes).toBeLessThan(bytes / CLASSES_PER_DOUBLING);
      }),
      { numRuns: 5000 },
    );
  });

  it('is monotonic, so a larger request never gets a smaller buffer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 36 }),
        fc.integer({ min: 0, max: 2 ** 36 }),
        (a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(sizeClassOf(lo)).toBeLessThanOrEqual(sizeClassOf(hi));
        },
      ),
    );
  });

  it('has exactly eight classes per doubling', () => {
    const classes = new Set<number>();
    for (let bytes = 4097; bytes <= 8192; bytes++) classes.add(sizeClassOf(bytes));
    expect([...classes]).toEqual([4608, 5120, 5632, 6144, 6656, 7168, 7680, 8192]);
  });

  it('serves small requests from the 64-byte class and keeps exact powers of two', () => {
    expect(sizeClassOf(0)).toBe(64);
    expect(sizeClassOf(1)).toBe(64);
    expect(sizeClassOf(64)).toBe(64);
    expect(sizeClassOf(65)).toBe(72);
    expect(sizeClassOf(2 ** 20)).toBe(2 ** 20);
    expect(sizeClassOf(2 ** 33)).toBe(2 ** 33);
  });

  it('rounds the benchmark frame (640×640×3 float32) up by under 12.5 %', () => {
    const bytes = 640 * 640 * 3 * 4;
    expect(sizeClassOf(bytes)).toBe(5 * 2 ** 20);
  });
});
