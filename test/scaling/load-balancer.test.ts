import { ManualClock } from 'salama';
import { type BalancerLease, LoadBalancer, type LoadBalancerOptions } from 'salama/scaling';
import { describe, expect, it } from 'vitest';
import { testMeterProvider } from '../support/metrics.js';

type Options = Omit<LoadBalancerOptions<string>, 'targets'>;

function balancer(weights: Record<string, number>, options: Options = {}): LoadBalancer<string> {
  const targets = Object.entries(weights).map(([id, weight]) => ({
    id,
    target: `http://${id}`,
    weight,
  }));
  return new LoadBalancer({ targets, clock: new ManualClock(), ...options });
}

/** Picks `n` times, releasing each lease at once; returns the ids in order. */
function sequence(lb: LoadBalancer<string>, n: number, key?: string): string[] {
  return Array.from({ length: n }, () => {
    const lease = lb.pick(key);
    lease.release('success');
    return lease.id;
  });
}

describe('LoadBalancer rules', () => {
  it('round-robin takes each target in turn and ignores weights', () => {
    const lb = balancer({ a: 5, b: 1, c: 1 }, { strategy: 'round-robin' });
    expect(sequence(lb, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it("weighted round-robin interleaves as NGINX's smooth algorithm does (5,1,1 → a a b a c a a)", () => {
    // NGINX commit 52327e0627f4 ("smooth weighted round-robin"): weights { 5, 1, 1 } give
    // the sequence a a b a c a a, not a a a a a b c.
    const lb = balancer({ a: 5, b: 1, c: 1 });
    expect(lb.strategy).toBe('weighted-round-robin');
    expect(sequence(lb, 14).join(' ')).toBe('a a b a c a a a a b a c a a');
  });

  it('least-connections picks the lowest active/weight', () => {
    const lb = balancer({ a: 1, b: 1, c: 2 }, { strategy: 'least-connections' });
    const held: BalancerLease<string>[] = [];
    for (let i = 0; i < 4; i++) held.push(lb.pick());
    // After four picks: c (weight 2) has taken two, a and b one each (all at ratio 1).
    const active = lb.stats().targets.map((t) => [t.id, t.active]);
    expect(active).toEqual([
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ]);
    held.find((l) => l.id === 'b')?.release('success');
    expect(lb.pick().id).toBe('b');
  });

  it('least-connections breaks ties by weighted round-robin among the tied targets', () => {
    const lb = balancer({ a: 2, b: 1 }, { strategy: 'least-connections' });
    const picks = sequence(lb, 300);
    expect(picks.filter((id) => id === 'a')).toHaveLength(200);
    expect(picks.slice(0, 3)).toEqual(['a', 'b', 'a']);
  });

  it('two-choices draws two targets at random and takes the one with fewer active requests', () => {
    const draws = [0, 0.5, 0.3, 0.9];
    const lb = balancer(
      { a: 1, b: 1, c: 1, d: 1 },
      {
        strategy: 'two-choices',
        random: () => draws.shift() ?? 0,
      },
    );
    const first = lb.pick(); // draws a and c: both idle, the first drawn wins
    expect(first.id).toBe('a');
    expect(lb.pick().id).toBe('b'); // draws b (0.3) and d (0.9): tie, first drawn
  });

  it('two-choices prefers the less busy of the two draws', () => {
    const draws = [0, 0.25, 0, 0.25];
    const lb = balancer(
      { a: 1, b: 1, c: 1, d: 1 },
      {
        strategy: 'two-choices',
        random: () => draws.shift() ?? 0,
      },
    );
    expect(lb.pick().id).toBe('a');
    expect(lb.pick().id).toBe('b'); // a is busy now
  });

  it('two-choices weights unequal targets by weight / (active + 1), as Envoy does', () => {
    const lb = balancer({ a: 3, b: 1 }, { strategy: 'two-choices' });
    const picks = sequence(lb, 400);
    expect(picks.filter((id) => id === 'a')).toHaveLength(300);
  });

  it('consistent-hash sends a key to the same target every time', () => {
    const lb = balancer({ a: 1, b: 1, c: 1 }, { strategy: 'consistent-hash' });
    for (const camera of ['cam-1', 'cam-2', 'cam-3', 'cam-4']) {
      const first = lb.pick(camera).id;
      expect(new Set(sequence(lb, 20, camera))).toEqual(new Set([first]));
    }
  });

  it('consistent-hash refuses a pick without a key', () => {
    const lb = balancer({ a: 1 }, { strategy: 'consistent-hash' });
    expect(() => lb.pick()).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringContaining('expected a string key, received undefined'),
      }),
    );
  });
});

describe('LoadBalancer leases', () => {
  it('counts a target as active from pick to release, and ignores a second release', () => {
    const lb = balancer({ a: 1 });
    const lease = lb.pick();
    expect(lease.target).toBe('http://a');
    expect(lb.stats().active).toBe(1);
    lease.release('success');
    lease.release('failure');
    expect(lb.stats()).toMatchObject({ active: 0, picks: 1, failures: 0 });
    expect(lb.stats().targets[0]).toMatchObject({ successes: 1, failures: 0 });
  });

  it('rejects an unknown outcome with E_INVALID_ARGUMENT', () => {
    const lease = balancer({ a: 1 }).pick();
    expect(() => lease.release('ok' as 'success')).toThrowError(
      /expected 'success' or 'failure', received string "ok"/,
    );
  });

  it('run() releases a success when the function resolves and a failure when it throws', async () => {
    const lb = balancer({ a: 1 });
    await expect(lb.run(async (url) => `${url}/v2`)).resolves.toBe('http://a/v2');
    await expect(
      lb.run(() => {
        throw new Error('503');
      }),
    ).rejects.toThrow('503');
    expect(lb.stats()).toMatchObject({ active: 0, picks: 2, failures: 1 });
  });

  it('run() counts an error as a success when countsAsFailure says it is not the target’s fault', async () => {
    const lb = balancer({ a: 1 });
    const bad = new RangeError('bad input');
    await expect(
      lb.run(
        () => {
          throw bad;
        },
        { countsAsFailure: (e) => !(e instanceof RangeError) },
      ),
    ).rejects.toBe(bad);
    expect(lb.stats().targets[0]).toMatchObject({ successes: 1, failures: 0 });
  });

  it('run() still releases the lease, as a failure, when countsAsFailure throws', async () => {
    const lb = balancer({ a: 1 });
    const bad = new Error('timeout');
    await expect(
      lb.run(
        () => {
          throw bad;
        },
        {
          countsAsFailure: () => {
            throw new Error('classifier bug');
          },
        },
      ),
    ).rejects.toBe(bad);
    expect(lb.stats()).toMatchObject({ active: 0, failures: 1 });
  });

  it('run() passes the key to consistent hashing', async () => {
    const lb = balancer({ a: 1, b: 1, c: 1 }, { strategy: 'consistent-hash' });
    const id = lb.pick('cam-7').id;
    await expect(lb.run((_t, picked) => picked, { key: 'cam-7' })).resolves.toBe(id);
  });
});

describe('LoadBalancer membership', () => {
  it('adds and removes targets; a removed target’s open lease can still be released', () => {
    const lb = balancer({ a: 1 }, { strategy: 'round-robin' });
    lb.add({ id: 'b', target: 'http://b' });
    expect(sequence(lb, 2)).toEqual(['a', 'b']);
    const lease = lb.pick();
    expect(lb.remove(lease.id)).toBe(true);
    expect(lb.remove(lease.id)).toBe(false);
    lease.release('failure');
    expect(lb.stats().targets.map((t) => t.id)).toEqual(['b']);
    expect(lb.stats().active).toBe(0);
  });

  it('round-robin keeps the turn when a target before the cursor is removed', () => {
    const lb = balancer({ a: 1, b: 1, c: 1 }, { strategy: 'round-robin' });
    expect(sequence(lb, 1)).toEqual(['a']);
    lb.remove('a');
    expect(sequence(lb, 3)).toEqual(['b', 'c', 'b']);
    lb.add({ id: 'd', target: 'http://d' });
    expect(sequence(lb, 3)).toEqual(['c', 'd', 'b']);
  });

  it('takes the active gauge back down for leases released after their target was removed', async () => {
    const metrics = testMeterProvider();
    const lb = balancer({ a: 1, b: 1 }, { meterProvider: metrics.provider });
    const lease = lb.pick();
    lb.remove(lease.id);
    lease.release('success');
    lb.add({ id: lease.id, target: 'again' });
    const active = (await metrics.read()).get('salama.scaling.balancer.active');
    const points = active?.dataPoints ?? [];
    expect(points.length).toBeGreaterThan(0);
    expect(points.every((p) => p.value === 0)).toBe(true);
    await metrics.shutdown();
  });

  it('refuses a second target with the same id (E_CONFLICT)', () => {
    const lb = balancer({ a: 1 });
    expect(() => lb.add({ id: 'a', target: 'x' })).toThrowError(
      expect.objectContaining({ code: 'E_CONFLICT' }),
    );
  });

  it('throws E_BACKEND_UNAVAILABLE when every target was removed', () => {
    const lb = balancer({ a: 1 });
    lb.remove('a');
    expect(() => lb.pick()).toThrowError(
      expect.objectContaining({
        code: 'E_BACKEND_UNAVAILABLE',
        message: expect.stringMatching(/no targets/),
      }),
    );
  });
});

describe('LoadBalancer options', () => {
  it.each([
    [{ targets: [] }, 'targets: expected array of length >= 1, received array of length 0'],
    [
      { targets: [{ id: 'a', target: 1, weight: 0 }] },
      'targets.0.weight: expected number > 0, received number 0',
    ],
    [
      { targets: [{ id: 'a', target: 1, weight: Number.POSITIVE_INFINITY }] },
      'targets.0.weight: expected',
    ],
    [
      {
        targets: [
          { id: 'a', target: 1 },
          { id: 'a', target: 2 },
        ],
      },
      'targets.1.id: expected an id not used by another target, received string "a"',
    ],
    [{ targets: [{ id: 'a', target: 1 }], strategy: 'random' }, 'strategy: expected one of'],
    [
      { targets: [{ id: 'a', target: 1 }], outlierDetection: { maxEjectionPercent: 120 } },
      'outlierDetection.maxEjectionPercent: expected number <= 100, received number 120',
    ],
    [
      {
        targets: [{ id: 'a', target: 1 }],
        outlierDetection: { baseEjectionTimeMs: 60_000, maxEjectionTimeMs: 30_000 },
      },
      'outlierDetection.maxEjectionTimeMs: expected a duration >= baseEjectionTimeMs',
    ],
  ])('rejects %j with E_INVALID_OPTIONS', (options, message) => {
    expect(() => new LoadBalancer(options as LoadBalancerOptions<unknown>)).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining(message),
      }),
    );
  });
});
