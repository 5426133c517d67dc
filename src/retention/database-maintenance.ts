/**
 * `DatabaseMaintenance`: vacuums, analyzes and reindexes the tables behind a Kysely instance,
 * table by table, and reports every step. A step that fails (a lock it could not get, a broken
 * index) is reported and the run goes on with the next one.
 *
 * - `vacuum`: SQLite `VACUUM` once for the whole database, then a WAL checkpoint; PostgreSQL
 *   `VACUUM` per table, `VACUUM (ANALYZE)` when `analyze` is asked for too.
 * - `analyze`: `ANALYZE` per table (on PostgreSQL folded into `VACUUM (ANALYZE)` as above).
 * - `reindex`: SQLite `REINDEX` per table; PostgreSQL `REINDEX TABLE ... CONCURRENTLY` per
 *   table, a plain `REINDEX TABLE` where the server refuses the concurrent form.
 * - `optimize`: SQLite `PRAGMA optimize` once; PostgreSQL has none (`E_INVALID_OPTIONS`).
 *
 * Every statement runs on one connection taken from Kysely for the whole run, outside any
 * transaction (PostgreSQL's `VACUUM` and `REINDEX CONCURRENTLY` refuse to run inside one).
 * That connection's lock wait (`lock_timeout`, SQLite's `busy_timeout`) is set to
 * `lockTimeoutMs` for the run and restored to its previous value afterwards, so maintenance
 * never queues behind a long lock and the setting never leaks into the pool.
 *
 * This file plans a run and reports it; the options and report types are in
 * `maintenance-options.ts`, the SQL of the steps in `maintenance-statements.ts` and
 * `postgres-reindex.ts`.
 */
import type { Clock } from '../core/clock.js';
import { BackendFailedError, LockedError, NotFoundError, SalamaError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import {
  type DatabaseMaintenanceOptions,
  type MaintenanceOperation,
  type MaintenanceReport,
  type MaintenanceRunOptions,
  type MaintenanceStep,
  type MaintenanceStepStatus,
  maintenanceOptionsSchema,
  SUPPORTED_OPERATIONS,
  WHOLE_DATABASE,
} from './maintenance-options.js';
import {
  applyLockTimeout,
  errorCode,
  listTables,
  type Outcome,
  stepStatement,
  type Target,
  vacuumSqlite,
} from './maintenance-statements.js';
import { reindexPostgres } from './postgres-reindex.js';
import { type AnyKysely, describeTable, detectDialect, type SqlDialect } from './sql.js';

export {
  type DatabaseMaintenanceOptions,
  type MaintenanceOperation,
  type MaintenanceProgress,
  type MaintenanceReport,
  type MaintenanceRunOptions,
  type MaintenanceStep,
  type MaintenanceStepStatus,
  WHOLE_DATABASE,
} from './maintenance-options.js';

/** Operations that SQLite runs once for the whole database rather than per table. */
const DATABASE_WIDE: ReadonlySet<MaintenanceOperation> = new Set(['vacuum', 'optimize']);

/** One step to take; `target` is undefined for a database-wide step. */
interface PlannedStep {
  readonly table: string;
  readonly operation: MaintenanceOperation;
  readonly target: Target | undefined;
}

/**
 * Routine maintenance of a SQLite or PostgreSQL database: `VACUUM`, `ANALYZE`, `REINDEX` and
 * SQLite's `PRAGMA optimize`, per table where the database allows it.
 *
 * @example
 * const maintenance = new DatabaseMaintenance({ db, lockTimeoutMs: 2000 });
 * const report = await maintenance.run({ signal: AbortSignal.timeout(600_000) });
 * for (const step of report.steps) if (step.status === 'failed') console.warn(step);
 */
export class DatabaseMaintenance {
  /** The dialect the database speaks, detected at construction. */
  readonly dialect: SqlDialect;
  readonly #db: AnyKysely;
  readonly #tables: readonly string[] | undefined;
  readonly #operations: ReadonlySet<MaintenanceOperation>;
  readonly #lockTimeoutMs: number | false;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #running = false;

  /** @throws `E_INVALID_OPTIONS` naming each bad option, what was expected and what came. */
  constructor(options: DatabaseMaintenanceOptions) {
    const parsed = parseOptions('DatabaseMaintenance', maintenanceOptionsSchema, options);
    this.#db = parsed.db;
    this.dialect = detectDialect(parsed.db);
    this.#tables = parsed.tables && [...new Set(parsed.tables)];
    this.#operations = new Set(parsed.operations ?? SUPPORTED_OPERATIONS[this.dialect]);
    this.#lockTimeoutMs = parsed.lockTimeoutMs;
    this.#clock = parsed.clock;
    this.#logger = componentLogger(parsed.logger, 'DatabaseMaintenance');
  }

  /**
   * Runs every operation on every table and reports each step. Step failures are in the
   * report, not thrown.
   * @throws `E_NOT_FOUND` naming every table of `tables` that does not exist, before any step.
   * @throws `E_LOCKED` when a run of this instance is still going.
   * @throws `E_BACKEND_FAILED` when the database fails outside a step: no connection, no
   * table list, no lock timeout.
   */
  async run(options: MaintenanceRunOptions = {}): Promise<MaintenanceReport> {
    if (this.#running)
      throw new LockedError('DatabaseMaintenance.run(): a run of this instance is in progress', {
        context: { dialect: this.dialect },
      });
    this.#running = true;
    let connected = false;
    try {
      return await this.#db.connection().execute((conn) => {
        connected = true;
        return this.#runOn(conn, options);
      });
    } catch (error) {
      if (connected) throw error;
      throw backendFailure('could not get a connection', error, this.dialect);
    } finally {
      this.#running = false;
    }
  }

  async #runOn(conn: AnyKysely, options: MaintenanceRunOptions): Promise<MaintenanceReport> {
    const startedAt = this.#clock.now();
    const plan = this.#plan(await this.#targets(conn));
    const restore = await applyLockTimeout(
      conn,
      this.dialect,
      this.#lockTimeoutMs,
      this.#logger,
    ).catch((error: unknown) => {
      throw backendFailure('could not set the lock timeout', error, this.dialect);
    });
    const steps: MaintenanceStep[] = [];
    try {
      for (const step of plan) {
        if (options.signal?.aborted) {
          steps.push({
            table: step.table,
            operation: step.operation,
            status: 'skipped',
            durationMs: 0,
          });
          continue;
        }
        const began = this.#clock.now();
        const { failure, ...outcome } = await this.#execute(conn, step);
        const status = failure === undefined ? 'ok' : 'failed';
        const done: MaintenanceStep = {
          table: step.table,
          operation: step.operation,
          status,
          durationMs: this.#clock.now() - began,
          ...outcome,
          ...(failure && { error: stepError(failure) }),
        };
        steps.push(done);
        this.#log(done, failure?.error);
        options.onProgress?.({
          table: step.table,
          operation: step.operation,
          status,
          done: steps.length,
          total: plan.length,
        });
      }
    } finally {
      await restore();
    }
    const count = (status: MaintenanceStepStatus) =>
      steps.filter((s) => s.status === status).length;
    const totals = { ok: count('ok'), failed: count('failed'), skipped: count('skipped') };
    const aborted = totals.skipped > 0;
    const report: MaintenanceReport = {
      dialect: this.dialect,
      startedAt: new Date(startedAt),
      durationMs: this.#clock.now() - startedAt,
      ok: totals.failed === 0 && !aborted,
      aborted,
      steps,
      totals,
    };
    this.#logger.info({ ...totals, aborted, durationMs: report.durationMs }, 'maintenance run');
    return report;
  }

  /** The tables of the run, checked to exist; throws before anything runs if one does not. */
  async #targets(conn: AnyKysely): Promise<Target[]> {
    const targets: Target[] = [];
    const missing: string[] = [];
    try {
      if (this.#tables === undefined) return await listTables(conn, this.dialect);
      for (const table of this.#tables) {
        const info = await describeTable(conn, this.dialect, table);
        if (info) targets.push({ table, schema: info.schema, name: info.name });
        else missing.push(table);
      }
    } catch (error) {
      throw backendFailure('could not read the tables', error, this.dialect);
    }
    if (missing.length === 0) return targets;
    const names = missing.map((table) => JSON.stringify(table)).join(', ');
    const [noun, verb] = missing.length === 1 ? ['table', 'does'] : ['tables', 'do'];
    throw new NotFoundError(
      `DatabaseMaintenance.run(): ${noun} ${names} ${verb} not exist; nothing was run`,
      { context: { tables: missing } },
    );
  }

  #plan(targets: readonly Target[]): PlannedStep[] {
    const has = (operation: MaintenanceOperation) => this.#operations.has(operation);
    const sqlite = this.dialect === 'sqlite';
    // PostgreSQL's VACUUM (ANALYZE) does both in one statement, reported as the vacuum step.
    const perTable = SUPPORTED_OPERATIONS[this.dialect].filter(
      (op) =>
        has(op) &&
        !(sqlite && DATABASE_WIDE.has(op)) &&
        !(op === 'analyze' && !sqlite && has('vacuum')),
    );
    const plan: PlannedStep[] = targets.flatMap((target) =>
      perTable.map((operation) => ({ table: target.table, operation, target })),
    );
    if (sqlite)
      for (const operation of ['vacuum', 'optimize'] as const)
        if (has(operation)) plan.push({ table: WHOLE_DATABASE, operation, target: undefined });
    return plan;
  }

  /** Runs one step; a failure is in the outcome, not thrown. */
  async #execute(conn: AnyKysely, step: PlannedStep): Promise<Outcome> {
    const { operation, target } = step;
    if (this.dialect === 'postgres' && operation === 'reindex' && target)
      return reindexPostgres(conn, target);
    if (this.dialect === 'sqlite' && operation === 'vacuum') return vacuumSqlite(conn);
    const statement = stepStatement(operation, target, this.#operations.has('analyze'));
    const text = statement.compile(conn).sql;
    return statement.execute(conn).then(
      () => ({ statement: text }),
      (error: unknown) => ({ statement: text, failure: { error } }),
    );
  }

  #log(step: MaintenanceStep, error: unknown): void {
    const { table, operation, durationMs } = step;
    if (error === undefined) this.#logger.debug({ table, operation, durationMs }, 'step done');
    else this.#logger.warn({ table, operation, durationMs, err: error }, 'step failed');
  }
}

/** A failed step's error for the report: the driver's code and message, plus any note. */
function stepError({ error, note }: NonNullable<Outcome['failure']>): MaintenanceStep['error'] {
  const message = note === undefined ? messageOf(error) : `${messageOf(error)}; ${note}`;
  const code = errorCode(error);
  return code === undefined ? { message } : { code, message };
}

/** A failure outside any step as `E_BACKEND_FAILED`; salama's own errors pass as they are. */
function backendFailure(what: string, error: unknown, dialect: SqlDialect): SalamaError {
  if (error instanceof SalamaError) return error;
  return new BackendFailedError(`DatabaseMaintenance.run(): ${what}: ${messageOf(error)}`, {
    cause: error,
    context: { dialect },
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
