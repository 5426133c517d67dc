/**
 * The archive table that expired rows are copied to before they are deleted or their
 * partition dropped: it must hold every column of the source, and is created like the source
 * (columns and defaults, no keys or identity) when missing.
 */
import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import { InvalidOptionsError } from '../core/errors.js';
import { type AnyKysely, describeTable, type SqlDialect, type TableInfo, tableRef } from './sql.js';

/** Whether the archive table exists; throws `E_INVALID_OPTIONS` when it lacks source columns. */
export async function checkArchiveTable(
  db: AnyKysely,
  dialect: SqlDialect,
  label: string,
  source: { readonly name: string; readonly columns: readonly string[] },
  archive: string,
): Promise<{ readonly name: string; readonly create: boolean }> {
  const existing: TableInfo | undefined = await describeTable(db, dialect, archive);
  if (!existing) return { name: archive, create: true };
  const have = new Set(existing.columns.map((c) => c.name));
  const missing = source.columns.filter((c) => !have.has(c));
  if (missing.length > 0)
    throw new InvalidOptionsError(
      `${label}: expected archive table ${archive} to have every column of ${source.name}, received a table missing ${missing.join(', ')}`,
      { context: { archiveTable: archive, missing } },
    );
  return { name: archive, create: false };
}

/** Creates the archive table like `source` unless it exists. */
export async function createArchiveTable(
  db: AnyKysely,
  dialect: SqlDialect,
  source: string,
  archive: string,
): Promise<void> {
  const target = tableRef(archive);
  const from = tableRef(source);
  if (dialect === 'postgres')
    await sql`create table if not exists ${target} (like ${from} including defaults)`.execute(db);
  else await sql`create table if not exists ${target} as select * from ${from} where 0`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: filters are written against the caller's schema
type Filter = (eb: ExpressionBuilder<any, any>) => Expression<SqlBool>;

/** Copies the rows of `from` that match every filter given into `archive`; returns how many. */
export async function copyToArchive(
  trx: AnyKysely,
  from: string,
  archive: string,
  columns: readonly string[],
  where: Filter | undefined,
  rule?: Filter,
): Promise<number> {
  const result = await trx
    .insertInto(archive)
    .columns([...columns])
    .expression(
      trx
        .selectFrom(from)
        .select([...columns])
        .$if(where !== undefined, (qb) => qb.where(where as Filter))
        .$if(rule !== undefined, (qb) => qb.where(rule as Filter)),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n);
}
