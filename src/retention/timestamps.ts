/**
 * Converting between JavaScript dates and the ways a timestamp column stores time, so a
 * cutoff compares correctly with the column (an index on it stays usable) and the oldest and
 * newest values read back as dates in reports.
 */
import { sql } from 'kysely';
import { InvalidOptionsError } from '../core/errors.js';
import type { TimestampFormat } from './retention-policy.js';
import type { ColumnInfo, SqlDialect } from './sql.js';

const POSTGRES_TIME_TYPES = /^(timestamp|date)\b/;

/**
 * The storage format of `column`: the one asked for, else the one its declared type implies.
 * A column whose type cannot hold time is `E_INVALID_OPTIONS` naming the type found. SQLite
 * text is `sqlite-datetime` whichever layout was asked for: it is compared through SQLite's
 * date functions, which read both (see {@link comparableTimestamp}).
 */
export function resolveTimestampFormat(
  where: string,
  dialect: SqlDialect,
  column: ColumnInfo,
  requested: TimestampFormat | undefined,
): TimestampFormat {
  const type = column.type;
  const isInteger = /int/.test(type);
  const refuse = (expected: string): never => {
    throw new InvalidOptionsError(
      `${where}: expected ${expected} as timestamp column, received column "${column.name}" of type ${type || '(none)'}`,
      { context: { column: column.name, type, requested } },
    );
  };
  if (dialect === 'postgres') {
    if (POSTGRES_TIME_TYPES.test(type)) {
      if (requested !== undefined && requested !== 'native')
        return refuse(`a column stored as ${requested}`);
      return 'native';
    }
    if (isInteger && (requested === 'epoch-ms' || requested === 'epoch-s')) return requested;
    if (/^(text|character varying)/.test(type) && requested === 'iso') return requested;
    return refuse(
      'a timestamp or date column (or an integer column with timestampFormat epoch-ms/epoch-s)',
    );
  }
  if (requested === 'native') return refuse('a PostgreSQL timestamp column for format native');
  if (isInteger) {
    if (requested === undefined) return 'epoch-ms';
    if (requested === 'epoch-ms' || requested === 'epoch-s') return requested;
    return refuse(`a text column for format ${requested}`);
  }
  if (/date|time/.test(type)) {
    if (requested === undefined || requested === 'iso' || requested === 'sqlite-datetime')
      return 'sqlite-datetime';
    return refuse(`an integer column for format ${requested}`);
  }
  if (/text|char|clob/.test(type) && (requested === 'iso' || requested === 'sqlite-datetime'))
    return 'sqlite-datetime';
  return refuse(
    "an INTEGER (epoch), DATETIME or TIMESTAMP column, or a TEXT column with timestampFormat 'iso' or 'sqlite-datetime'",
  );
}

/**
 * The column as compared with a cutoff. SQLite text goes through `strftime`, which reads
 * `CURRENT_TIMESTAMP`'s `YYYY-MM-DD HH:MM:SS` and ISO 8601 (`T`, `Z`, offsets) alike, so one
 * column may hold both layouts; an index on the column is not used then, one on this
 * expression is. Everything else is compared as stored, so its index stays usable.
 */
export function comparableTimestamp(format: TimestampFormat, column: string) {
  return format === 'sqlite-datetime'
    ? sql`strftime('%Y-%m-%d %H:%M:%f', ${sql.ref(column)})`
    : sql.ref(column);
}

const POSTGRES_LOCAL_TIMESTAMP = /^timestamp(\(\d\))? without time zone$/;

/**
 * The column as read for reports. A PostgreSQL `timestamp` without time zone holds UTC wall
 * time (as PartitionManager reads it); `AT TIME ZONE 'UTC'` turns it into the instant, which
 * node-postgres would otherwise read in the process's time zone.
 */
export function readableTimestamp(
  dialect: SqlDialect,
  column: ColumnInfo,
  format: TimestampFormat,
) {
  return dialect === 'postgres' && POSTGRES_LOCAL_TIMESTAMP.test(column.type)
    ? sql`${sql.ref(column.name)} at time zone 'UTC'`
    : comparableTimestamp(format, column.name);
}

/**
 * The value to compare the column with for `date`. PostgreSQL gets ISO 8601 text in UTC: a
 * `timestamptz` reads it as that instant, a `timestamp` or `date` as its UTC wall time (a
 * JavaScript `Date` would be sent in the process's time zone, which a `timestamp` drops).
 */
export function toColumnValue(format: TimestampFormat, date: Date): number | string {
  switch (format) {
    case 'native':
      return date.toISOString();
    case 'epoch-ms':
      return date.getTime();
    case 'epoch-s':
      return Math.floor(date.getTime() / 1000);
    case 'iso':
      return date.toISOString();
    case 'sqlite-datetime':
      // As {@link comparableTimestamp} writes the column: milliseconds, no zone (UTC).
      return date.toISOString().slice(0, 23).replace('T', ' ');
  }
}

/** A value read from the column as a date; `undefined` for NULL or an unreadable value. */
export function fromColumnValue(format: TimestampFormat, value: unknown): Date | undefined {
  if (value === null || value === undefined) return undefined;
  let date: Date;
  if (value instanceof Date) date = value;
  else if (format === 'epoch-ms') date = new Date(Number(value));
  else if (format === 'epoch-s') date = new Date(Number(value) * 1000);
  else if (format === 'sqlite-datetime') date = sqliteDate(String(value));
  else date = new Date(String(value));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** SQLite date text in either layout; without a zone it is UTC, as SQLite reads it. */
function sqliteDate(text: string): Date {
  const iso = text.replace(' ', 'T');
  return new Date(/T.*(Z|[+-]\d{2}:?\d{2})$/.test(iso) || !iso.includes('T') ? iso : `${iso}Z`);
}

/**
 * Checks a stored value (the run checks the oldest and the newest) against the format, so a
 * column of seconds read as milliseconds (which would expire everything), or a value that is
 * no time at all, is refused before anything is deleted.
 */
export function checkStoredValue(
  where: string,
  column: string,
  format: TimestampFormat,
  value: unknown,
): void {
  if (value === null || value === undefined) return;
  const date = fromColumnValue(format, value);
  const suspicious =
    date === undefined || (format === 'epoch-ms' && Math.abs(Number(value)) < 1e11);
  if (!suspicious) return;
  const hint =
    format === 'epoch-ms' ? " (it looks like seconds: set timestampFormat: 'epoch-s')" : '';
  throw new InvalidOptionsError(
    `${where}: expected column "${column}" to hold ${format} timestamps, received the value ${JSON.stringify(String(value))}${hint}`,
    { context: { column, format, value } },
  );
}
