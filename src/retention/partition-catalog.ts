/**
 * What PostgreSQL's catalog says about a partitioned table: whether it is partitioned the way
 * {@link PartitionManager} needs, its partitions with their bounds, and which intervals the
 * rows waiting in its default partition belong to. Reads only; nothing here changes the table.
 */
import { sql } from 'kysely';
import { InvalidOptionsError } from '../core/errors.js';
import { LONGEST_SUFFIX_LENGTH, type PartitionInterval } from './partition-bounds.js';
import { type AnyKysely, quoteIdent, requireTable } from './sql.js';

const TIMESTAMP_TYPE = /^timestamp(\(\d\))? with(out)? time zone$/;
const MAX_IDENTIFIER_BYTES = 63;

/** A table checked to be range-partitioned on a timestamp column. */
export interface PartitionedTable {
  readonly schema: string;
  readonly name: string;
  readonly column: string;
  /** `timestamptz` rather than `timestamp`. */
  readonly withTimeZone: boolean;
  /** The columns a row is copied with: every column except generated ones. */
  readonly copyColumns: readonly string[];
}

/** A partition as the catalog records it; bounds in epoch ms, ±Infinity for MIN/MAXVALUE. */
export interface ExistingPartition {
  readonly schema: string;
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

/** A table's partitions, ordered by lower bound, and its default partition if it has one. */
export interface PartitionLayout {
  readonly partitions: readonly ExistingPartition[];
  readonly defaultPartition: { readonly schema: string; readonly name: string } | undefined;
}

/** Rows of the default partition in one interval, by the interval's start (epoch ms). */
export interface DefaultRows {
  readonly from: number;
  readonly rows: number;
}

/**
 * Checks that `table` exists (`E_NOT_FOUND` otherwise), is partitioned `BY RANGE (column)` and
 * that `column` is a timestamp (`E_INVALID_OPTIONS` saying what was expected and found).
 */
export async function resolvePartitionedTable(
  db: AnyKysely,
  table: string,
  column: string,
): Promise<PartitionedTable> {
  const where = 'PartitionManager';
  const info = await requireTable(db, 'postgres', table, where);
  const qualified = `${quoteIdent(info.schema)}.${quoteIdent(info.name)}`;
  const { rows } = await sql<{ key: string | null; expected: string }>`
    select pg_get_partkeydef(c.oid) as key, 'RANGE (' || quote_ident(${column}) || ')' as expected
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${info.schema} and c.relname = ${info.name}`.execute(db);
  const key = rows[0]?.key ?? null;
  const expected = rows[0]?.expected ?? `RANGE (${quoteIdent(column)})`;
  const refuse = (found: string, context: Record<string, unknown> = {}): never => {
    throw new InvalidOptionsError(
      `${where}: expected table ${qualified} to be partitioned by ${expected} on a timestamp column, found ${found}`,
      { context: { table, column, ...context } },
    );
  };
  if (!info.partitioned || key === null) return refuse('a table that is not partitioned');
  if (key !== expected) return refuse(`one partitioned by ${key}`, { key });
  const type = info.columns.find((c) => c.name === column)?.type ?? '(none)';
  if (!TIMESTAMP_TYPE.test(type)) return refuse(`column "${column}" of type ${type}`, { type });
  if (Buffer.byteLength(info.name) + LONGEST_SUFFIX_LENGTH > MAX_IDENTIFIER_BYTES) {
    throw new InvalidOptionsError(
      `${where}: expected a table name of at most ${MAX_IDENTIFIER_BYTES - LONGEST_SUFFIX_LENGTH} bytes, so partition names fit PostgreSQL's ${MAX_IDENTIFIER_BYTES}-byte identifiers; received ${JSON.stringify(info.name)}`,
      { context: { table } },
    );
  }
  const { rows: copy } = await sql<{ name: string }>`
    select a.attname as name
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${info.schema} and c.relname = ${info.name}
      and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
    order by a.attnum`.execute(db);
  return {
    schema: info.schema,
    name: info.name,
    column,
    withTimeZone: type.endsWith('with time zone'),
    copyColumns: copy.map((c) => c.name),
  };
}

/**
 * Reads the partitions of `table` with their bounds. `pg_get_expr` prints bounds in the
 * session's TimeZone and DateStyle, so both are pinned for the reading transaction, where the
 * printed bound is cast back to an instant.
 */
export async function readPartitions(
  db: AnyKysely,
  table: PartitionedTable,
): Promise<PartitionLayout> {
  const rows = await db.transaction().execute(async (trx) => {
    await sql`select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)`.execute(
      trx,
    );
    const { rows } = await sql<{
      schema: string;
      name: string;
      isDefault: boolean;
      from: number | null;
      to: number | null;
    }>`
      select n.nspname as schema, c.relname as name, b.bound = 'DEFAULT' as "isDefault",
        case when m.parts[1] = 'MINVALUE' then '-infinity'::float8
             else extract(epoch from btrim(m.parts[1], '''')::timestamptz)::float8 * 1000 end as "from",
        case when m.parts[2] = 'MAXVALUE' then 'infinity'::float8
             else extract(epoch from btrim(m.parts[2], '''')::timestamptz)::float8 * 1000 end as "to"
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_namespace n on n.oid = c.relnamespace
      cross join lateral (select pg_get_expr(c.relpartbound, c.oid) as bound) b
      -- Backslashes doubled: the sql tag receives the template's cooked strings.
      cross join lateral (
        select regexp_match(b.bound, '^FOR VALUES FROM \\((.*)\\) TO \\((.*)\\)$') as parts) m
      where i.inhparent = (quote_ident(${table.schema}) || '.' || quote_ident(${table.name}))::regclass`.execute(
      trx,
    );
    return rows;
  });
  const partitions: ExistingPartition[] = [];
  let defaultPartition: PartitionLayout['defaultPartition'];
  for (const row of rows) {
    if (row.isDefault) defaultPartition = { schema: row.schema, name: row.name };
    else if (row.from !== null && row.to !== null)
      partitions.push({ schema: row.schema, name: row.name, from: row.from, to: row.to });
  }
  partitions.sort((a, b) => a.from - b.from);
  return { partitions, defaultPartition };
}

/**
 * Counts the rows of the default partition per interval, computed in UTC. Rows whose key is
 * NULL or ±infinity belong to no interval and are left where they are.
 */
export async function readDefaultRows(
  db: AnyKysely,
  table: PartitionedTable,
  defaultPartition: { readonly schema: string; readonly name: string },
  interval: PartitionInterval,
): Promise<DefaultRows[]> {
  const column = sql.id(table.column);
  // extract(epoch) of a timestamp without time zone reads it as UTC, whatever the session says.
  const utc = table.withTimeZone ? sql`${column} at time zone 'UTC'` : column;
  const { rows } = await sql<DefaultRows>`
    select extract(epoch from date_trunc(${interval}, ${utc}))::float8 * 1000 as "from",
           count(*)::float8 as rows
    from ${sql.id(defaultPartition.schema, defaultPartition.name)}
    where ${column} is not null
    group by 1 order by 1`.execute(db);
  return rows.filter((r) => Number.isFinite(r.from));
}
