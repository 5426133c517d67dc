/**
 * PartitionManager keeps a PostgreSQL table that is partitioned by range on a timestamp in
 * order, as pg_partman's `run_maintenance` does, from Node: partitions ready ahead of time, a
 * default partition for stray rows that are then moved where they belong, and expired
 * partitions dropped or detached without queueing behind long queries.
 */

import { type Clock, systemClock } from '../core/clock.js';
import { BackendFailedError, InvalidOptionsError, SalamaError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { checkArchiveTable, copyToArchive, createArchiveTable } from './archive-table.js';
import { DEFAULT_SUFFIX, type PartitionBucket } from './partition-bounds.js';
import {
  type PartitionedTable,
  readDefaultRows,
  readPartitions,
  resolvePartitionedTable,
} from './partition-catalog.js';
import {
  type DeletedRows,
  type MovedRows,
  type ParsedPartitionOptions,
  type PartitionFailure,
  type PartitionManagerOptions,
  type PartitionRunOptions,
  type PartitionRunReport,
  partitionManagerOptionsSchema,
} from './partition-options.js';
import { planBuckets, planRetention } from './partition-plan.js';
import {
  createDefaultPartition,
  createFromDefault,
  type DefaultRowsArchive,
  DROP_AFTER_COPY_LOCK_MS,
  deleteFromDefault,
  type LockPolicy,
  lockPartition,
  maintenanceLockKey,
  releaseMaintenanceLock,
  removePartition,
  shortenLockWait,
  throwIfAborted,
  tryMaintenanceLock,
  withLockRetry,
} from './partition-statements.js';
import { type AnyKysely, detectDialect } from './sql.js';

type Relation = { readonly schema: string; readonly name: string };

/** The report under construction; lists are frozen into a {@link PartitionRunReport}. */
interface RunLog {
  readonly created: string[];
  readonly dropped: string[];
  readonly detached: string[];
  readonly movedFromDefault: MovedRows[];
  readonly deletedFromDefault: DeletedRows[];
  readonly failed: PartitionFailure[];
  archived: number;
}

/** Copies rows to the archive table inside the transaction that drops or deletes them. */
interface PartitionArchive extends DefaultRowsArchive {
  /** Copies the rows of a partition, locked until its drop or detach commits. */
  copy(trx: AnyKysely, from: string): Promise<number>;
}

/**
 * Maintains the range partitions of one PostgreSQL table by day, ISO week or month (UTC).
 *
 * ```ts
 * await sql`create table alerts (id bigserial, detected_at timestamptz not null,
 *   primary key (id, detected_at)) partition by range (detected_at)`.execute(db);
 * const partitions = new PartitionManager({ db, table: 'alerts', column: 'detected_at',
 *   interval: 'day', premake: 7, retention: '90d' });
 * const report = await partitions.run(); // from a scheduler, on every instance
 * ```
 *
 * Every instance of a service may call `run()` on a schedule: a session advisory lock lets one
 * of them work while the others return `skipped: 'locked'`.
 */
export class PartitionManager {
  readonly #options: ParsedPartitionOptions;
  readonly #db: AnyKysely;
  readonly #clock: Clock;
  readonly #log: Logger;

  /**
   * Validates the options (`E_INVALID_OPTIONS`), including that `db` is PostgreSQL or PGlite.
   * The table is checked by each `run()`, before it changes anything.
   */
  constructor(options: PartitionManagerOptions) {
    this.#options = parseOptions('PartitionManager', partitionManagerOptionsSchema, options);
    this.#db = this.#options.db;
    const dialect = detectDialect(this.#db);
    if (dialect !== 'postgres') {
      throw new InvalidOptionsError(
        `Invalid PartitionManager options:\n  - db: expected a PostgreSQL (or PGlite) database, because table partitioning needs PostgreSQL; received a ${dialect === 'sqlite' ? 'SQLite' : dialect} database`,
        { context: { path: 'db', dialect } },
      );
    }
    this.#clock = this.#options.clock ?? systemClock;
    this.#log = componentLogger(this.#options.logger, 'PartitionManager');
  }

  /**
   * Runs one maintenance pass on one connection, holding the table's advisory lock:
   * creates the default partition if missing, the partitions from the current interval to
   * `premake` ahead and those the default partition's rows need (moving the rows in), then
   * drops or detaches expired partitions. A partition that cannot be handled this time (locked
   * past every retry, its name taken) is reported in `failed`; the next run tries again.
   *
   * Rejects with `E_NOT_FOUND` or `E_INVALID_OPTIONS` when the table is missing or not
   * partitioned by range on the timestamp `column` (nothing is changed then), `E_ABORTED` when
   * `signal` aborts, `E_BACKEND_FAILED` when the database fails otherwise.
   */
  async run(options: PartitionRunOptions = {}): Promise<PartitionRunReport> {
    const { signal } = options;
    const started = performance.now();
    throwIfAborted(signal);
    try {
      return await this.#db.connection().execute(async (conn) => {
        const table = await resolvePartitionedTable(
          conn,
          this.#options.table,
          this.#options.column,
        );
        const key = maintenanceLockKey(table);
        const log: RunLog = {
          created: [],
          dropped: [],
          detached: [],
          movedFromDefault: [],
          deletedFromDefault: [],
          failed: [],
          archived: 0,
        };
        if (!(await tryMaintenanceLock(conn, key))) {
          this.#log.info({ table: this.#options.table }, 'another process holds the lock; skipped');
          return finish(log, started, 'locked');
        }
        try {
          await this.#maintain(conn, table, log, signal);
        } finally {
          await releaseMaintenanceLock(conn, key).catch((error: unknown) =>
            this.#log.warn({ err: error }, 'could not release the maintenance lock'),
          );
        }
        return finish(log, started);
      });
    } catch (error) {
      if (error instanceof SalamaError) throw error;
      throw new BackendFailedError(
        `PartitionManager.run() on table ${JSON.stringify(this.#options.table)} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, context: { table: this.#options.table } },
      );
    }
  }

  async #maintain(
    conn: AnyKysely,
    table: PartitionedTable,
    log: RunLog,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const o = this.#options;
    const now = this.#clock.now();
    const expiredBefore = o.retention === undefined ? Number.NEGATIVE_INFINITY : now - o.retention;
    const policy: LockPolicy = { lockTimeoutMs: o.lockTimeoutMs, retries: o.dropRetries, signal };
    const layout = await readPartitions(conn, table);
    const archive = o.retention === undefined ? undefined : await this.#archiveTable(conn, table);

    let defaultPartition: Relation | undefined = layout.defaultPartition;
    if (!defaultPartition && o.defaultPartition) {
      const name = `${table.name}${DEFAULT_SUFFIX}`;
      const result = await withLockRetry(conn, policy, `creating partition ${name}`, (trx) =>
        createDefaultPartition(trx, table, name),
      );
      if (result.ok) {
        defaultPartition = { schema: table.schema, name };
        this.#created(log, name);
      } else this.#failed(log, { partition: name, action: 'create', error: result.error });
    }

    const plan = planBuckets({
      table: table.name,
      interval: o.interval,
      premake: o.premake,
      now,
      expiredBefore,
      existing: layout.partitions,
      defaultRows: defaultPartition
        ? await readDefaultRows(conn, table, defaultPartition, o.interval)
        : [],
    });
    for (const bucket of plan.overlapping) {
      this.#log.warn(
        { partition: bucket.name, rows: bucket.waiting },
        'rows in the default partition belong to an interval that an existing partition partly covers; left in place',
      );
    }
    if (defaultPartition) {
      for (const bucket of plan.expire)
        await this.#expireDefaultRows(conn, table, bucket, defaultPartition, policy, log, archive);
    }
    for (const bucket of plan.create) {
      const result = await withLockRetry(conn, policy, `creating partition ${bucket.name}`, (trx) =>
        createFromDefault(trx, table, bucket, defaultPartition, true),
      );
      if (!result.ok) {
        this.#failed(log, { partition: bucket.name, action: 'create', error: result.error });
        continue;
      }
      this.#created(log, bucket.name);
      if (result.value > 0)
        log.movedFromDefault.push({ partition: bucket.name, rows: result.value, attached: true });
    }

    if (o.retention === undefined) return;
    const { partitions } = await readPartitions(conn, table);
    for (const partition of planRetention(table.name, partitions, expiredBefore)) {
      const mode = o.retentionMode;
      const result = await withLockRetry(
        conn,
        policy,
        `${mode} of partition ${partition.name}`,
        async (trx, last) => {
          if (!archive) {
            await removePartition(trx, table, partition, mode);
            return 0;
          }
          await lockPartition(trx, partition);
          const copied = await archive.copy(trx, `${partition.schema}.${partition.name}`);
          // An application transaction that read the partition and now waits to write into
          // it (behind SHARE) would deadlock with the drop; with a wait shorter than
          // PostgreSQL's deadlock_timeout the drop gives way first and is tried again (the
          // last try waits the full lockTimeoutMs, so a long reader cannot starve it).
          if (!last)
            await shortenLockWait(trx, Math.min(policy.lockTimeoutMs, DROP_AFTER_COPY_LOCK_MS));
          await removePartition(trx, table, partition, mode);
          return copied;
        },
      );
      if (!result.ok) {
        this.#failed(log, { partition: partition.name, action: mode, error: result.error });
        continue;
      }
      (mode === 'drop' ? log.dropped : log.detached).push(partition.name);
      log.archived += result.value;
      this.#log.info(
        { partition: partition.name, archived: result.value },
        mode === 'drop' ? 'dropped' : 'detached',
      );
    }
  }

  /** Expired rows in the default partition: deleted in `'drop'` mode, set aside in `'detach'`. */
  async #expireDefaultRows(
    conn: AnyKysely,
    table: PartitionedTable,
    bucket: PartitionBucket,
    defaultPartition: Relation,
    policy: LockPolicy,
    log: RunLog,
    archive: PartitionArchive | undefined,
  ): Promise<void> {
    const mode = this.#options.retentionMode;
    let archived = 0; // of the attempt that committed
    const result = await withLockRetry(
      conn,
      policy,
      `expiring default rows of ${bucket.name}`,
      async (trx) => {
        if (mode !== 'drop') return createFromDefault(trx, table, bucket, defaultPartition, false);
        const done = await deleteFromDefault(trx, table, bucket, defaultPartition, archive);
        archived = done.archived;
        return done.deleted;
      },
    );
    if (result.ok) log.archived += archived;
    if (!result.ok) {
      this.#failed(log, { partition: bucket.name, action: mode, error: result.error });
      return;
    }
    if (result.value === 0) return;
    if (mode === 'drop')
      log.deletedFromDefault.push({ partition: bucket.name, rows: result.value });
    else log.movedFromDefault.push({ partition: bucket.name, rows: result.value, attached: false });
    this.#log.info(
      { partition: bucket.name, rows: result.value },
      mode === 'drop'
        ? 'deleted expired rows from the default partition'
        : 'set expired rows aside',
    );
  }

  /** The archive table, checked (and created when missing); undefined without `archive`. */
  async #archiveTable(
    conn: AnyKysely,
    table: PartitionedTable,
  ): Promise<PartitionArchive | undefined> {
    const option = this.#options.archive;
    if (!option) return undefined;
    const label = `PartitionManager on ${table.schema}.${table.name}`;
    const source = { name: `${table.schema}.${table.name}`, columns: table.copyColumns };
    const checked = await checkArchiveTable(conn, 'postgres', label, source, option.table);
    if (checked.create) await createArchiveTable(conn, 'postgres', source.name, option.table);
    return {
      table: option.table,
      columns: table.copyColumns,
      where: option.where,
      copy: (trx, from) => copyToArchive(trx, from, option.table, table.copyColumns, option.where),
    };
  }

  #created(log: RunLog, name: string): void {
    log.created.push(name);
    this.#log.info({ partition: name }, 'created');
  }

  #failed(log: RunLog, failure: PartitionFailure): void {
    log.failed.push(failure);
    this.#log.warn(
      { partition: failure.partition, action: failure.action, err: failure.error },
      failure.error.message,
    );
  }
}

function finish(log: RunLog, started: number, skipped?: 'locked'): PartitionRunReport {
  return Object.freeze({
    created: Object.freeze(log.created),
    dropped: Object.freeze(log.dropped),
    detached: Object.freeze(log.detached),
    movedFromDefault: Object.freeze(log.movedFromDefault),
    deletedFromDefault: Object.freeze(log.deletedFromDefault),
    failed: Object.freeze(log.failed),
    archived: log.archived,
    ...(skipped ? { skipped } : {}),
    durationMs: performance.now() - started,
  });
}
