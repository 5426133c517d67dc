/**
 * What retention, partitioning and maintenance need to know about a database behind a Kysely
 * instance: which dialect it speaks, and the columns, types and key of a table. Kysely is the
 * caller's; salama never opens a connection of its own.
 */
import { type Kysely, sql } from 'kysely';
import { describeValue, InvalidOptionsError, NotFoundError } from '../core/errors.js';

/** The SQL dialects salama's data modules speak. PGlite speaks `postgres`. */
export type SqlDialect = 'sqlite' | 'postgres';

// biome-ignore lint/suspicious/noExplicitAny: these modules work on any schema the caller has
export type AnyKysely = Kysely<any>;

/** True when `value` looks like a Kysely instance (any copy of the package). */
export function isKysely(value: unknown): value is AnyKysely {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AnyKysely).getExecutor === 'function' &&
    typeof (value as AnyKysely).selectFrom === 'function'
  );
}

/**
 * The dialect of `db`, read from its adapter. Kysely's own SQLite and PostgreSQL adapters
 * (and dialects built on them: PGlite, libSQL, D1) are recognised; anything else is
 * `E_INVALID_OPTIONS`.
 */
export function detectDialect(db: AnyKysely): SqlDialect {
  const adapter = db.getExecutor().adapter as object;
  for (let proto = Object.getPrototypeOf(adapter); proto; proto = Object.getPrototypeOf(proto)) {
    const name = proto.constructor?.name as string | undefined;
    if (name === 'SqliteAdapter') return 'sqlite';
    if (name === 'PostgresAdapter') return 'postgres';
  }
  throw new InvalidOptionsError(
    `Unsupported database: expected a Kysely instance with a SQLite or PostgreSQL dialect, received one with adapter ${describeValue(adapter)}`,
    { context: { adapter: adapter.constructor?.name } },
  );
}

/** One column as the database declares it. */
export interface ColumnInfo {
  readonly name: string;
  /** The declared type, lower case (`timestamp with time zone`, `integer`, `text`). */
  readonly type: string;
  readonly nullable: boolean;
}

/** A table's columns in declaration order and its primary key. */
export interface TableInfo {
  /** The schema on PostgreSQL (`current_schema()` unless the name was qualified); `main` on SQLite. */
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly ColumnInfo[];
  /** Primary-key columns in key order; empty when the table has none. */
  readonly primaryKey: readonly string[];
  /** True for a PostgreSQL table partitioned by range, list or hash. */
  readonly partitioned: boolean;
}

/** Splits `schema.table` on PostgreSQL; a bare name lives in the current schema. */
export function splitTableName(table: string): { schema: string | undefined; name: string } {
  const dot = table.indexOf('.');
  return dot < 0
    ? { schema: undefined, name: table }
    : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

/** Reads a table's description, or `undefined` when it does not exist. */
export async function describeTable(
  db: AnyKysely,
  dialect: SqlDialect,
  table: string,
): Promise<TableInfo | undefined> {
  return dialect === 'sqlite' ? describeSqlite(db, table) : describePostgres(db, table);
}

/** As {@link describeTable}, but a missing table is `E_NOT_FOUND` naming `what` needed it. */
export async function requireTable(
  db: AnyKysely,
  dialect: SqlDialect,
  table: string,
  what: string,
): Promise<TableInfo> {
  const info = await describeTable(db, dialect, table);
  if (!info)
    throw new NotFoundError(`${what}: table ${JSON.stringify(table)} does not exist`, {
      context: { table },
    });
  return info;
}

async function describeSqlite(db: AnyKysely, table: string): Promise<TableInfo | undefined> {
  const { rows } = await sql<{
    name: string;
    type: string;
    notnull: number;
    pk: number;
  }>`select name, type, "notnull", pk from pragma_table_info(${table})`.execute(db);
  if (rows.length === 0) return undefined;
  return {
    schema: 'main',
    name: table,
    columns: rows.map((r) => ({ name: r.name, type: r.type.toLowerCase(), nullable: !r.notnull })),
    primaryKey: rows
      .filter((r) => r.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((r) => r.name),
    partitioned: false,
  };
}

async function describePostgres(db: AnyKysely, table: string): Promise<TableInfo | undefined> {
  const { schema, name } = splitTableName(table);
  const { rows: found } = await sql<{ oid: string; schema: string; kind: string }>`
    select c.oid::text as oid, n.nspname as schema, c.relkind as kind
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relname = ${name} and c.relkind in ('r', 'p')
      and n.nspname = coalesce(${schema ?? null}::text, current_schema())`.execute(db);
  const relation = found[0];
  if (!relation) return undefined;
  const { rows: columns } = await sql<{ name: string; type: string; nullable: boolean }>`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
           not a.attnotnull as nullable
    from pg_attribute a
    where a.attrelid = ${relation.oid}::oid and a.attnum > 0 and not a.attisdropped
    order by a.attnum`.execute(db);
  const { rows: key } = await sql<{ name: string }>`
    select a.attname as name
    from pg_index i
    join lateral unnest(i.indkey) with ordinality as k(attnum, ord) on true
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
    where i.indrelid = ${relation.oid}::oid and i.indisprimary
    order by k.ord`.execute(db);
  return {
    schema: relation.schema,
    name,
    columns: columns.map((c) => ({
      name: c.name,
      type: c.type.toLowerCase(),
      nullable: c.nullable,
    })),
    primaryKey: key.map((k) => k.name),
    partitioned: relation.kind === 'p',
  };
}

/** Quotes an identifier (`"name"`), doubling embedded quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table reference for raw SQL: `"schema"."name"` or `"name"`. */
export function tableRef(table: string) {
  const { schema, name } = splitTableName(table);
  return schema === undefined ? sql.id(name) : sql.id(schema, name);
}
