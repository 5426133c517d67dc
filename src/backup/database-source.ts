/**
 * Databases as backup sources, through the application's Kysely instance: one consistent
 * snapshot (a `REPEATABLE READ READ ONLY` transaction on PostgreSQL, a read transaction on
 * SQLite, which WAL mode keeps stable while others write), read table by table in primary-key
 * order, each table stored as JSON lines: a first line describing the table (columns, types,
 * primary key), then one line per row. `restoreDatabase` reads them back into a database of
 * the same dialect.
 *
 * On PostgreSQL every value is read in its text form (`col::text`) and written back as that
 * text, which the column's type parses: timestamps keep their microseconds and time zone,
 * json keeps arrays and strings, numerics their digits; no JavaScript type stands between.
 * Key pagination compares in SQL against the key's text cast back to its type.
 */
import { type Kysely, sql } from 'kysely';
import { NotFoundError } from '../core/errors.js';
import { rowJsonValue } from '../retention/archive-file.js';
import {
  type AnyKysely,
  describeTable,
  detectDialect,
  type SqlDialect,
  type TableInfo,
} from '../retention/sql.js';
import { type BackupSource, checkSourceName, type SourceEntry } from './sources.js';

export interface DatabaseSourceOptions {
  /** @default 'database' */
  readonly name?: string;
  /** @default every user table (SQLite) or every table of the current schema (PostgreSQL) */
  readonly tables?: readonly string[];
  /** Rows per query. @default 5000 */
  readonly batchSize?: number;
}

/** The first line of a table's backup. */
export interface TableHeader {
  readonly table: string;
  readonly dialect: SqlDialect;
  readonly columns: TableInfo['columns'];
  readonly primaryKey: TableInfo['primaryKey'];
  /** `'text'`: every value is the column's text form (PostgreSQL); else JSON of the driver's values. */
  readonly values?: 'text';
}

const encoder = new TextEncoder();

/** A consistent snapshot of a database's tables. */
// biome-ignore lint/suspicious/noExplicitAny: any schema
export function databaseSource(db: Kysely<any>, options: DatabaseSourceOptions = {}): BackupSource {
  const name = options.name ?? 'database';
  checkSourceName(name);
  const dialect = detectDialect(db);
  const batchSize = options.batchSize ?? 5000;
  return {
    name,
    async *entries() {
      const held = await holdConnection(db);
      try {
        const conn = held.connection;
        await sql
          .raw(dialect === 'postgres' ? 'begin isolation level repeatable read read only' : 'begin')
          .execute(conn);
        const tables = options.tables ?? (await listTables(conn, dialect));
        const infos: TableInfo[] = [];
        for (const table of tables) {
          const info = await describeTable(conn, dialect, table);
          if (!info)
            throw new NotFoundError(
              `databaseSource "${name}": table ${JSON.stringify(table)} does not exist`,
              {
                context: { table },
              },
            );
          infos.push(info);
        }
        yield { path: '', type: 'dir' } satisfies SourceEntry;
        for (const info of infos)
          yield {
            path: `${info.name}.jsonl`,
            type: 'table',
            open: () => tableLines(conn, dialect, info, batchSize),
          } satisfies SourceEntry;
        await sql`commit`.execute(conn);
      } finally {
        await held.release();
      }
    },
  };
}

async function listTables(db: AnyKysely, dialect: SqlDialect): Promise<string[]> {
  const { rows } =
    dialect === 'sqlite'
      ? await sql<{
          name: string;
        }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(
          db,
        )
      : await sql<{
          name: string;
        }>`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition order by c.relname`.execute(
          db,
        );
  return rows.map((r) => r.name);
}

async function* tableLines(
  db: AnyKysely,
  dialect: SqlDialect,
  info: TableInfo,
  batchSize: number,
): AsyncIterable<Uint8Array> {
  const header: TableHeader = {
    table: info.name,
    dialect,
    columns: info.columns,
    primaryKey: info.primaryKey,
    ...(dialect === 'postgres' ? { values: 'text' as const } : {}),
  };
  yield encoder.encode(`${JSON.stringify(header)}\n`);
  const key = info.primaryKey.length === 1 ? (info.primaryKey[0] as string) : undefined;
  if (dialect === 'postgres') {
    yield* postgresLines(db, info, key, batchSize);
    return;
  }
  const order = key ?? 'rowid';
  let after: unknown;
  for (let offset = 0; ; offset += batchSize) {
    let query = db.selectFrom(info.name).selectAll();
    if (key !== undefined) {
      if (after !== undefined) query = query.where(key, '>', after);
      query = query.orderBy(key).limit(batchSize);
    } else {
      // No single-column key: offset pagination, stable inside the snapshot.
      query = query.orderBy(sql.ref(order)).limit(batchSize).offset(offset);
    }
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield encoder.encode(`${rows.map((r) => JSON.stringify(r, rowJsonValue)).join('\n')}\n`);
    if (key !== undefined) after = rows.at(-1)?.[key];
    if (rows.length < batchSize) return;
  }
}

/** A PostgreSQL table's rows as JSON lines of text values, a page at a time. */
async function* postgresLines(
  db: AnyKysely,
  info: TableInfo,
  key: string | undefined,
  batchSize: number,
): AsyncIterable<Uint8Array> {
  const table = sql.id(info.schema, info.name);
  const columns = sql.join(
    info.columns.map((c) => sql`${sql.id(c.name)}::text as ${sql.id(c.name)}`),
  );
  const keyType = info.columns.find((c) => c.name === key)?.type;
  // Qualified: `order by` a bare name would sort by the text alias of the select list.
  const keyRef = sql.id(info.schema, info.name, key ?? '');
  let after: string | undefined;
  for (let offset = 0; ; offset += batchSize) {
    const page =
      key === undefined || keyType === undefined
        ? sql`select ${columns} from ${table} order by ctid limit ${batchSize} offset ${offset}`
        : after === undefined
          ? sql`select ${columns} from ${table} order by ${keyRef} limit ${batchSize}`
          : sql`select ${columns} from ${table} where ${keyRef} > cast(${after} as ${sql.raw(keyType)})
              order by ${keyRef} limit ${batchSize}`;
    const { rows } = await page.execute(db);
    if (rows.length === 0) return;
    yield encoder.encode(`${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    if (key !== undefined) after = (rows.at(-1) as Record<string, string>)[key];
    if (rows.length < batchSize) return;
  }
}

/** Keeps one connection of `db` until released, so a transaction spans many generator steps. */
async function holdConnection(
  db: AnyKysely,
): Promise<{ connection: AnyKysely; release: () => Promise<void> }> {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let take: (connection: AnyKysely) => void = () => {};
  const taken = new Promise<AnyKysely>((resolve) => {
    take = resolve;
  });
  const done = db.connection().execute(async (connection) => {
    take(connection);
    await released;
  });
  const connection = await Promise.race([
    taken,
    done.then(() => Promise.reject(new Error('connection ended'))),
  ]);
  return {
    connection,
    async release() {
      release();
      await done;
    },
  };
}
