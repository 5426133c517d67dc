/**
 * Converting between JavaScript dates and the ways a timestamp column stores time, so a
 * cutoff compares correctly with the column (an index on it stays usable) and the oldest and
 * newest values read back as dates in reports.
 */
import { InvalidOptionsError } from '../core/errors.js';
import type { TimestampFormat } from './retention-policy.js';
import type { ColumnInfo, SqlDialect } from './sql.js';

const POSTGRES_TIME_TYPES = /^(timestamp|date)\b/;

/**
 * The storage format of `column`: the one asked for, else the one its declared type implies.
 * A column whose type cannot hold time is `E_INVALID_OPTIONS` naming the type found.
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
    if (requested === undefined) return 'iso';
    if (requested === 'iso' || requested === 'sqlite-datetime') return requested;
    return refuse(`an integer column for format ${requested}`);
  }
  if (/text|char|clob/.test(type) && (requested === 'iso' || requested === 'sqlite-datetime'))
    return requested;
  return refuse(
    "an INTEGER (epoch), DATETIME or TIMESTAMP column, or a TEXT column with timestampFormat 'iso' or 'sqlite-datetime'",
  );
}

/** The value to compare the column with for `date`. */
export function toColumnValue(format: TimestampFormat, date: Date): Date | number | string {
  switch (format) {
    case 'native':
      return date;
    case 'epoch-ms':
      return date.getTime();
    case 'epoch-s':
      return Math.floor(date.getTime() / 1000);
    case 'iso':
      return date.toISOString();
    case 'sqlite-datetime':
      return date.toISOString().slice(0, 19).replace('T', ' ');
  }
}

/** A value read from the column as a date; `undefined` for NULL or an unreadable value. */
export function fromColumnValue(format: TimestampFormat, value: unknown): Date | undefined {
  if (value === null || value === undefined) return undefined;
  let date: Date;
  if (value instanceof Date) date = value;
  else if (format === 'epoch-ms') date = new Date(Number(value));
  else if (format === 'epoch-s') date = new Date(Number(value) * 1000);
  else if (format === 'sqlite-datetime') date = new Date(`${String(value).replace(' ', 'T')}Z`);
  else date = new Date(String(value));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Checks the newest stored value against the format, so a column of seconds read as
 * milliseconds (which would expire everything) is refused before anything is deleted.
 */
export function checkStoredValue(
  where: string,
  column: string,
  format: TimestampFormat,
  newest: unknown,
): void {
  if (newest === null || newest === undefined) return;
  const date = fromColumnValue(format, newest);
  const suspicious =
    date === undefined || (format === 'epoch-ms' && Math.abs(Number(newest)) < 1e11);
  if (!suspicious) return;
  const hint =
    format === 'epoch-ms' ? " (it looks like seconds: set timestampFormat: 'epoch-s')" : '';
  throw new InvalidOptionsError(
    `${where}: expected column "${column}" to hold ${format} timestamps, received the value ${JSON.stringify(String(newest))}${hint}`,
    { context: { column, format, value: newest } },
  );
}
