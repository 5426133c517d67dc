import { ManualClock } from 'salama';
import { type EjectEvent, LoadBalancer, type OutlierDetectionOptions } from 'salama/scaling';
import { describe, expect, it } from 'vitest';

function setup(ids: string[], outlierDetection: OutlierDetectionOptions = {}) {
  const clock = new ManualClock(1_000_000);
  const lb = new LoadBalancer({
    targets: ids.map((id) => ({ id, target: id })),
    strategy: 'round-robin',
    outlierDetection,
    clock,
  });
  const ejected: EjectEvent[] = [];
  const returned: string[] = [];
  lb.on('eject', (e) => ejected.push(e));
  lb.on('uneject', (e) => returned.push(e.id));
  /** Reports `n` outcomes for target `id`, picking until it comes up. */
  const report = (id: string, outcome: 'success' | 'failure', n = 1) => {
    for (let done = 0; done < n; ) {
      const lease = lb.pick();
      lease.release(lease.id === id ? outcome : 'success');
      if (lease.id === id) done++;
    }
  };
  const picks = (n: number) =>
    Array.from({ length: n }, () => {
      const lease = lb.pick();
      lease.release('success');
      return lease.id;
    });
  return { clock, lb, ejected, returned, report, picks };
}

describe('outlier detection (Envoy consecutive errors)', () => {
  it('ejects a target after 5 consecutive failures for 30 s, then takes it back', () => {
    const { clock, lb, ejected, returned, report, picks } = setup(['a', 'b'], {
      maxEjectionPercent: 50,
    });
    report('a', 'failure', 4);
    expect(ejected).toEqual([]);
    report('a', 'failure');
    expect(ejected).toEqual([{ id: 'a', durationMs: 30_000, ejections: 1 }]);
    expect(lb.stats()).toMatchObject({ available: 1, ejected: 1, ejections: 1 });
    expect(lb.stats().targets[0]).toMatchObject({ ejected: true, ejectedUntilMs: 1_030_000 });
    expect(new Set(picks(6))).toEqual(new Set(['b']));

    clock.advance(29_999);
    expect(new Set(picks(4))).toEqual(new Set(['b']));
    clock.advance(1);
    expect(new Set(picks(4))).toEqual(new Set(['a', 'b']));
    expect(returned).toEqual(['a']);
    expect(lb.stats().targets[0]).toMatchObject({ ejected: false, consecutiveErrors: 0 });
  });

  it('resets the count on a success: failures must be consecutive', () => {
    const { ejected, report } = setup(['a', 'b'], { maxEjectionPercent: 50 });
    report('a', 'failure', 4);
    report('a', 'success');
    report('a', 'failure', 4);
    expect(ejected).toEqual([]);
  });

  it('ejects for base time × times ejected, capped at maxEjectionTimeMs', () => {
    const { clock, ejected, report } = setup(['a', 'b'], {
      maxEjectionPercent: 50,
      consecutiveErrors: 1,
      maxEjectionTimeMs: 70_000,
    });
    for (let i = 0; i < 4; i++) {
      report('a', 'failure');
      clock.advance(ejected.at(-1)?.durationMs ?? 0);
    }
    expect(ejected.map((e) => e.durationMs)).toEqual([30_000, 60_000, 70_000, 70_000]);
  });

  it('lets the multiplier decay by one per healthy interval, as Envoy’s sweep does', () => {
    const { clock, ejected, report } = setup(['a', 'b'], {
      maxEjectionPercent: 50,
      consecutiveErrors: 1,
    });
    report('a', 'failure');
    clock.advance(30_000);
    report('a', 'failure'); // back less than an interval: the multiplier is still 1 → 2
    clock.advance(60_000 + 20_000); // two healthy intervals: 2 → 0, then this ejection makes it 1
    report('a', 'failure');
    expect(ejected.map((e) => e.durationMs)).toEqual([30_000, 60_000, 30_000]);
  });

  it('never ejects more than maxEjectionPercent: with Envoy’s default 10 %, not one of 4 targets', () => {
    const { lb, ejected, report } = setup(['a', 'b', 'c', 'd']);
    report('a', 'failure', 5);
    expect(ejected).toEqual([]);
    expect(lb.stats()).toMatchObject({ ejected: 0, ejectionOverflows: 1 });
  });

  it('ejects one of 10 targets at 10 %, but not a second', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const { ejected, report, lb } = setup(ids);
    report('t0', 'failure', 5);
    report('t1', 'failure', 5);
    expect(ejected.map((e) => e.id)).toEqual(['t0']);
    expect(lb.stats().ejectionOverflows).toBe(1);
  });

  it('alwaysEjectOneHost ejects one target of a small set regardless of the percentage', () => {
    const { ejected, report } = setup(['a', 'b', 'c'], { alwaysEjectOneHost: true });
    report('a', 'failure', 5);
    report('b', 'failure', 5);
    expect(ejected.map((e) => e.id)).toEqual(['a']);
  });

  it('picks among every target while all are ejected (panic mode), as Envoy does', () => {
    const { clock, lb, report, picks, returned } = setup(['a', 'b'], {
      maxEjectionPercent: 100,
      consecutiveErrors: 1,
    });
    report('a', 'failure');
    report('b', 'failure');
    expect(lb.stats().ejected).toBe(2);
    expect(picks(4)).toEqual(['a', 'b', 'a', 'b']);
    // A failure in panic mode is counted and does not break the return of either target.
    lb.pick().release('failure');
    clock.advance(30_000);
    expect(picks(2)).toEqual(['b', 'a']);
    expect(returned.sort()).toEqual(['a', 'b']);
    expect(lb.stats().ejected).toBe(0);
  });

  it('keeps a key on its own target in panic mode with consistent hashing', () => {
    const clock = new ManualClock(1_000_000);
    const lb = new LoadBalancer({
      targets: ['a', 'b', 'c'].map((id) => ({ id, target: id })),
      strategy: 'consistent-hash',
      outlierDetection: { maxEjectionPercent: 100, consecutiveErrors: 1 },
      clock,
    });
    const owner = lb.pick('cam-7');
    owner.release('success');
    for (const id of ['a', 'b', 'c']) {
      // Fail each target once through a key it owns.
      for (let k = 0; ; k++) {
        const lease = lb.pick(`probe-${id}-${k}`);
        if (lease.id === id) {
          lease.release('failure');
          break;
        }
        lease.release('success');
      }
    }
    expect(lb.stats().ejected).toBe(3);
    expect(lb.pick('cam-7').id).toBe(owner.id);
  });

  it('keeps outlier detection off unless configured, as Envoy does', () => {
    const lb = new LoadBalancer({ targets: [{ id: 'a', target: 1 }], clock: new ManualClock() });
    for (let i = 0; i < 50; i++) lb.pick().release('failure');
    expect(lb.stats()).toMatchObject({ ejected: 0, failures: 50, ejections: 0 });
  });

  it('ignores failures of leases that end while their target is already ejected', () => {
    const { lb, ejected } = setup(['a', 'b'], { maxEjectionPercent: 50, consecutiveErrors: 2 });
    const leases = Array.from({ length: 6 }, () => lb.pick()).filter((l) => l.id === 'a');
    expect(leases).toHaveLength(3);
    for (const lease of leases) lease.release('failure');
    expect(ejected).toHaveLength(1);
    expect(lb.stats().targets[0]).toMatchObject({ failures: 3, consecutiveErrors: 0 });
  });
});
