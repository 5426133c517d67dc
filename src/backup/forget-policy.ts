/**
 * Which snapshots a backup repository keeps, decided the way restic's `forget` decides it
 * (restic 0.17 and later: `internal/data/snapshot_policy.go`, `doc/060_forget.rst`), as a
 * pure function over snapshot summaries.
 *
 * Calendar buckets are taken in UTC. A `Date` carries no time zone, and UTC gives the same
 * answer on every machine; restic instead uses the zone recorded with each snapshot, so a
 * snapshot taken at 23:30 local time may fall on the next UTC day here. Weeks are ISO 8601
 * weeks, Monday to Sunday, numbered within their ISO week-year (Go's `Time.ISOWeek`, which
 * restic uses): 2020-12-31 and 2021-01-03 are both in 2020-W53.
 */
import { z } from 'zod';
import { positiveDuration } from '../core/duration.js';
import { describeValue, InvalidArgumentError, InvalidOptionsError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';

/**
 * Which snapshots to keep; a snapshot matching any rule is kept, every other one is removed.
 * A count of `0` turns its rule off and `-1` means unlimited. When a counted rule still has
 * counts left at a group's oldest snapshot, that snapshot is kept too, with the reason
 * `oldest <rule> snapshot`, as restic does since 0.17.
 */
export interface ForgetPolicy {
  /** Keep the `n` newest snapshots. */
  readonly keepLast?: number;
  /** For the `n` newest hours (UTC) that have a snapshot, keep the newest snapshot of each. */
  readonly keepHourly?: number;
  /** For the `n` newest days (UTC) that have a snapshot, keep the newest snapshot of each. */
  readonly keepDaily?: number;
  /** For the `n` newest ISO weeks (UTC) that have a snapshot, keep the newest snapshot of each. */
  readonly keepWeekly?: number;
  /** For the `n` newest months (UTC) that have a snapshot, keep the newest snapshot of each. */
  readonly keepMonthly?: number;
  /** For the `n` newest years (UTC) that have a snapshot, keep the newest snapshot of each. */
  readonly keepYearly?: number;
  /**
   * Keep every snapshot strictly newer than the group's latest snapshot minus this duration:
   * milliseconds, or `'30d'`, `'12h'`, `'2w'`. Measured from the latest snapshot, not from now.
   * restic's months and years (`1m`, `1y`) do not exist here: `m` means minutes.
   */
  readonly keepWithin?: number | string;
  /** Keep every snapshot that has all tags of at least one set. `['']` matches untagged snapshots. */
  readonly keepTags?: readonly (readonly string[])[];
}

/** The fields of a snapshot the policy reads; any object with them can be passed. */
export interface SnapshotSummary {
  readonly id: string;
  readonly time: Date;
  readonly host: string;
  /** The backed-up paths; compared as a sorted set, like restic's paths. */
  readonly sources: readonly string[];
  readonly tags: readonly string[];
}

/** A snapshot field that splits snapshots into groups. */
export type ForgetGroupBy = 'host' | 'sources' | 'tags';

/** Options of {@link applyForgetPolicy}. */
export interface ForgetOptions {
  /**
   * The fields that split snapshots into groups; the policy applies to each group on its own.
   * `[]` applies it to all snapshots together.
   * @default ['host', 'sources']
   */
  readonly groupBy?: readonly ForgetGroupBy[];
  /**
   * When `forget` runs (a `Date` or epoch milliseconds). Snapshots dated at or after it are
   * not taken as the latest snapshot that `keepWithin` measures from, so a snapshot with a
   * wrong future date cannot push every other one out of the window. restic reads the wall
   * clock here; pass `clock.now()`.
   * @default none: every snapshot can be the latest
   */
  readonly now?: Date | number;
}

/** What identifies a group. Fields not in `groupBy` are `''` and `[]`. */
export interface ForgetGroupKey {
  readonly host: string;
  /** Sorted, without repeats. */
  readonly sources: readonly string[];
  /** Sorted, without repeats. */
  readonly tags: readonly string[];
}

/** A kept snapshot and every rule that kept it, in restic's words (`'daily snapshot'`). */
export interface ForgetKeep<S> {
  readonly snapshot: S;
  readonly reasons: readonly string[];
}

/** The decision for one group; `keep` and `remove` are ordered newest first. */
export interface ForgetGroup<S> {
  readonly key: ForgetGroupKey;
  readonly keep: readonly ForgetKeep<S>[];
  readonly remove: readonly S[];
}

const DAY_MS = 86_400_000;
const count = z.number().int().min(-1).optional();
const policySchema = z.strictObject({
  keepLast: count,
  keepHourly: count,
  keepDaily: count,
  keepWeekly: count,
  keepMonthly: count,
  keepYearly: count,
  keepWithin: positiveDuration.optional(),
  keepTags: z.array(z.array(z.string()).min(1)).optional(),
});
const optionsSchema = z.strictObject({
  groupBy: z.array(z.enum(['host', 'sources', 'tags'])).default(['host', 'sources']),
  now: z
    .union([z.date(), z.number()])
    .transform((v) => (typeof v === 'number' ? v : v.getTime()))
    .optional(),
});

type ParsedPolicy = z.output<typeof policySchema>;
type CountRule = Exclude<keyof ParsedPolicy, 'keepWithin' | 'keepTags'>;

/** Bucket numbers as restic computes them (`YYYYMMDDHH`, `YYYYWW`, ...), here in UTC. */
const COUNT_RULES: readonly {
  readonly option: CountRule;
  readonly reason: string;
  readonly bucket: (time: Date, index: number) => number;
}[] = [
  { option: 'keepLast', reason: 'last snapshot', bucket: (_, index) => index },
  {
    option: 'keepHourly',
    reason: 'hourly snapshot',
    bucket: (t) => daily(t) * 100 + t.getUTCHours(),
  },
  { option: 'keepDaily', reason: 'daily snapshot', bucket: (t) => daily(t) },
  { option: 'keepWeekly', reason: 'weekly snapshot', bucket: (t) => isoWeek(t) },
  { option: 'keepMonthly', reason: 'monthly snapshot', bucket: (t) => monthly(t) },
  { option: 'keepYearly', reason: 'yearly snapshot', bucket: (t) => t.getUTCFullYear() },
];

const monthly = (t: Date) => t.getUTCFullYear() * 100 + t.getUTCMonth() + 1;
const daily = (t: Date) => monthly(t) * 100 + t.getUTCDate();

/** `YYYYWW` of the ISO week holding `t`: the week belongs to the year of its Thursday. */
function isoWeek(t: Date): number {
  const midnight = Math.floor(t.getTime() / DAY_MS) * DAY_MS;
  const mondayBased = (t.getUTCDay() + 6) % 7;
  const thursday = new Date(midnight + (3 - mondayBased) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const januaryFirst = new Date(0);
  januaryFirst.setUTCFullYear(year, 0, 1);
  const week = Math.floor((thursday.getTime() - januaryFirst.getTime()) / (7 * DAY_MS)) + 1;
  return year * 100 + week;
}

/**
 * Splits `snapshots` into groups and decides, per group, which snapshots `policy` keeps and
 * which it removes, with restic's reasons. Does not modify its arguments.
 *
 * Throws `E_INVALID_OPTIONS` for a malformed policy or options, and for a policy with no
 * rule set (restic refuses an empty policy instead of keeping or removing everything), and
 * `E_INVALID_ARGUMENT` for a snapshot whose `time` is not a valid `Date`.
 */
export function applyForgetPolicy<S extends SnapshotSummary>(
  snapshots: readonly S[],
  policy: ForgetPolicy,
  options: ForgetOptions = {},
): ForgetGroup<S>[] {
  const rules = parseOptions('forget policy', policySchema, policy);
  if (isEmpty(rules)) throw emptyPolicyError(policy);
  const { groupBy, now } = parseOptions('applyForgetPolicy', optionsSchema, options);
  snapshots.forEach(checkTime);

  const by = new Set(groupBy);
  const groups = new Map<string, { key: ForgetGroupKey; members: S[] }>();
  for (const snapshot of snapshots) {
    const key: ForgetGroupKey = {
      host: by.has('host') ? snapshot.host : '',
      sources: by.has('sources') ? sortedSet(snapshot.sources) : [],
      tags: by.has('tags') ? sortedSet(snapshot.tags) : [],
    };
    const id = JSON.stringify([key.host, key.sources, key.tags]);
    const group = groups.get(id) ?? { key, members: [] };
    group.members.push(snapshot);
    groups.set(id, group);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { key, members }]) => ({ key, ...decide(members, rules, now) }));
}

function decide<S extends SnapshotSummary>(
  members: readonly S[],
  policy: ParsedPolicy,
  now: number | undefined,
): { keep: ForgetKeep<S>[]; remove: S[] } {
  // Array#sort is stable, so snapshots with equal times stay in input order, as in restic.
  const newestFirst = [...members].sort((a, b) => b.time.getTime() - a.time.getTime());
  const latest = newestFirst.find((s) => now === undefined || s.time.getTime() < now);
  // With every snapshot in the future restic measures from year 1: the window holds them all.
  const withinAfter =
    policy.keepWithin === undefined
      ? undefined
      : (latest?.time.getTime() ?? Number.NEGATIVE_INFINITY) - policy.keepWithin;
  const withinReason = policy.keepWithin === undefined ? '' : `within ${label(policy.keepWithin)}`;
  const buckets = COUNT_RULES.map((rule) => ({
    ...rule,
    left: policy[rule.option] ?? 0,
    last: undefined as number | undefined,
  }));

  const keep: ForgetKeep<S>[] = [];
  const remove: S[] = [];
  newestFirst.forEach((snapshot, index) => {
    const reasons: string[] = [];
    for (const tags of policy.keepTags ?? [])
      if (hasTags(snapshot, tags)) reasons.push(`has tags [${tags.join(', ')}]`);
    if (withinAfter !== undefined && snapshot.time.getTime() > withinAfter)
      reasons.push(withinReason);
    const oldest = index === newestFirst.length - 1;
    for (const bucket of buckets) {
      if (bucket.left === 0) continue;
      const value = bucket.bucket(snapshot.time, index);
      if (value === bucket.last && !oldest) continue;
      reasons.push(value === bucket.last ? `oldest ${bucket.reason}` : bucket.reason);
      bucket.last = value;
      if (bucket.left > 0) bucket.left -= 1;
    }
    if (reasons.length > 0) keep.push({ snapshot, reasons });
    else remove.push(snapshot);
  });
  return { keep, remove };
}

/** restic's rule: all tags of the set, and `''` matches a snapshot without tags. */
function hasTags(snapshot: SnapshotSummary, tags: readonly string[]): boolean {
  for (const tag of tags) {
    if (tag === '' && snapshot.tags.length === 0) return true;
    if (!snapshot.tags.includes(tag)) return false;
  }
  return true;
}

function isEmpty(policy: ParsedPolicy): boolean {
  return (
    COUNT_RULES.every((rule) => !policy[rule.option]) &&
    policy.keepWithin === undefined &&
    (policy.keepTags?.length ?? 0) === 0
  );
}

function emptyPolicyError(policy: ForgetPolicy): InvalidOptionsError {
  const expected = `at least one keep rule (${Object.keys(policySchema.shape).join(', ')}) other than 0 or []`;
  const received = JSON.stringify(policy);
  return new InvalidOptionsError(
    `Invalid forget policy options:\n  - (options): expected ${expected}, received ${received}; an empty policy is refused, as restic does, rather than read as "keep all" or "remove all"`,
    {
      context: { component: 'forget policy', issues: [{ path: '(options)', expected, received }] },
    },
  );
}

function checkTime(snapshot: SnapshotSummary, index: number): void {
  const time: unknown = snapshot.time;
  if (time instanceof Date && !Number.isNaN(time.getTime())) return;
  throw new InvalidArgumentError(
    `snapshots[${index}] (id ${JSON.stringify(snapshot.id)}): expected time to be a valid Date, received ${time instanceof Date ? 'an invalid Date' : describeValue(time)}`,
    { context: { index, id: snapshot.id } },
  );
}

const sortedSet = (values: readonly string[]) => [...new Set(values)].sort();

const LABEL_UNITS = [
  ['d', DAY_MS],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
] as const;

/** `13d23h` for a keepWithin reason, like restic's duration labels. */
function label(ms: number): string {
  let rest = ms;
  let text = '';
  for (const [unit, size] of LABEL_UNITS) {
    const amount = Math.floor(rest / size);
    if (amount > 0) text += `${amount}${unit}`;
    rest -= amount * size;
  }
  return rest > 0 ? `${text}${rest}ms` : text;
}
