/**
 * One table policy: checking it against the database, counting what it would expire, and
 * expiring it in key-range batches.
 *
 * A batch is the next `batchSize` expired rows in key order: one statement finds the batch's
 * last key, then the rows between the previous batch and that key are deleted, re-checking
 * age and filter, so no statement scans or locks more than a batch. With an archive, a batch
 * is one transaction: the rows to archive are read (and locked, on PostgreSQL), copied to the
 * archive table or written as one archive object, and deleted together with every other
 * expired row of the range. A row to archive that appears in the range after it was read is
 * kept for the next run: only rows already archived are ever deleted. Every batch's
 * transaction first checks that the policy's lease is still this process's and holds it until
 * the batch commits (see `retention-state.ts`).
 */
import { randomUUID } from 'node:crypto';
import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { BlobStore } from '../blob/blob-store.js';
import { InvalidOptionsError, SalamaError } from '../core/errors.js';
import { encodeArchive } from './archive-file.js';
import { checkArchiveTable, copyToArchive, createArchiveTable } from './archive-table.js';
import type { ParsedTablePolicy, TimestampFormat } from './retention-policy.js';
import type { RetentionState } from './retention-state.js';
import { type AnyKysely, requireTable, type SqlDialect, type TableInfo } from './sql.js';
import {
  checkStoredValue,
  comparableTimestamp,
  fromColumnValue,
  readableTimestamp,
  resolveTimestampFormat,
  toColumnValue,
} from './timestamps.js';

// biome-ignore lint/suspicious/noExplicitAny: expressions over the caller's schema
type Eb = ExpressionBuilder<any, any>;

/** A table policy checked against the database for one run. */
export interface PreparedTablePolicy {
  readonly policy: ParsedTablePolicy;
  readonly dialect: SqlDialect;
  readonly table: TableInfo;
  readonly keyColumn: string;
  readonly format: TimestampFormat;
  readonly cutoff: Date;
  readonly batchSize: number;
  /** The archive table and whether it must be created; absent for blob or no archive. */
  readonly archiveTable?: { readonly name: string; readonly create: boolean };
  readonly archiveStore?: { readonly store: BlobStore; readonly prefix: string };
  /** What the policy matches now. */
  readonly counts: {
    readonly total: number;
    readonly expired: number;
    readonly toArchive: number;
    readonly oldest: Date | undefined;
    readonly newest: Date | undefined;
  };
}

const where = (policy: ParsedTablePolicy) => `Retention policy "${policy.name}"`;

/**
 * Checks the policy against the database and counts what it matches. Throws before anything
 * is deleted: `E_NOT_FOUND` for a missing table, `E_INVALID_OPTIONS` for a missing or
 * non-timestamp column, a filter the database refuses, or a run that would empty the table
 * without `allowAll`.
 */
export async function prepareTablePolicy(
  db: AnyKysely,
  dialect: SqlDialect,
  policy: ParsedTablePolicy,
  now: number,
  defaultBatchSize: number,
): Promise<PreparedTablePolicy> {
  const label = where(policy);
  const table = await requireTable(db, dialect, policy.table, label);
  const column = (name: string, role: string) => {
    const found = table.columns.find((c) => c.name === name);
    if (!found)
      throw new InvalidOptionsError(
        `${label}: expected ${role} "${name}" to be a column of ${policy.table}, received columns ${table.columns.map((c) => c.name).join(', ')}`,
        { context: { policy: policy.name, table: policy.table, column: name } },
      );
    return found;
  };
  const timestampColumn = column(policy.timestampColumn, 'timestampColumn');
  const format = resolveTimestampFormat(label, dialect, timestampColumn, policy.timestampFormat);
  const keyColumn = resolveKeyColumn(label, dialect, table, policy.keyColumn);
  if (keyColumn !== 'rowid') column(keyColumn, 'keyColumn');

  const archiveTable = await prepareArchiveTable(db, dialect, policy, table);
  const to = policy.archive?.to;
  const archiveStore = to && 'store' in to ? { store: to.store, prefix: to.prefix } : undefined;

  const cutoff = new Date(now - policy.maxAge);
  const read = readableTimestamp(dialect, timestampColumn, format);
  const counts = await countExpired(db, policy, format, read, cutoff).catch((error: unknown) => {
    if (error instanceof SalamaError) throw error;
    throw new InvalidOptionsError(
      `${label}: the database refused the policy's query (check the where filters): ${(error as Error).message}`,
      { cause: error, context: { policy: policy.name } },
    );
  });
  if (counts.total > 0 && counts.expired === counts.total && !policy.allowAll)
    throw new InvalidOptionsError(
      `${label}: expected a run to leave some rows of ${policy.table}, received a policy that matches all ${counts.total} rows; pass allowAll: true to empty the table`,
      { context: { policy: policy.name, table: policy.table, rows: counts.total } },
    );
  return {
    policy,
    dialect,
    table,
    keyColumn,
    format,
    cutoff,
    batchSize: policy.batchSize ?? defaultBatchSize,
    archiveTable,
    archiveStore,
    counts,
  };
}

function resolveKeyColumn(
  label: string,
  dialect: SqlDialect,
  table: TableInfo,
  requested: string | undefined,
): string {
  if (requested !== undefined) return requested;
  const [only, ...rest] = table.primaryKey;
  if (only !== undefined && rest.length === 0) return only;
  if (dialect === 'sqlite') return 'rowid';
  throw new InvalidOptionsError(
    `${label}: expected ${table.name} to have a single-column primary key or the policy to name a keyColumn, received primary key (${table.primaryKey.join(', ') || 'none'})`,
    { context: { table: table.name, primaryKey: table.primaryKey } },
  );
}

async function prepareArchiveTable(
  db: AnyKysely,
  dialect: SqlDialect,
  policy: ParsedTablePolicy,
  source: TableInfo,
): Promise<PreparedTablePolicy['archiveTable']> {
  const to = policy.archive?.to;
  if (!to || !('table' in to)) return undefined;
  const columns = source.columns.map((c) => c.name);
  return checkArchiveTable(db, dialect, where(policy), { name: policy.table, columns }, to.table);
}

function expiredFilter(policy: ParsedTablePolicy, format: TimestampFormat, cutoff: Date) {
  const value = toColumnValue(format, cutoff);
  return (eb: Eb): Expression<SqlBool> => {
    const parts: Expression<SqlBool>[] = [
      eb(comparableTimestamp(format, policy.timestampColumn), '<', value),
    ];
    if (policy.where) parts.push(policy.where(eb));
    return eb.and(parts);
  };
}

/** What the policy matches, after checking the column's oldest and newest stored values. */
/**
 * SQLite text timestamps are compared through `strftime`, which reads neither an offset
 * without a colon (`+0200`) nor a lowercase `t`/`z`: such rows would silently never expire, so
 * the run is refused, naming one of them.
 */
async function checkSqliteReadable(db: AnyKysely, policy: ParsedTablePolicy): Promise<void> {
  const stored = sql.ref(policy.timestampColumn);
  const unreadable = sql<boolean>`${stored} is not null and ${comparableTimestamp('sqlite-datetime', policy.timestampColumn)} is null`;
  const found = await db
    .selectFrom(policy.table)
    .select([sql<number | string>`count(*)`.as('n'), sql`min(${stored})`.as('example')])
    .where(unreadable)
    .executeTakeFirstOrThrow();
  if (Number(found.n) === 0) return;
  throw new InvalidOptionsError(
    `${where(policy)}: expected column "${policy.timestampColumn}" to hold times SQLite can read, received ${found.n} it cannot (such as ${JSON.stringify(String(found.example))}); they would never expire. Write offsets as +HH:MM`,
    { context: { column: policy.timestampColumn, rows: Number(found.n), example: found.example } },
  );
}

async function countExpired(
  db: AnyKysely,
  policy: ParsedTablePolicy,
  format: TimestampFormat,
  ts: Expression<unknown>,
  cutoff: Date,
) {
  const stored = sql.ref(policy.timestampColumn);
  const all = await db
    .selectFrom(policy.table)
    .select([
      sql<number | string>`count(*)`.as('n'),
      sql`min(${stored})`.as('oldest'),
      sql`max(${stored})`.as('newest'),
    ])
    .executeTakeFirstOrThrow();
  for (const value of [all.oldest, all.newest])
    checkStoredValue(where(policy), policy.timestampColumn, format, value);
  if (format === 'sqlite-datetime') await checkSqliteReadable(db, policy);
  const expired = expiredFilter(policy, format, cutoff);
  const matched = await db
    .selectFrom(policy.table)
    .select([
      sql<number | string>`count(*)`.as('n'),
      sql`min(${ts})`.as('oldest'),
      sql`max(${ts})`.as('newest'),
    ])
    .where(expired)
    .executeTakeFirstOrThrow();
  const rule = policy.archive?.where;
  let toArchive = Number(matched.n);
  if (policy.archive && rule) {
    const archived = await db
      .selectFrom(policy.table)
      .select(sql<number | string>`count(*)`.as('n'))
      .where(expired)
      .where(rule)
      .executeTakeFirstOrThrow();
    toArchive = Number(archived.n);
  } else if (!policy.archive) toArchive = 0;
  return {
    total: Number(all.n),
    expired: Number(matched.n),
    toArchive,
    oldest: fromColumnValue(format, matched.oldest),
    newest: fromColumnValue(format, matched.newest),
  };
}

/** Progress of one table policy's run. */
export interface TableBatchProgress {
  readonly batches: number;
  readonly deleted: number;
  readonly archived: number;
}

/** What the batch loop needs from the manager between batches. */
export interface BatchHooks {
  /** After each batch: report progress; unless `final`, pause and renew the lease. Throws to stop. */
  afterBatch(progress: TableBatchProgress, final: boolean): Promise<void>;
  readonly state: RetentionState;
  now(): number;
}

/** Expires the prepared policy's rows batch by batch. */
export async function expireTable(
  db: AnyKysely,
  prepared: PreparedTablePolicy,
  hooks: BatchHooks,
): Promise<TableBatchProgress> {
  const { policy, keyColumn, batchSize } = prepared;
  if (prepared.archiveTable?.create)
    await createArchiveTable(db, prepared.dialect, policy.table, prepared.archiveTable.name);
  if (prepared.archiveStore) await hooks.state.recover(policy.name, prepared.archiveStore.store);
  const expired = expiredFilter(policy, prepared.format, prepared.cutoff);
  const progress = { batches: 0, deleted: 0, archived: 0 };
  let lower: unknown;
  for (;;) {
    const boundary = await db
      .selectFrom(policy.table)
      .select(sql.ref(keyColumn).as('k'))
      .where(expired)
      .$if(lower !== undefined, (qb) => qb.where(keyColumn, '>', lower))
      .orderBy(keyColumn)
      .limit(1)
      .offset(batchSize - 1)
      .executeTakeFirst();
    const upper: unknown = boundary?.k;
    const inRange = (eb: Eb): Expression<SqlBool> => {
      const parts: Expression<SqlBool>[] = [expired(eb)];
      if (lower !== undefined) parts.push(eb(keyColumn, '>', lower));
      if (upper !== undefined) parts.push(eb(keyColumn, '<=', upper));
      return eb.and(parts);
    };
    const done = await expireRange(db, prepared, inRange, hooks);
    progress.batches++;
    progress.deleted += done.deleted;
    progress.archived += done.archived;
    await hooks.afterBatch({ ...progress }, upper === undefined);
    if (upper === undefined) return progress;
    lower = upper;
  }
}

async function expireRange(
  db: AnyKysely,
  prepared: PreparedTablePolicy,
  inRange: (eb: Eb) => Expression<SqlBool>,
  hooks: BatchHooks,
): Promise<{ deleted: number; archived: number }> {
  const { policy } = prepared;
  if (!policy.archive)
    return writeTransaction(db, prepared.dialect, async (trx) => {
      await hooks.state.hold(trx, policy.name, hooks.now());
      const result = await trx.deleteFrom(policy.table).where(inRange).executeTakeFirst();
      return { deleted: Number(result.numDeletedRows), archived: 0 };
    });
  const journal = prepared.archiveStore
    ? { id: randomUUID(), blobKey: archiveKey(prepared, hooks.now()) }
    : undefined;
  if (journal) await hooks.state.begin({ ...journal, policy: policy.name }, hooks.now());
  return writeTransaction(db, prepared.dialect, async (trx) => {
    await hooks.state.hold(trx, policy.name, hooks.now());
    const rule = policy.archive?.where;
    const selected = trx
      .selectFrom(policy.table)
      .where(inRange)
      .$if(rule !== undefined, (qb) => qb.where(rule as (eb: Eb) => Expression<SqlBool>))
      .orderBy(prepared.keyColumn)
      .$if(prepared.dialect === 'postgres', (qb) => qb.forUpdate());
    const key = prepared.keyColumn;
    let keys: unknown[];
    if (journal && prepared.archiveStore) {
      const rows = await selected
        .selectAll()
        .$if(key === 'rowid', (qb) => qb.select('rowid'))
        .execute();
      keys = rows.map((r) => r[key]);
      if (rows.length > 0) {
        const { store } = prepared.archiveStore;
        const archivedRows = key === 'rowid' ? rows.map(({ rowid: _, ...rest }) => rest) : rows;
        await store.put(journal.blobKey, await encodeArchive(archivedRows), { ifNotExists: true });
        await hooks.state.commit(trx, journal.id, rows.length);
      } else {
        await hooks.state.discard(trx, journal.id);
      }
    } else {
      keys = (await selected.select(sql.ref(key).as('k')).execute()).map((r) => r.k);
      if (keys.length > 0) {
        const columns = prepared.table.columns.map((c) => c.name);
        const archive = prepared.archiveTable?.name as string;
        await copyToArchive(trx, policy.table, archive, columns, (eb) => eb(key, 'in', keys));
      }
    }
    const result = await trx
      .deleteFrom(policy.table)
      .where(inRange)
      .where((eb) => {
        if (!rule) return keys.length > 0 ? eb(key, 'in', keys) : eb.lit(false);
        const notArchivable = sql<SqlBool>`not coalesce(${rule(eb)}, ${sql.lit(false)})`;
        return keys.length > 0 ? eb.or([notArchivable, eb(key, 'in', keys)]) : notArchivable;
      })
      .executeTakeFirst();
    return { deleted: Number(result.numDeletedRows), archived: keys.length };
  });
}

function archiveKey(prepared: PreparedTablePolicy, now: number): string {
  const stamp = new Date(now).toISOString();
  const day = stamp.slice(0, 10);
  const time = stamp.slice(11, 19).replaceAll(':', '');
  return `${prepared.archiveStore?.prefix ?? ''}${prepared.policy.name}/${day}/${time}-${randomUUID()}.jsonl.gz`;
}

/**
 * Runs `work` in one write transaction. SQLite's transaction starts with `BEGIN IMMEDIATE`,
 * so it holds the write lock from the start instead of failing to upgrade a read snapshot
 * when another connection wrote meanwhile. PostgreSQL's commits without waiting for the WAL
 * flush (`synchronous_commit = off` for this transaction only): a batch is atomic either way,
 * and a crash can only lose whole batches, which the next run does again; waiting for the
 * flush made single commits take up to 200 ms while a checkpoint was writing.
 */
async function writeTransaction<T>(
  db: AnyKysely,
  dialect: SqlDialect,
  work: (trx: AnyKysely) => Promise<T>,
): Promise<T> {
  if (dialect === 'postgres')
    return db.transaction().execute(async (trx) => {
      await sql`select set_config('synchronous_commit', 'off', true)`.execute(trx);
      return work(trx);
    });
  return db.connection().execute(async (connection) => {
    await sql`begin immediate`.execute(connection);
    try {
      const result = await work(connection);
      await sql`commit`.execute(connection);
      return result;
    } catch (error) {
      await sql`rollback`.execute(connection).catch(() => {});
      throw error;
    }
  });
}
