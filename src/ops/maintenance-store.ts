/**
 * The scheduler's two tables, created when missing on SQLite and PostgreSQL (PGlite too):
 *
 * - `<prefix>_windows`: one row per window; cancelling sets `status` and keeps the row.
 * - `<prefix>_runs`: one row per run, inserted `running` before the first task (the claim)
 *   and completed with the report as JSON. A scheduled run's id is `<window>@<occurrence ms>`,
 *   so two schedulers on one database cannot both claim an occurrence.
 *
 * Times are integer milliseconds since the epoch on both dialects; lists are JSON text.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { AnyKysely, SqlDialect } from '../retention/sql.js';
import { toJsonText } from './maintenance-json.js';
import type { MaintenanceReport, MaintenanceWindow } from './maintenance-types.js';
import type { ParsedWindow } from './maintenance-window.js';

type Row = Record<string, unknown>;

const optional = <T>(value: unknown, as: (v: unknown) => T): T | undefined =>
  value === null || value === undefined ? undefined : as(value);

/** A run about to start: the row that claims it. */
export interface RunClaim {
  readonly id: string;
  readonly windowId: string;
  readonly trigger: MaintenanceReport['trigger'];
  readonly occurrence: number | undefined;
  readonly startedAt: number;
}

/** The scheduler's reads and writes of its two tables, through the caller's Kysely. */
export class MaintenanceStore {
  readonly #db: AnyKysely;
  readonly #dialect: SqlDialect;
  readonly #windows: string;
  readonly #runs: string;
  readonly #prefix: string;

  constructor(db: AnyKysely, dialect: SqlDialect, prefix: string) {
    this.#db = db;
    this.#dialect = dialect;
    this.#prefix = prefix;
    this.#windows = `${prefix}_windows`;
    this.#runs = `${prefix}_runs`;
  }

  /** Creates the tables and the history index when missing. */
  async ensureTables(): Promise<void> {
    await this.exclusive(async (db) => {
      await db.schema
        .createTable(this.#windows)
        .ifNotExists()
        .addColumn('id', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('start_at', 'bigint', (c) => c.notNull())
        .addColumn('duration_ms', 'bigint', (c) => c.notNull())
        .addColumn('priority', 'varchar(16)', (c) => c.notNull())
        .addColumn('tasks', 'text', (c) => c.notNull())
        .addColumn('systems', 'text', (c) => c.notNull())
        .addColumn('notify', 'text', (c) => c.notNull())
        .addColumn('recurrence', 'text')
        .addColumn('timezone', 'varchar(64)')
        .addColumn('task_timeout_ms', 'bigint')
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('cancelled_at', 'bigint')
        .execute();
      await db.schema
        .createTable(this.#runs)
        .ifNotExists()
        .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('window_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('trigger', 'varchar(16)', (c) => c.notNull())
        .addColumn('occurrence_at', 'bigint')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('report', 'text')
        .execute();
      await db.schema
        .createIndex(`${this.#runs}_by_window`)
        .ifNotExists()
        .on(this.#runs)
        .columns(['window_id', 'started_at'])
        .execute();
    });
  }

  /**
   * Runs `fn` in a transaction that no other scheduler on this prefix runs at the same time:
   * on PostgreSQL under an advisory lock named by the prefix (`create table if not exists`
   * and check-then-insert both race otherwise); SQLite serialises writers itself.
   */
  exclusive<T>(fn: (db: AnyKysely) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute(async (trx) => {
      if (this.#dialect === 'postgres') {
        const key = createHash('sha256').update(`salama:maintenance:${this.#prefix}`).digest();
        await sql`select pg_advisory_xact_lock(cast(${key.readIntBE(0, 6)} as bigint))`.execute(
          trx,
        );
      }
      return fn(trx);
    });
  }

  /** Inserts a validated window, `scheduled`, inside the caller's `exclusive` transaction. */
  async insertWindow(db: AnyKysely, window: ParsedWindow, createdAt: number): Promise<void> {
    await db
      .insertInto(this.#windows)
      .values({
        id: window.id,
        name: window.name,
        start_at: window.start.getTime(),
        duration_ms: window.durationMs,
        priority: window.priority,
        tasks: JSON.stringify(window.tasks),
        systems: JSON.stringify(window.systems),
        notify: JSON.stringify(window.notify),
        recurrence: window.recurrence ?? null,
        timezone: window.timezone ?? null,
        task_timeout_ms: window.taskTimeoutMs ?? null,
        status: 'scheduled',
        created_at: createdAt,
      })
      .execute();
  }

  /** The window with this id, scheduled or cancelled. */
  async window(id: string, db = this.#db): Promise<MaintenanceWindow | undefined> {
    const row = await db
      .selectFrom(this.#windows)
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toWindow(row) : undefined;
  }

  /** Every window not cancelled, oldest first. */
  async scheduledWindows(db = this.#db): Promise<MaintenanceWindow[]> {
    const rows = await db
      .selectFrom(this.#windows)
      .selectAll()
      .where('status', '=', 'scheduled')
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toWindow);
  }

  /** Marks the window cancelled; false when it was already. */
  async cancelWindow(id: string, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable(this.#windows)
      .set({ status: 'cancelled', cancelled_at: at })
      .where('id', '=', id)
      .where('status', '=', 'scheduled')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The latest occurrence the scheduler claimed, by window id. */
  async lastOccurrences(): Promise<Map<string, number>> {
    const rows = await this.#db
      .selectFrom(this.#runs)
      .select(['window_id', (eb) => eb.fn.max('occurrence_at').as('last')])
      .where('trigger', '=', 'schedule')
      .groupBy('window_id')
      .execute();
    return new Map(rows.map((r) => [String(r.window_id), Number(r.last)]));
  }

  /** Inserts the run's row; false when another scheduler claimed the same occurrence first. */
  async claimRun(run: RunClaim): Promise<boolean> {
    const result = await this.#db
      .insertInto(this.#runs)
      .values({
        id: run.id,
        window_id: run.windowId,
        trigger: run.trigger,
        occurrence_at: run.occurrence ?? null,
        started_at: run.startedAt,
        status: 'running',
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /**
   * Claims a scheduled occurrence, like {@link claimRun}, unless the window has a run going
   * that started less than `longestRunMs` ago (see `longestRunMs` in `maintenance-run.ts`):
   * pg_cron likewise never starts a job while its previous run goes on, however long that run
   * outlasts the window. A run whose process died stops counting once it could no longer be
   * going. One statement, under {@link exclusive}, so two schedulers cannot both see no run
   * going and both claim.
   */
  claimOccurrence(run: RunClaim, longestRunMs: number): Promise<boolean> {
    const bigint = (value: number | undefined) => sql<number>`cast(${value ?? null} as bigint)`;
    return this.exclusive(async (db) => {
      const result = await db
        .insertInto(this.#runs)
        .columns(['id', 'window_id', 'trigger', 'occurrence_at', 'started_at', 'status'])
        .expression(
          db
            .selectNoFrom([
              sql<string>`${run.id}`.as('id'),
              sql<string>`${run.windowId}`.as('window_id'),
              sql<string>`${run.trigger}`.as('trigger'),
              bigint(run.occurrence).as('occurrence_at'),
              bigint(run.startedAt).as('started_at'),
              sql<string>`${'running'}`.as('status'),
            ])
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom(this.#runs)
                    .select('id')
                    .where('window_id', '=', run.windowId)
                    .where('status', '=', 'running')
                    .where('started_at', '>', bigint(run.startedAt - longestRunMs)),
                ),
              ),
            ),
        )
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    });
  }

  /** Completes a claimed run with its report. */
  async finishRun(report: MaintenanceReport): Promise<void> {
    await this.#db
      .updateTable(this.#runs)
      .set({
        finished_at: report.finishedAt.getTime(),
        status: report.status,
        report: toJsonText(report),
      })
      .where('id', '=', report.id)
      .execute();
  }

  /** The finished runs of a window, oldest first. */
  async history(windowId: string): Promise<MaintenanceReport[]> {
    const rows = await this.#db
      .selectFrom(this.#runs)
      .select('report')
      .where('window_id', '=', windowId)
      .where('report', 'is not', null)
      .orderBy('started_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => toReport(JSON.parse(String(r.report))));
  }
}

function toWindow(row: Row): MaintenanceWindow {
  return Object.freeze({
    id: String(row.id),
    name: String(row.name),
    start: new Date(Number(row.start_at)),
    durationMs: Number(row.duration_ms),
    priority: String(row.priority) as MaintenanceWindow['priority'],
    tasks: Object.freeze(JSON.parse(String(row.tasks)) as string[]),
    systems: Object.freeze(JSON.parse(String(row.systems)) as string[]),
    notify: Object.freeze(JSON.parse(String(row.notify)) as string[]),
    recurrence: optional(row.recurrence, String),
    timezone: optional(row.timezone, String),
    taskTimeoutMs: optional(row.task_timeout_ms, Number),
    status: String(row.status) as MaintenanceWindow['status'],
    createdAt: new Date(Number(row.created_at)),
  });
}

/** A report read back: its times as Dates again, task results as their JSON. */
function toReport(json: Row): MaintenanceReport {
  return Object.freeze({
    ...(json as unknown as MaintenanceReport),
    occurrence: optional(json.occurrence, (v) => new Date(String(v))),
    startedAt: new Date(String(json.startedAt)),
    finishedAt: new Date(String(json.finishedAt)),
  });
}
