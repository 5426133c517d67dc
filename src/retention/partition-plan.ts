/**
 * What one maintenance run should do, decided from the catalog, the rows waiting in the default
 * partition and the clock, before any statement runs. Pure functions, so the calendar rules
 * (premake, expiry, overlaps, the last partition) are read in one place.
 */
import {
  addIntervals,
  bucketAt,
  bucketStart,
  type PartitionBucket,
  type PartitionInterval,
} from './partition-bounds.js';
import type { DefaultRows, ExistingPartition } from './partition-catalog.js';

/** The inputs of {@link planBuckets}. */
export interface BucketPlanInput {
  /** The parent's bare name, which partition names start with. */
  readonly table: string;
  readonly interval: PartitionInterval;
  readonly premake: number;
  /** The clock's now, epoch ms. */
  readonly now: number;
  /** Intervals ending at or before this are expired; `-Infinity` without retention. */
  readonly expiredBefore: number;
  readonly existing: readonly ExistingPartition[];
  readonly defaultRows: readonly DefaultRows[];
}

/** A bucket to act on, with the number of its rows waiting in the default partition. */
export interface PlannedBucket extends PartitionBucket {
  readonly waiting: number;
}

/** The bucket decisions of a run, each list oldest first. */
export interface BucketPlan {
  /** Partitions to create (and fill from the default partition when `waiting > 0`). */
  readonly create: readonly PlannedBucket[];
  /** Expired intervals with rows in the default partition: delete or set the rows aside. */
  readonly expire: readonly PlannedBucket[];
  /** Intervals with waiting rows that an existing partition partly covers; left alone. */
  readonly overlapping: readonly PlannedBucket[];
}

/**
 * Decides which partitions to create: the current interval and `premake` after it, plus every
 * interval with rows in the default partition. An interval that is expired is never created;
 * one that overlaps an existing partition (any name) is never created either.
 */
export function planBuckets(input: BucketPlanInput): BucketPlan {
  const waiting = new Map<number, number>();
  for (const row of input.defaultRows) {
    const from = bucketStart(row.from, input.interval);
    waiting.set(from, (waiting.get(from) ?? 0) + row.rows);
  }
  const current = bucketStart(input.now, input.interval);
  const starts = new Set(waiting.keys());
  for (let i = 0; i <= input.premake; i++) starts.add(addIntervals(current, input.interval, i));

  const create: PlannedBucket[] = [];
  const expire: PlannedBucket[] = [];
  const overlapping: PlannedBucket[] = [];
  for (const from of [...starts].sort((a, b) => a - b)) {
    const bucket = {
      ...bucketAt(input.table, from, input.interval),
      waiting: waiting.get(from) ?? 0,
    };
    if (bucket.to <= input.expiredBefore) {
      if (bucket.waiting > 0) expire.push(bucket);
    } else if (input.existing.some((p) => p.from < bucket.to && bucket.from < p.to)) {
      if (bucket.waiting > 0) overlapping.push(bucket);
    } else {
      create.push(bucket);
    }
  }
  return { create, expire, overlapping };
}

/**
 * The partitions retention removes, oldest first: those named by this manager's scheme
 * (`<table>_p…`) whose upper bound is at or before `expiredBefore`, keeping at least one
 * non-default partition. Partitions named otherwise are the user's and are never removed.
 */
export function planRetention(
  table: string,
  existing: readonly ExistingPartition[],
  expiredBefore: number,
): ExistingPartition[] {
  const ours = new RegExp(`^${escapeRegExp(table)}_p\\d{6}(\\d{2})?$`);
  const expired = existing.filter((p) => p.to <= expiredBefore && ours.test(p.name));
  return expired.slice(0, Math.max(0, existing.length - 1));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
