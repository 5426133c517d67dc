/**
 * The calendar of a partitioned table: which interval ("bucket") an instant falls in, where
 * the next one starts, and what the partition holding it is called. Everything is computed in
 * UTC, so the same instant gives the same partition whatever the server's or the session's
 * time zone.
 */

/** The length of one partition: a UTC day, an ISO week (Monday to Monday), or a month. */
export type PartitionInterval = 'day' | 'week' | 'month';

/** One interval of the calendar: `[from, to)` in epoch milliseconds, and its partition name. */
export interface PartitionBucket {
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

/** The suffix of the default partition: `<table>_default`. */
export const DEFAULT_SUFFIX = '_default';
/** The longest suffix a partition name gets (`_p20260101`), for the identifier-length check. */
export const LONGEST_SUFFIX_LENGTH = '_p20260101'.length;

/** The start of the bucket containing `ms`: like `date_trunc(interval, ts AT TIME ZONE 'UTC')`. */
export function bucketStart(ms: number, interval: PartitionInterval): number {
  const date = new Date(ms);
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  const d = date.getUTCDate();
  switch (interval) {
    case 'day':
      return Date.UTC(y, m, d);
    case 'week':
      // getUTCDay() is 0 on Sunday; ISO weeks start on Monday.
      return Date.UTC(y, m, d - ((date.getUTCDay() + 6) % 7));
    case 'month':
      return Date.UTC(y, m, 1);
  }
}

/** The start of the bucket `count` intervals after the one starting at `start`. */
export function addIntervals(start: number, interval: PartitionInterval, count: number): number {
  const date = new Date(start);
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  const d = date.getUTCDate();
  switch (interval) {
    case 'day':
      return Date.UTC(y, m, d + count);
    case 'week':
      return Date.UTC(y, m, d + 7 * count);
    case 'month':
      return Date.UTC(y, m + count, 1);
  }
}

/** The bucket containing `ms`, named after `table` (the bare table name, no schema). */
export function bucketAt(table: string, ms: number, interval: PartitionInterval): PartitionBucket {
  const from = bucketStart(ms, interval);
  return { name: partitionName(table, from, interval), from, to: addIntervals(from, interval, 1) };
}

/** `<table>_p20260105` for a day or week starting then, `<table>_p202601` for a month. */
export function partitionName(table: string, from: number, interval: PartitionInterval): string {
  const date = new Date(from);
  const y = String(date.getUTCFullYear()).padStart(4, '0');
  const m = String(date.getUTCMonth() + 1).padStart(2, '0');
  if (interval === 'month') return `${table}_p${y}${m}`;
  return `${table}_p${y}${m}${String(date.getUTCDate()).padStart(2, '0')}`;
}

/** A bound as a literal PostgreSQL reads the same for `timestamptz` and (as UTC) `timestamp`. */
export function boundLiteral(ms: number): string {
  return new Date(ms).toISOString();
}
