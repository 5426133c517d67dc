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
import {
  BackendFailedError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  SalamaError,
} from '../core/errors.js';
import { rowJsonValue } from '../retention/archive-file.js';
import {
  type AnyKysely,
  describeTable,
  detectDialect,
  type SqlDialect,
  type TableInfo,
} from '../retention/sql.js';
import type { BackupService } from './backup-service.js';
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
interface TableHeader {
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

export interface RestoreDatabaseOptions {
  /** The database source's name in the snapshot. @default 'database' */
  readonly source?: string;
  /** @default every table in the snapshot's source */
  readonly tables?: readonly string[];
  /** What to do with a table that exists: refuse (`E_CONFLICT`, before anything is written), empty it first, or add to it. @default 'fail' */
  readonly ifExists?: 'fail' | 'replace' | 'append';
}

export interface RestoreDatabaseReport {
  readonly snapshot: string;
  readonly tables: readonly { table: string; rows: number; created: boolean }[];
  readonly durationMs: number;
}

/**
 * Restores the tables of a `databaseSource` from a snapshot into `db` (same dialect), in one
 * transaction: all tables or none.
 */
export async function restoreDatabase(
  backup: BackupService,
  snapshotId: string | 'latest',
  // biome-ignore lint/suspicious/noExplicitAny: any schema
  db: Kysely<any>,
  options: RestoreDatabaseOptions = {},
): Promise<RestoreDatabaseReport> {
  const started = Date.now();
  const source = options.source ?? 'database';
  const dialect = detectDialect(db);
  const snapshot = await backup.resolveSnapshot(snapshotId);
  const wanted = options.tables ? new Set(options.tables) : undefined;
  const entries = snapshot.tree.filter(
    (e) =>
      e.type === 'table' &&
      e.path.startsWith(`${source}/`) &&
      (!wanted || wanted.has(e.path.slice(source.length + 1, -'.jsonl'.length))),
  );
  if (entries.length === 0)
    throw new NotFoundError(
      `Snapshot ${snapshot.id.slice(0, 12)} has no tables of source "${source}"`,
      {
        context: { snapshot: snapshot.id, source },
      },
    );
  const ifExists = options.ifExists ?? 'fail';
  const report: { table: string; rows: number; created: boolean }[] = [];
  await backup.repository.loadIndex();
  await db.transaction().execute(async (trx) => {
    for (const entry of entries) {
      const lines = readLines(backup, entry.chunks ?? []);
      const first = await lines.next();
      if (first.done) throw new InvalidArgumentError(`Table backup ${entry.path} is empty`);
      const header = JSON.parse(first.value) as TableHeader;
      if (header.dialect !== dialect)
        throw new InvalidArgumentError(
          `restoreDatabase(): expected a ${header.dialect} database for table ${header.table}, received a ${dialect} one`,
        );
      const existing = await describeTable(trx, dialect, header.table);
      if (existing && ifExists === 'fail')
        throw new ConflictError(
          `restoreDatabase(): table ${header.table} exists; pass ifExists: 'replace' or 'append'`,
          {
            context: { table: header.table },
          },
        );
      const rows = await restoreRows(
        trx,
        header,
        lines,
        !existing ? 'create' : ifExists === 'replace' ? 'replace' : 'append',
      );
      report.push({ table: header.table, rows, created: !existing });
    }
  });
  return { snapshot: snapshot.id, tables: report, durationMs: Date.now() - started };
}

/**
 * Creates or empties the table as asked, then inserts the rows. A database error is
 * `E_BACKEND_FAILED` naming the table, with the driver's error as `cause`.
 */
async function restoreRows(
  db: AnyKysely,
  header: TableHeader,
  lines: AsyncIterable<string>,
  mode: 'create' | 'replace' | 'append',
): Promise<number> {
  const convert = rowConverter(header);
  let rows = 0;
  let batch: Record<string, unknown>[] = [];
  const flush = async () => {
    if (batch.length > 0) await db.insertInto(header.table).values(batch).execute();
    rows += batch.length;
    batch = [];
  };
  try {
    if (mode === 'create') await createTable(db, header);
    else if (mode === 'replace') await db.deleteFrom(header.table).execute();
    for await (const line of lines) {
      batch.push(convert(JSON.parse(line) as Record<string, unknown>));
      if (batch.length >= 500) await flush();
    }
    await flush();
  } catch (error) {
    if (error instanceof SalamaError) throw error;
    throw new BackendFailedError(
      `restoreDatabase(): restoring table ${header.table} failed after ${rows} rows: ${(error as Error).message}`,
      { cause: error, context: { table: header.table, rows } },
    );
  }
  return rows;
}

/**
 * Turns a stored row into insert values. A text value goes in as text cast to its column's
 * type, which parses it; rows of older backups hold the driver's values: binary as base64,
 * json as parsed.
 */
function rowConverter(
  header: TableHeader,
): (row: Record<string, unknown>) => Record<string, unknown> {
  if (header.values === 'text') {
    const types = new Map(header.columns.map((c) => [c.name, sql.raw(c.type || 'text')]));
    return (row) =>
      Object.fromEntries(
        Object.entries(row).map(([column, value]) => [
          column,
          value === null
            ? null
            : sql`cast(cast(${value} as text) as ${types.get(column) ?? sql.raw('text')})`,
        ]),
      );
  }
  const binary = header.columns.filter((c) => /bytea|blob/.test(c.type)).map((c) => c.name);
  const json =
    header.dialect === 'postgres'
      ? header.columns.filter((c) => /^jsonb?$/.test(c.type)).map((c) => c.name)
      : [];
  return (row) => {
    for (const column of binary)
      if (typeof row[column] === 'string')
        row[column] = Buffer.from(row[column] as string, 'base64');
    for (const column of json)
      if (row[column] !== null && row[column] !== undefined)
        row[column] = JSON.stringify(row[column]);
    return row;
  };
}

async function createTable(db: AnyKysely, header: TableHeader) {
  const columns = header.columns.map(
    (c) =>
      sql`${sql.id(c.name)} ${sql.raw(c.type || 'text')}${sql.raw(c.nullable ? '' : ' not null')}`,
  );
  if (header.primaryKey.length > 0)
    columns.push(sql`primary key (${sql.join(header.primaryKey.map((k) => sql.id(k)))})`);
  await sql`create table ${sql.id(header.table)} (${sql.join(columns)})`.execute(db);
}

async function* readLines(
  backup: BackupService,
  chunks: readonly string[],
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for (const id of chunks) {
    rest += decoder.decode(await backup.repository.readChunk(id), { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) yield line;
  }
  rest += decoder.decode();
  if (rest.length > 0) yield rest;
}
