/**
 * `restoreDatabase`: the tables a `databaseSource` stored in a snapshot, written back into a
 * database of the same dialect in one transaction. PostgreSQL values stored as text are cast
 * back to their column's type; older snapshots' JSON values are converted per column.
 */
import { type Kysely, sql } from 'kysely';
import {
  BackendFailedError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  SalamaError,
} from '../core/errors.js';
import { type AnyKysely, describeTable, detectDialect } from '../retention/sql.js';
import type { BackupService } from './backup-service.js';
import type { TableHeader } from './database-source.js';

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
 * transaction: all tables or none. Reads like `BackupService.restore()`: after the service's
 * running operations, under a shared repository lock.
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
  return backup.readSnapshot(snapshotId, async (snapshot) => {
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
  });
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
