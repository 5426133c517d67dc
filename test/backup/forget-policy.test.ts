import { describe, expect, it } from 'vitest';
import {
  applyForgetPolicy,
  type ForgetGroup,
  type ForgetOptions,
  type ForgetPolicy,
  type SnapshotSummary,
} from '../../src/backup/forget-policy.js';
import { SalamaError } from '../../src/core/errors.js';

const DAY = 86_400_000;

function snapshot(
  id: string,
  time: string | number,
  fields: Partial<Omit<SnapshotSummary, 'id' | 'time'>> = {},
): SnapshotSummary {
  return {
    id,
    time: new Date(time),
    host: 'mopped',
    sources: ['/home/user/work'],
    tags: [],
    ...fields,
  };
}

/** Every kept snapshot as `[id, reasons]`, groups in order, newest first. */
const kept = (groups: readonly ForgetGroup<SnapshotSummary>[]) =>
  groups.flatMap((g) => g.keep.map((k) => [k.snapshot.id, k.reasons]));
const removed = (groups: readonly ForgetGroup<SnapshotSummary>[]) =>
  groups.flatMap((g) => g.remove.map((s) => s.id));

function dailySnapshots(first: string, last: string): SnapshotSummary[] {
  const out: SnapshotSummary[] = [];
  for (let t = Date.parse(first); t <= Date.parse(last); t += DAY)
    out.push(snapshot(new Date(t).toISOString().slice(0, 10), t));
  return out;
}

/**
 * restic's own test list (internal/data/snapshot_policy_test.go, `testExpireSnapshots`), in
 * its order. The id is restic's time string, with `#n` for the nth snapshot at that time.
 */
const RESTIC_LIST: readonly (string | readonly [string, string[], string[]?])[] = [
  '2014-09-01 10:20:30',
  '2014-09-02 10:20:30',
  '2014-09-05 10:20:30',
  '2014-09-06 10:20:30',
  '2014-09-08 10:20:30',
  '2014-09-09 10:20:30',
  '2014-09-10 10:20:30',
  '2014-09-11 10:20:30',
  '2014-09-20 10:20:30',
  '2014-09-22 10:20:30',
  '2014-08-08 10:20:30',
  '2014-08-10 10:20:30',
  '2014-08-12 10:20:30',
  '2014-08-13 10:20:30',
  '2014-08-13 10:20:30.1',
  '2014-08-15 10:20:30',
  '2014-08-18 10:20:30',
  '2014-08-20 10:20:30',
  '2014-08-21 10:20:30',
  '2014-08-22 10:20:30',
  ['2014-10-01 10:20:30', ['foo']],
  ['2014-10-02 10:20:30', ['foo']],
  ['2014-10-05 10:20:30', ['foo']],
  ['2014-10-06 10:20:30', ['foo']],
  ['2014-10-08 10:20:30', ['foo']],
  ['2014-10-09 10:20:30', ['foo']],
  ['2014-10-10 10:20:30', ['foo']],
  ['2014-10-11 10:20:30', ['foo']],
  ['2014-10-20 10:20:30', ['foo']],
  ['2014-10-22 10:20:30', ['foo']],
  ['2014-11-08 10:20:30', ['foo']],
  ['2014-11-10 10:20:30', ['foo']],
  ['2014-11-12 10:20:30', ['foo']],
  ['2014-11-13 10:20:30', ['foo']],
  ['2014-11-13 10:20:30.1', ['bar']],
  ['2014-11-15 10:20:30', ['foo', 'bar']],
  '2014-11-18 10:20:30',
  '2014-11-20 10:20:30',
  '2014-11-21 10:20:30',
  '2014-11-22 10:20:30',
  '2015-09-01 10:20:30',
  '2015-09-02 10:20:30',
  '2015-09-05 10:20:30',
  '2015-09-06 10:20:30',
  '2015-09-08 10:20:30',
  '2015-09-09 10:20:30',
  '2015-09-10 10:20:30',
  '2015-09-11 10:20:30',
  '2015-09-20 10:20:30',
  '2015-09-22 10:20:30',
  '2015-08-08 10:20:30',
  '2015-08-10 10:20:30',
  '2015-08-12 10:20:30',
  '2015-08-13 10:20:30',
  '2015-08-13 10:20:30.1',
  '2015-08-15 10:20:30',
  '2015-08-18 10:20:30',
  '2015-08-20 10:20:30',
  '2015-08-21 10:20:30',
  '2015-08-22 10:20:30',
  '2015-10-01 10:20:30',
  '2015-10-02 10:20:30',
  '2015-10-05 10:20:30',
  '2015-10-06 10:20:30',
  '2015-10-08 10:20:30',
  '2015-10-09 10:20:30',
  '2015-10-10 10:20:30',
  '2015-10-11 10:20:30',
  '2015-10-20 10:20:30',
  '2015-10-22 10:20:30',
  '2015-10-22 10:20:30',
  ['2015-10-22 10:20:30', ['foo', 'bar']],
  ['2015-10-22 10:20:30', ['foo', 'bar']],
  ['2015-10-22 10:20:30', ['foo', 'bar'], ['path1', 'path2']],
  '2015-11-08 10:20:30',
  '2015-11-10 10:20:30',
  '2015-11-12 10:20:30',
  '2015-11-13 10:20:30',
  '2015-11-13 10:20:30.1',
  '2015-11-15 10:20:30',
  '2015-11-18 10:20:30',
  '2015-11-20 10:20:30',
  '2015-11-21 10:20:30',
  '2015-11-22 10:20:30',
  '2016-01-01 01:02:03',
  '2016-01-01 01:03:03',
  '2016-01-01 07:08:03',
  '2016-01-03 07:02:03',
  '2016-01-04 10:23:03',
  '2016-01-04 11:23:03',
  '2016-01-04 12:23:03',
  '2016-01-04 12:24:03',
  '2016-01-04 12:28:03',
  '2016-01-04 12:30:03',
  '2016-01-04 16:23:03',
  '2016-01-05 09:02:03',
  '2016-01-06 08:02:03',
  '2016-01-07 10:02:03',
  '2016-01-08 20:02:03',
  '2016-01-09 21:02:03',
  '2016-01-12 21:02:03',
  '2016-01-12 21:08:03',
  '2016-01-18 12:02:03',
];

function resticSnapshots(): SnapshotSummary[] {
  const seen = new Map<string, number>();
  return RESTIC_LIST.map((row) => {
    const [time, tags, sources] =
      typeof row === 'string' ? [row, [], []] : [row[0], row[1], row[2] ?? []];
    const n = (seen.get(time) ?? 0) + 1;
    seen.set(time, n);
    const [date, clock = ''] = time.split(' ');
    const [hms, fraction = '0'] = clock.split('.');
    const iso = `${date}T${hms}.${fraction.padEnd(3, '0')}Z`;
    return snapshot(n === 1 ? time : `${time}#${n}`, iso, { host: '', sources, tags });
  });
}

/** Applied as restic's test applies it: one group, whatever the host or paths. */
const applyToResticList = (policy: ForgetPolicy) =>
  kept(applyForgetPolicy(resticSnapshots(), policy, { groupBy: [] }));

const all = (reasons: string[], ids: string[]) => ids.map((id) => [id, reasons]);

describe('restic golden files (internal/data/testdata/policy_keep_snapshots_N)', () => {
  it('_5: keepHourly 20 keeps the newest snapshot of each of the 20 newest hours', () => {
    expect(applyToResticList({ keepHourly: 20 })).toEqual(
      all(
        ['hourly snapshot'],
        [
          '2016-01-18 12:02:03',
          '2016-01-12 21:08:03',
          '2016-01-09 21:02:03',
          '2016-01-08 20:02:03',
          '2016-01-07 10:02:03',
          '2016-01-06 08:02:03',
          '2016-01-05 09:02:03',
          '2016-01-04 16:23:03',
          '2016-01-04 12:30:03',
          '2016-01-04 11:23:03',
          '2016-01-04 10:23:03',
          '2016-01-03 07:02:03',
          '2016-01-01 07:08:03',
          '2016-01-01 01:03:03',
          '2015-11-22 10:20:30',
          '2015-11-21 10:20:30',
          '2015-11-20 10:20:30',
          '2015-11-18 10:20:30',
          '2015-11-15 10:20:30',
          '2015-11-13 10:20:30.1',
        ],
      ),
    );
  });

  it('_15: keepDaily 2, keepWeekly 2, keepMonthly 6 lists every rule that kept a snapshot', () => {
    expect(applyToResticList({ keepDaily: 2, keepWeekly: 2, keepMonthly: 6 })).toEqual([
      ['2016-01-18 12:02:03', ['daily snapshot', 'weekly snapshot', 'monthly snapshot']],
      ['2016-01-12 21:08:03', ['daily snapshot', 'weekly snapshot']],
      ['2015-11-22 10:20:30', ['monthly snapshot']],
      ['2015-10-22 10:20:30', ['monthly snapshot']],
      ['2015-09-22 10:20:30', ['monthly snapshot']],
      ['2015-08-22 10:20:30', ['monthly snapshot']],
      ['2014-11-22 10:20:30', ['monthly snapshot']],
    ]);
  });

  it('_16: keepYearly 10 also keeps the oldest snapshot while counts are left', () => {
    expect(applyToResticList({ keepYearly: 10 })).toEqual([
      ['2016-01-18 12:02:03', ['yearly snapshot']],
      ['2015-11-22 10:20:30', ['yearly snapshot']],
      ['2014-11-22 10:20:30', ['yearly snapshot']],
      ['2014-08-08 10:20:30', ['oldest yearly snapshot']],
    ]);
  });

  it('_20: keepTags [foo] or [bar] keeps every snapshot having either, uncounted', () => {
    expect(applyToResticList({ keepTags: [['foo'], ['bar']] })).toEqual([
      ...all(
        ['has tags [foo]', 'has tags [bar]'],
        [
          '2015-10-22 10:20:30#3',
          '2015-10-22 10:20:30#4',
          '2015-10-22 10:20:30#5',
          '2014-11-15 10:20:30',
        ],
      ),
      ['2014-11-13 10:20:30.1', ['has tags [bar]']],
      ...all(
        ['has tags [foo]'],
        [
          '2014-11-13 10:20:30',
          '2014-11-12 10:20:30',
          '2014-11-10 10:20:30',
          '2014-11-08 10:20:30',
          '2014-10-22 10:20:30',
          '2014-10-20 10:20:30',
          '2014-10-11 10:20:30',
          '2014-10-10 10:20:30',
          '2014-10-09 10:20:30',
          '2014-10-08 10:20:30',
          '2014-10-06 10:20:30',
          '2014-10-05 10:20:30',
          '2014-10-02 10:20:30',
          '2014-10-01 10:20:30',
        ],
      ),
    ]);
  });

  it('_23: keepWithin 7d keeps what is newer than the latest snapshot minus 7 days', () => {
    expect(applyToResticList({ keepWithin: '7d' })).toEqual(
      all(['within 7d'], ['2016-01-18 12:02:03', '2016-01-12 21:08:03', '2016-01-12 21:02:03']),
    );
  });

  it('_39: keepDaily 3, keepWeekly 2, keepMonthly -1, keepYearly -1', () => {
    expect(
      applyToResticList({ keepDaily: 3, keepWeekly: 2, keepMonthly: -1, keepYearly: -1 }),
    ).toEqual([
      [
        '2016-01-18 12:02:03',
        ['daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot'],
      ],
      ['2016-01-12 21:08:03', ['daily snapshot', 'weekly snapshot']],
      ['2016-01-09 21:02:03', ['daily snapshot']],
      ['2015-11-22 10:20:30', ['monthly snapshot', 'yearly snapshot']],
      ['2015-10-22 10:20:30', ['monthly snapshot']],
      ['2015-09-22 10:20:30', ['monthly snapshot']],
      ['2015-08-22 10:20:30', ['monthly snapshot']],
      ['2014-11-22 10:20:30', ['monthly snapshot', 'yearly snapshot']],
      ['2014-10-22 10:20:30', ['monthly snapshot']],
      ['2014-09-22 10:20:30', ['monthly snapshot']],
      ['2014-08-22 10:20:30', ['monthly snapshot']],
      ['2014-08-08 10:20:30', ['oldest monthly snapshot', 'oldest yearly snapshot']],
    ]);
  });

  it('puts every snapshot in exactly one of keep and remove', () => {
    const [group] = applyForgetPolicy(resticSnapshots(), { keepDaily: 7 }, { groupBy: [] });
    expect(group?.keep.length).toBe(7);
    expect((group?.keep.length ?? 0) + (group?.remove.length ?? 0)).toBe(RESTIC_LIST.length);
  });
});

describe("restic's documented examples (doc/060_forget.rst)", () => {
  it('keepDaily 4 over 12 weekly Sunday backups keeps the last four Sundays', () => {
    const sundays = [
      ['0a1f9759', '2019-09-01'],
      ['46cfe4d5', '2019-09-08'],
      ['f6b1f037', '2019-09-15'],
      ['eb430a5d', '2019-09-22'],
      ['8cf1cb9a', '2019-09-29'],
      ['5d33b116', '2019-10-06'],
      ['b9553125', '2019-10-13'],
      ['e1a7b58b', '2019-10-20'],
      ['8f8018c0', '2019-10-27'],
      ['59403279', '2019-11-03'],
      ['dfee9fb4', '2019-11-10'],
      ['e1ae2f40', '2019-11-17'],
    ].map(([id, day]) => snapshot(id as string, `${day}T11:00:00Z`));
    const groups = applyForgetPolicy(sundays, { keepDaily: 4 });
    expect(kept(groups)).toEqual(
      all(['daily snapshot'], ['e1ae2f40', 'dfee9fb4', '59403279', '8f8018c0']),
    );
    expect(removed(groups)).toEqual([
      'e1a7b58b',
      'b9553125',
      '5d33b116',
      '8cf1cb9a',
      'eb430a5d',
      'f6b1f037',
      '46cfe4d5',
      '0a1f9759',
    ]);
  });

  it('keepLast 1 keeps the newest snapshot and removes the other', () => {
    const groups = applyForgetPolicy(
      [snapshot('4bba301e', '2017-02-21T10:49:18Z'), snapshot('8c02b94b', '2017-02-21T10:48:33Z')],
      { keepLast: 1 },
    );
    expect(groups).toHaveLength(1);
    expect(groups[0]?.key).toEqual({ host: 'mopped', sources: ['/home/user/work'], tags: [] });
    expect(kept(groups)).toEqual([['4bba301e', ['last snapshot']]]);
    expect(removed(groups)).toEqual(['8c02b94b']);
  });

  it('daily backups for 100 years under 7 daily, 5 weekly, 12 monthly, 75 yearly keep 7 + 4 + 11 + 74', () => {
    const snapshots = dailySnapshots('1924-01-01T10:00:00Z', '2023-12-31T10:00:00Z');
    const groups = applyForgetPolicy(snapshots, {
      keepDaily: 7,
      keepWeekly: 5,
      keepMonthly: 12,
      keepYearly: 75,
    });
    const keep = groups[0]?.keep ?? [];
    // 2023-12-31 is a Sunday and a month's and a year's last day: one snapshot, four reasons.
    expect(keep[0]).toEqual({
      snapshot: snapshots.at(-1),
      reasons: ['daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot'],
    });
    expect(keep).toHaveLength(7 + 4 + 11 + 74);
    expect(keep.slice(0, 11).map((k) => k.snapshot.id)).toEqual([
      ...['2023-12-31', '2023-12-30', '2023-12-29', '2023-12-28', '2023-12-27', '2023-12-26'],
      ...['2023-12-25', '2023-12-24', '2023-12-17', '2023-12-10', '2023-12-03'],
    ]);
    const count = (reason: string) => keep.filter((k) => k.reasons.includes(reason)).length;
    expect([
      count('daily snapshot'),
      count('weekly snapshot'),
      count('monthly snapshot'),
      count('yearly snapshot'),
    ]).toEqual([7, 5, 12, 75]);
    expect(keep.at(-1)?.snapshot.id).toBe('1949-12-31');
    expect(groups[0]?.remove).toHaveLength(snapshots.length - 96);
  });

  it('a single year of daily backups under the same policy also keeps the oldest as yearly', () => {
    const keep =
      applyForgetPolicy(dailySnapshots('2023-01-01T10:00:00Z', '2023-12-31T10:00:00Z'), {
        keepDaily: 7,
        keepWeekly: 5,
        keepMonthly: 12,
        keepYearly: 75,
      })[0]?.keep ?? [];
    expect(keep.slice(11).map((k) => [k.snapshot.id, k.reasons])).toEqual([
      ...all(
        ['monthly snapshot'],
        [
          ...['2023-11-30', '2023-10-31', '2023-09-30', '2023-08-31', '2023-07-31', '2023-06-30'],
          ...['2023-05-31', '2023-04-30', '2023-03-31', '2023-02-28', '2023-01-31'],
        ],
      ),
      ['2023-01-01', ['oldest yearly snapshot']],
    ]);
  });
});

describe('calendar buckets', () => {
  it('counts weeks as ISO weeks: 2020-12-28 to 2021-01-03 is one week, 2020-W53', () => {
    const groups = applyForgetPolicy(
      ['2020-12-28', '2020-12-31', '2021-01-01', '2021-01-03', '2021-01-04'].map((day) =>
        snapshot(day, `${day}T12:00:00Z`),
      ),
      { keepWeekly: 3 },
    );
    expect(kept(groups)).toEqual([
      ['2021-01-04', ['weekly snapshot']],
      ['2021-01-03', ['weekly snapshot']],
      ['2020-12-28', ['oldest weekly snapshot']],
    ]);
    expect(removed(groups)).toEqual(['2021-01-01', '2020-12-31']);
  });

  it('puts 2019-12-30 in ISO week 2020-W01, with 2020-01-05', () => {
    const groups = applyForgetPolicy(
      ['2019-12-29', '2019-12-30', '2020-01-05'].map((day) => snapshot(day, `${day}T12:00:00Z`)),
      { keepWeekly: 2 },
    );
    expect(kept(groups)).toEqual(all(['weekly snapshot'], ['2020-01-05', '2019-12-29']));
    expect(removed(groups)).toEqual(['2019-12-30']);
  });

  it('takes days in UTC, whatever offset the time was written with', () => {
    const groups = applyForgetPolicy(
      [
        snapshot('earlier', '2024-03-09T12:00:00Z'),
        snapshot('noon', '2024-03-10T12:00:00Z'),
        // 01:00 on the 11th at UTC+2 is still the 10th in UTC.
        snapshot('late', '2024-03-11T01:00:00+02:00'),
      ],
      { keepDaily: 2 },
    );
    expect(kept(groups)).toEqual(all(['daily snapshot'], ['late', 'earlier']));
  });

  it('-1 is unlimited: keepLast -1 keeps everything, keepDaily -1 every day', () => {
    const snapshots = [
      snapshot('d1-morning', '2024-05-01T08:00:00Z'),
      snapshot('d1-evening', '2024-05-01T20:00:00Z'),
      snapshot('d2-morning', '2024-05-02T08:00:00Z'),
      snapshot('d2-evening', '2024-05-02T20:00:00Z'),
      snapshot('d3', '2024-05-03T08:00:00Z'),
    ];
    expect(removed(applyForgetPolicy(snapshots, { keepLast: -1 }))).toEqual([]);
    const daily = applyForgetPolicy(snapshots, { keepDaily: -1 });
    expect(kept(daily)).toEqual([
      ['d3', ['daily snapshot']],
      ['d2-evening', ['daily snapshot']],
      ['d1-evening', ['daily snapshot']],
      ['d1-morning', ['oldest daily snapshot']],
    ]);
    expect(removed(daily)).toEqual(['d2-morning']);
  });

  it('lists every rule that keeps a snapshot, in restic order', () => {
    const groups = applyForgetPolicy(
      [
        snapshot('old', '2024-05-01T08:00:00Z'),
        snapshot('new', '2024-05-02T08:00:00Z', { tags: ['nightly'] }),
      ],
      { keepLast: 1, keepDaily: 1, keepWithin: '1h', keepTags: [['nightly']] },
    );
    expect(kept(groups)).toEqual([
      ['new', ['has tags [nightly]', 'within 1h', 'last snapshot', 'daily snapshot']],
    ]);
  });
});

describe('keepWithin', () => {
  const snapshots = [
    snapshot('jan-05', '2020-01-05T00:00:00Z'),
    snapshot('jan-08', '2020-01-08T00:00:00Z'),
    snapshot('jan-09', '2020-01-09T06:00:00Z'),
    snapshot('jan-10', '2020-01-10T00:00:00Z'),
  ];

  it('measures from the latest snapshot, not from now, and excludes the boundary', () => {
    const groups = applyForgetPolicy(snapshots, { keepWithin: '2d' });
    expect(kept(groups)).toEqual(all(['within 2d'], ['jan-10', 'jan-09']));
    expect(removed(groups)).toEqual(['jan-08', 'jan-05']);
  });

  it('takes milliseconds and names the window in days, hours and minutes', () => {
    expect(kept(applyForgetPolicy(snapshots, { keepWithin: 36 * 3_600_000 }))).toEqual(
      all(['within 1d12h'], ['jan-10', 'jan-09']),
    );
    expect(kept(applyForgetPolicy(snapshots, { keepWithin: '90m' }))[0]).toEqual([
      'jan-10',
      ['within 1h30m'],
    ]);
  });

  it('with now, ignores a future-dated snapshot when finding the latest', () => {
    const withFuture = [...snapshots, snapshot('bogus', '2099-01-01T00:00:00Z')];
    expect(kept(applyForgetPolicy(withFuture, { keepWithin: '2d' }))).toEqual([
      ['bogus', ['within 2d']],
    ]);
    const now = Date.parse('2020-01-11T00:00:00Z');
    for (const at of [now, new Date(now)])
      expect(kept(applyForgetPolicy(withFuture, { keepWithin: '2d' }, { now: at }))).toEqual(
        all(['within 2d'], ['bogus', 'jan-10', 'jan-09']),
      );
  });
});

describe('grouping', () => {
  // restic's own `snapshots` listing from doc/060_forget.rst.
  const listing = [
    snapshot('40dc1520', '2015-05-08T21:38:30Z', { host: 'kasimir' }),
    snapshot('79766175', '2015-05-08T21:40:19Z', { host: 'kasimir' }),
    snapshot('bdbd3439', '2015-05-08T21:45:17Z', { host: 'luigi', sources: ['/home/art'] }),
    snapshot('590c8fc8', '2015-05-08T21:47:38Z', { host: 'kazik', sources: ['/srv'] }),
    snapshot('9f0bc19e', '2015-05-08T21:46:11Z', { host: 'luigi', sources: ['/srv'] }),
  ];

  it('applies the policy to each host and set of sources on its own by default', () => {
    const groups = applyForgetPolicy(listing, { keepLast: 1 });
    expect(
      groups.map((g) => [g.key.host, g.key.sources, g.keep.map((k) => k.snapshot.id)]),
    ).toEqual([
      ['kasimir', ['/home/user/work'], ['79766175']],
      ['kazik', ['/srv'], ['590c8fc8']],
      ['luigi', ['/home/art'], ['bdbd3439']],
      ['luigi', ['/srv'], ['9f0bc19e']],
    ]);
    expect(removed(groups)).toEqual(['40dc1520']);
  });

  it('groups by host alone, or not at all with groupBy []', () => {
    const byHost = applyForgetPolicy(listing, { keepLast: 1 }, { groupBy: ['host'] });
    expect(byHost.map((g) => [g.key, g.keep.map((k) => k.snapshot.id)])).toEqual([
      [{ host: 'kasimir', sources: [], tags: [] }, ['79766175']],
      [{ host: 'kazik', sources: [], tags: [] }, ['590c8fc8']],
      [{ host: 'luigi', sources: [], tags: [] }, ['9f0bc19e']],
    ]);
    const together = applyForgetPolicy(listing, { keepLast: 1 }, { groupBy: [] });
    expect(kept(together)).toEqual([['590c8fc8', ['last snapshot']]]);
    expect(together[0]?.remove).toHaveLength(4);
  });

  it('compares sources and tags as sorted sets', () => {
    const groups = applyForgetPolicy(
      [
        snapshot('a', '2024-01-01T00:00:00Z', { sources: ['/b', '/a'], tags: ['y', 'x'] }),
        snapshot('b', '2024-01-02T00:00:00Z', { sources: ['/a', '/b', '/a'], tags: ['x', 'y'] }),
      ],
      { keepLast: 1 },
      { groupBy: ['host', 'sources', 'tags'] },
    );
    expect(groups).toHaveLength(1);
    expect(groups[0]?.key).toEqual({ host: 'mopped', sources: ['/a', '/b'], tags: ['x', 'y'] });
    expect(removed(groups)).toEqual(['a']);
  });

  it("keepTags [''] keeps untagged snapshots only", () => {
    const groups = applyForgetPolicy(
      [
        snapshot('tagged', '2024-01-01T00:00:00Z', { tags: ['manual'] }),
        snapshot('untagged', '2024-01-02T00:00:00Z'),
      ],
      { keepTags: [['']] },
    );
    expect(kept(groups)).toEqual([['untagged', ['has tags []']]]);
  });

  it('returns no groups for no snapshots and leaves its input in order', () => {
    expect(applyForgetPolicy([], { keepLast: 1 })).toEqual([]);
    const input = [
      snapshot('old', '2024-01-01T00:00:00Z'),
      snapshot('new', '2024-01-02T00:00:00Z'),
    ];
    applyForgetPolicy(input, { keepLast: 1 });
    expect(input.map((s) => s.id)).toEqual(['old', 'new']);
  });
});

describe('invalid policies and snapshots', () => {
  const one = [snapshot('a', '2024-01-01T00:00:00Z')];
  const errorOf = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      return error;
    }
    throw new Error('expected a throw');
  };

  it('refuses an empty policy instead of keeping or removing everything', () => {
    for (const policy of [{}, { keepLast: 0, keepDaily: 0 }, { keepTags: [] }]) {
      const error = errorOf(() => applyForgetPolicy(one, policy));
      expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toMatch(
        /\(options\): expected at least one keep rule \(keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly, keepWithin, keepTags\) other than 0 or \[\], received \{/,
      );
    }
  });

  it.each<[unknown, RegExp]>([
    [{ keepDaily: -2 }, /keepDaily: expected number >= -1, received number -2/],
    [{ keepLast: 1.5 }, /keepLast: expected an integer, received number 1.5/],
    [{ keepWeekly: '3' }, /keepWeekly: expected number, received string "3"/],
    [{ keepWithin: 0 }, /keepWithin: expected a positive duration/],
    [{ keepWithin: '1y' }, /keepWithin: expected a positive duration/],
    [{ keepTags: [[]] }, /keepTags\.0: expected array of length >= 1, received array of length 0/],
    [{ keepHourlyy: 3 }, /keepHourlyy: expected no such option \(valid options: keepLast, /],
  ])('refuses %j with a message naming what was expected', (policy, message) => {
    const error = errorOf(() => applyForgetPolicy(one, policy as ForgetPolicy));
    expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses an unknown groupBy field and a snapshot without a valid time', () => {
    expect(() =>
      applyForgetPolicy(one, { keepLast: 1 }, { groupBy: ['paths'] } as unknown as ForgetOptions),
    ).toThrow(/groupBy\.0: expected one of "host", "sources", "tags", received string "paths"/);
    const error = errorOf(() =>
      applyForgetPolicy([...one, snapshot('b', Number.NaN)], { keepLast: 1 }),
    );
    expect(SalamaError.is(error, 'E_INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toBe(
      'snapshots[1] (id "b"): expected time to be a valid Date, received an invalid Date',
    );
  });
});
