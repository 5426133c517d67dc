/**
 * The statements that change a partitioned table, each in its own short transaction with a
 * local `lock_timeout` (so it neither waits forever nor leaks the setting to a pooled
 * connection), retried while the table is locked, and the advisory lock that keeps two
 * processes from maintaining the same table at once.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Expression,
  type ExpressionBuilder,
  type SqlBool,
  sql,
  type Transaction,
} from 'kysely';
import { AbortedError, BackendFailedError, LockedError, SalamaError } from '../core/errors.js';
import { boundLiteral, type PartitionBucket } from './partition-bounds.js';
import type { PartitionedTable } from './partition-catalog.js';
import { type AnyKysely, tableRef } from './sql.js';

// biome-ignore lint/suspicious/noExplicitAny: statements run on the caller's schema
type AnyTransaction = Transaction<any>;

/** lock_not_available (our lock_timeout fired) and deadlock_detected: worth another try. */
const RETRY_STATES = new Set(['55P03', '40P01']);
/** SQLSTATE classes after which the session cannot be trusted: connection, resources, shutdown. */
const FATAL_CLASSES = new Set(['08', '53', '57', '58', 'XX']);

/** The advisory-lock key of a table: 64 bits of a hash of its qualified name. */
export function maintenanceLockKey(table: {
  readonly schema: string;
  readonly name: string;
}): string {
  const digest = createHash('sha256')
    .update(`salama.PartitionManager:${table.schema}.${table.name}`)
    .digest();
  return digest.readBigInt64BE(0).toString();
}

/** `pg_try_advisory_lock`: true when this session now holds the table's maintenance lock. */
export async function tryMaintenanceLock(db: AnyKysely, key: string): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`
    select pg_try_advisory_lock(${key}::bigint) as locked`.execute(db);
  return rows[0]?.locked === true;
}

/** Releases the lock taken by {@link tryMaintenanceLock} on the same session. */
export async function releaseMaintenanceLock(db: AnyKysely, key: string): Promise<void> {
  await sql`select pg_advisory_unlock(${key}::bigint)`.execute(db);
}

/** How each partition-changing statement waits for locks. */
export interface LockPolicy {
  readonly lockTimeoutMs: number;
  readonly retries: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Runs `work` in a transaction whose `lock_timeout` is `lockTimeoutMs`, again after a pause
 * while it fails with `lock_not_available`, at most `retries` more times. The pauses use real
 * time: they wait for another session's lock, which no injected clock can move.
 * A failure of this one statement becomes a {@link SalamaError} to report; a failure that
 * leaves the session unusable (connection lost, server shutting down) is thrown.
 */
export async function withLockRetry<T>(
  db: AnyKysely,
  policy: LockPolicy,
  what: string,
  work: (trx: AnyTransaction, last: boolean) => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: SalamaError }> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(policy.signal);
    try {
      const value = await db.transaction().execute(async (trx) => {
        // The transaction changes one partition atomically; not waiting for its WAL flush at
        // commit risks losing only the whole change on a crash, which the next run redoes.
        await sql`select set_config('lock_timeout', ${String(policy.lockTimeoutMs)}, true), set_config('synchronous_commit', 'off', true)`.execute(
          trx,
        );
        return work(trx, attempt >= policy.retries);
      });
      return { ok: true, value };
    } catch (error) {
      if (error instanceof SalamaError) throw error;
      const code = sqlState(error);
      if (code === undefined || FATAL_CLASSES.has(code.slice(0, 2))) {
        throw new BackendFailedError(`${what} failed: ${messageOf(error)}`, { cause: error });
      }
      if (!RETRY_STATES.has(code)) {
        return {
          ok: false,
          error: new BackendFailedError(`${what} failed: ${messageOf(error)}`, {
            cause: error,
            context: { sqlState: code },
          }),
        };
      }
      if (attempt >= policy.retries) {
        return {
          ok: false,
          error: new LockedError(
            `${what} gave up: the table stayed locked by another session through ${attempt + 1} tries of lock_timeout ${policy.lockTimeoutMs} ms`,
            { cause: error, context: { tries: attempt + 1, lockTimeoutMs: policy.lockTimeoutMs } },
          ),
        };
      }
      try {
        await sleep(Math.min(1000, 50 * 2 ** attempt), undefined, { signal: policy.signal });
      } catch {
        throwIfAborted(policy.signal);
      }
    }
  }
}

/** Throws `E_ABORTED` when `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw new AbortedError('PartitionManager.run() was aborted', { cause: signal.reason });
}

/** Creates the default partition `<table>_default`. */
export async function createDefaultPartition(
  trx: AnyTransaction,
  table: PartitionedTable,
  name: string,
): Promise<void> {
  await sql`create table ${sql.id(table.schema, name)} partition of ${sql.id(table.schema, table.name)} default`.execute(
    trx,
  );
}

/**
 * Creates the table of `bucket` shaped like the parent, moves the bucket's rows out of the
 * default partition into it, and attaches it (unless `attach` is false: expired rows kept
 * aside in `'detach'` mode, whose table may already exist from an earlier detach). Returns the
 * number of rows moved. Creating, filling and attaching in one transaction is what lets a
 * partition be added although the default partition holds rows of its range.
 */
export async function createFromDefault(
  trx: AnyTransaction,
  table: PartitionedTable,
  bucket: PartitionBucket,
  defaultPartition: { readonly schema: string; readonly name: string } | undefined,
  attach: boolean,
): Promise<number> {
  const parent = sql.id(table.schema, table.name);
  const target = sql.id(table.schema, bucket.name);
  // A copied identity column would be the partition's own; PostgreSQL 17 refuses to attach it.
  await sql`create table ${attach ? sql`` : sql`if not exists`} ${target} (like ${parent} including all excluding identity)`.execute(
    trx,
  );
  let moved = 0;
  if (defaultPartition) {
    const columns = sql.join(table.copyColumns.map((c) => sql.id(c)));
    const key = sql.id(table.column);
    const result = await sql`
      with moved as (
        delete from ${sql.id(defaultPartition.schema, defaultPartition.name)}
        where ${key} >= ${boundLiteral(bucket.from)} and ${key} < ${boundLiteral(bucket.to)}
        returning *)
      insert into ${target} (${columns}) overriding system value
      select ${columns} from moved`.execute(trx);
    moved = Number(result.numAffectedRows ?? 0n);
  }
  if (attach) {
    await sql`alter table ${parent} attach partition ${target} for values from (${sql.lit(boundLiteral(bucket.from))}) to (${sql.lit(boundLiteral(bucket.to))})`.execute(
      trx,
    );
  }
  return moved;
}

// biome-ignore lint/suspicious/noExplicitAny: filters are written against the caller's schema
type Filter = (eb: ExpressionBuilder<any, any>) => Expression<SqlBool>;

/** Where {@link deleteFromDefault} archives the rows it deletes. */
export interface DefaultRowsArchive {
  readonly table: string;
  readonly columns: readonly string[];
  /** Archives only the deleted rows this selects. @default every deleted row */
  readonly where: Filter | undefined;
}

/**
 * Deletes the rows of `bucket` from the default partition and copies those `archive` selects
 * into its table, in one statement: the copy reads exactly the rows the delete removed, so a
 * row committed meanwhile is neither deleted nor archived. Returns how many rows were deleted
 * and how many archived.
 */
export async function deleteFromDefault(
  trx: AnyTransaction,
  table: PartitionedTable,
  bucket: PartitionBucket,
  defaultPartition: { readonly schema: string; readonly name: string },
  archive: DefaultRowsArchive | undefined,
): Promise<{ deleted: number; archived: number }> {
  const key = sql.id(table.column);
  const deleted = sql`
    delete from ${sql.id(defaultPartition.schema, defaultPartition.name)}
    where ${key} >= ${boundLiteral(bucket.from)} and ${key} < ${boundLiteral(bucket.to)}
    returning *`;
  if (!archive) {
    const result = await deleted.execute(trx);
    return { deleted: Number(result.numAffectedRows ?? 0n), archived: 0 };
  }
  const { where } = archive;
  const selected = trx
    .selectFrom('deleted')
    .select([...archive.columns])
    .$if(where !== undefined, (qb) => qb.where(where as Filter));
  const { rows } = await sql<{ deleted: string; archived: string }>`
    with deleted as (${deleted}),
      archived as (
        insert into ${tableRef(archive.table)} (${sql.join(archive.columns.map((c) => sql.id(c)))})
        ${selected}
        returning 1)
    select (select count(*) from deleted) as deleted, (select count(*) from archived) as archived`.execute(
    trx,
  );
  return { deleted: Number(rows[0]?.deleted ?? 0), archived: Number(rows[0]?.archived ?? 0) };
}

/**
 * Takes `SHARE` on a partition until the transaction ends: taken before the archive copy, no
 * row can be committed into the partition between the copy and its drop or detach. `SHARE`
 * blocks only writers, so queries reading the table go on during the copy; the drop or detach
 * then takes `ACCESS EXCLUSIVE` for its own brief moment, under `lock_timeout`.
 */
export async function lockPartition(
  trx: AnyTransaction,
  partition: { readonly schema: string; readonly name: string },
): Promise<void> {
  await sql`lock table ${sql.id(partition.schema, partition.name)} in share mode`.execute(trx);
}

/**
 * How long the drop after an archive copy waits for its lock on every try but the last: well
 * under PostgreSQL's default `deadlock_timeout` (1 s), so in a lock cycle with an application
 * transaction the drop times out (and is retried) before the application's transaction is
 * chosen as the deadlock victim. The last try waits the full `lockTimeoutMs`.
 */
export const DROP_AFTER_COPY_LOCK_MS = 200;

/** Sets this transaction's `lock_timeout` to `ms` for the statements that follow. */
export async function shortenLockWait(trx: AnyTransaction, ms: number): Promise<void> {
  await sql`select set_config('lock_timeout', ${String(ms)}, true)`.execute(trx);
}

/** Drops a partition, or detaches it from the parent and keeps it as a table. */
export async function removePartition(
  trx: AnyTransaction,
  table: PartitionedTable,
  partition: { readonly schema: string; readonly name: string },
  mode: 'drop' | 'detach',
): Promise<void> {
  const ref = sql.id(partition.schema, partition.name);
  if (mode === 'drop') await sql`drop table ${ref}`.execute(trx);
  else
    await sql`alter table ${sql.id(table.schema, table.name)} detach partition ${ref}`.execute(trx);
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
