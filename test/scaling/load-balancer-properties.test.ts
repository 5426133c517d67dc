import fc from 'fast-check';
import { ManualClock } from 'salama';
import { type BalancerLease, type BalancingStrategy, LoadBalancer } from 'salama/scaling';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/random.js';

/** Every property runs from a fixed seed, so a failure reproduces. */
const SEED = { seed: 20_240_608, numRuns: 60 };

const weightsArb = fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 8 });

function make(
  weights: readonly number[],
  strategy: BalancingStrategy,
  random?: () => number,
): LoadBalancer<number> {
  return new LoadBalancer({
    targets: weights.map((weight, i) => ({ id: `t${i}`, target: i, weight })),
    strategy,
    clock: new ManualClock(),
    ...(random ? { random } : {}),
  });
}

function counts(lb: LoadBalancer<number>, n: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const lease = lb.pick();
    lease.release('success');
    seen.set(lease.id, (seen.get(lease.id) ?? 0) + 1);
  }
  return seen;
}

describe('balancing rules: properties', () => {
  it('round-robin gives every target exactly k of n × k picks', () => {
    fc.assert(
      fc.property(weightsArb, fc.integer({ min: 1, max: 5 }), (weights, k) => {
        const seen = counts(make(weights, 'round-robin'), weights.length * k);
        expect([...seen.values()]).toEqual(weights.map(() => k));
      }),
      SEED,
    );
  });

  it('weighted round-robin gives every target exactly weight × k of sum(weights) × k picks', () => {
    fc.assert(
      fc.property(weightsArb, fc.integer({ min: 1, max: 4 }), (weights, k) => {
        const total = weights.reduce((a, b) => a + b, 0);
        const seen = counts(make(weights, 'weighted-round-robin'), total * k);
        weights.forEach((w, i) => {
          expect(seen.get(`t${i}`)).toBe(w * k);
        });
      }),
      SEED,
    );
  });

  it('least-connections always picks a target with the lowest active/weight', () => {
    fc.assert(
      fc.property(
        weightsArb,
        fc.array(fc.boolean(), { minLength: 20, maxLength: 80 }),
        (weights, releases) => {
          const lb = make(weights, 'least-connections');
          const held: BalancerLease<number>[] = [];
          for (const release of releases) {
            if (release && held.length > 0) held.shift()?.release('success');
            const before = lb.stats().targets;
            const lowest = Math.min(...before.map((t) => t.active / t.weight));
            const lease = lb.pick();
            const chosen = before.find((t) => t.id === lease.id);
            expect((chosen?.active ?? 0) / (chosen?.weight ?? 1)).toBe(lowest);
            held.push(lease);
          }
        },
      ),
      SEED,
    );
  });

  it('two-choices picks the less busy of its two random draws', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.array(fc.boolean(), { minLength: 20, maxLength: 80 }),
        (n, seed, releases) => {
          const source = mulberry32(seed);
          const draws: number[] = [];
          const lb = make(
            Array.from({ length: n }, () => 1),
            'two-choices',
            () => {
              const r = source();
              draws.push(Math.floor(r * n));
              return r;
            },
          );
          const held: BalancerLease<number>[] = [];
          for (const release of releases) {
            if (release && held.length > 0) held.shift()?.release('success');
            const before = lb.stats().targets;
            draws.length = 0;
            const lease = lb.pick();
            const [first, second] = draws.map((i) => before[i]?.active ?? -1);
            expect(before.find((t) => t.id === lease.id)?.active).toBe(
              Math.min(first ?? -1, second ?? -1),
            );
            held.push(lease);
          }
        },
      ),
      SEED,
    );
  });

  it('consistent hashing moves only the removed target’s keys, about 1/N of them', () => {
    const keys = Array.from({ length: 4000 }, (_, i) => `camera-${i}`);
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 16 }), fc.nat(), (n, victimSeed) => {
        const lb = make(
          Array.from({ length: n }, () => 1),
          'consistent-hash',
        );
        const before = keys.map((k) => lb.pick(k).id);
        const victim = `t${victimSeed % n}`;
        lb.remove(victim);
        const after = keys.map((k) => lb.pick(k).id);
        let moved = 0;
        keys.forEach((_, i) => {
          if (before[i] === victim) moved++;
          else expect(after[i]).toBe(before[i]);
        });
        expect(moved / keys.length).toBeGreaterThan(0.5 / n);
        expect(moved / keys.length).toBeLessThan(1.6 / n);
      }),
      { ...SEED, numRuns: 20 },
    );
  });

  it('consistent hashing sends an added target about 1/(N+1) of the keys, taken from the others', () => {
    const keys = Array.from({ length: 4000 }, (_, i) => `camera-${i}`);
    const lb = make([1, 1, 1, 1, 1, 1, 1, 1, 1], 'consistent-hash');
    const before = keys.map((k) => lb.pick(k).id);
    lb.add({ id: 'new', target: 99 });
    const after = keys.map((k) => lb.pick(k).id);
    const moved = keys.filter((_, i) => after[i] !== before[i]);
    expect(moved.every((k) => after[keys.indexOf(k)] === 'new')).toBe(true);
    expect(moved.length / keys.length).toBeGreaterThan(0.05);
    expect(moved.length / keys.length).toBeLessThan(0.15);
  });

  it('consistent hashing shares keys by weight', () => {
    const keys = Array.from({ length: 6000 }, (_, i) => `plate-${i}`);
    const lb = make([2, 1, 1], 'consistent-hash');
    const share = keys.filter((k) => lb.pick(k).id === 't0').length / keys.length;
    expect(share).toBeGreaterThan(0.42);
    expect(share).toBeLessThan(0.58);
  });

  it('consistent hashing spreads an ejected target’s keys and gives them back when it returns', () => {
    const clock = new ManualClock();
    const lb = new LoadBalancer({
      targets: ['a', 'b', 'c', 'd'].map((id) => ({ id, target: id })),
      strategy: 'consistent-hash',
      outlierDetection: { consecutiveErrors: 1, alwaysEjectOneHost: true },
      clock,
    });
    const keys = Array.from({ length: 2000 }, (_, i) => `cam-${i}`);
    const before = keys.map((k) => lb.pick(k).id);
    const aKey = keys[before.indexOf('a')] as string;
    lb.pick(aKey).release('failure');
    const during = keys.map((k) => lb.pick(k).id);
    keys.forEach((_, i) => {
      if (before[i] !== 'a') expect(during[i]).toBe(before[i]);
      else expect(during[i]).not.toBe('a');
    });
    expect(new Set(during.filter((_, i) => before[i] === 'a')).size).toBeGreaterThan(1);
    clock.advance(30_000);
    expect(keys.map((k) => lb.pick(k).id)).toEqual(before);
  });
});
