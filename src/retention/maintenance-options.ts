/**
 * What {@link DatabaseMaintenance} accepts and what its `run()` reports. Options are validated
 * once, at construction, against the dialect of the database they name: an operation that
 * dialect does not have is refused there rather than failing in every run.
 */
import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidOptionsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import { type AnyKysely, detectDialect, isKysely, type SqlDialect } from './sql.js';

/**
 * What a run can do to a table or to the database; see the list at the top of
 * `database-maintenance.ts`.
 */
export type MaintenanceOperation = 'vacuum' | 'analyze' | 'reindex' | 'optimize';

/** The `table` of a step that acts on the whole database (SQLite `VACUUM`, `PRAGMA optimize`). */
export const WHOLE_DATABASE = '*';

const OPERATIONS = ['vacuum', 'analyze', 'reindex', 'optimize'] as const;
/** The operations each dialect has, in the order a run takes them on a table. */
export const SUPPORTED_OPERATIONS: Record<SqlDialect, readonly MaintenanceOperation[]> = {
  sqlite: ['reindex', 'analyze', 'vacuum', 'optimize'],
  postgres: ['vacuum', 'reindex', 'analyze'],
};
/** PostgreSQL's largest `lock_timeout`, in milliseconds. */
const MAX_LOCK_TIMEOUT_MS = 2_147_483_647;

/** Options of {@link DatabaseMaintenance}. */
export interface DatabaseMaintenanceOptions {
  /** The database, a Kysely instance on SQLite, PostgreSQL or PGlite (not a transaction). */
  readonly db: AnyKysely;
  /**
   * The tables to work on (`schema.table` on PostgreSQL). Each must exist when `run()` starts.
   * @default every table of the current schema (PostgreSQL; a partitioned table counts once,
   * its partitions are reached through it) or of the main database (SQLite, without `sqlite_*`)
   */
  readonly tables?: readonly string[];
  /**
   * What to do. The order given does not matter: per table `vacuum`, `reindex`, `analyze`,
   * then on SQLite `vacuum` and `optimize` once for the database. `optimize` is SQLite only.
   * @default every operation the dialect has
   */
  readonly operations?: readonly MaintenanceOperation[];
  /**
   * How long a statement waits for a lock before its step fails, in milliseconds: PostgreSQL
   * `lock_timeout`, SQLite `busy_timeout`. `false` keeps the connection's own setting.
   * @default 5000
   */
  readonly lockTimeoutMs?: number | false;
  /** Time source for step and run durations. @default systemClock */
  readonly clock?: Clock;
  /** A pino-compatible logger: steps at `debug`, failures at `warn`, runs at `info`. */
  readonly logger?: Logger;
}

/** How a step ended. `skipped`: the run was aborted before the step started. */
export type MaintenanceStepStatus = 'ok' | 'failed' | 'skipped';

/** One statement of a run, on one table or on the whole database. */
export interface MaintenanceStep {
  /** The table as given in `tables` (or as listed), or {@link WHOLE_DATABASE}. */
  readonly table: string;
  readonly operation: MaintenanceOperation;
  readonly status: MaintenanceStepStatus;
  readonly durationMs: number;
  /** The SQL that ran last for this step (after a fallback, the fallback). */
  readonly statement?: string;
  /**
   * PostgreSQL `reindex`: whether the indexes were rebuilt concurrently. `false` when the
   * server refused `CONCURRENTLY` (a system catalog, a server before 12) and a plain
   * `REINDEX TABLE`, which blocks writes to the table while it runs, was used instead.
   */
  readonly concurrently?: boolean;
  /**
   * PostgreSQL `reindex` that failed part way: the invalid `_ccnew` indexes it had made,
   * dropped again. Any it could not drop are named in `error.message`.
   */
  readonly droppedIndexes?: readonly string[];
  /** Why the step failed: the driver's code (`55P03`, `SQLITE_BUSY`) and message. */
  readonly error?: { readonly code?: string; readonly message: string };
}

/** What a run did. */
export interface MaintenanceReport {
  readonly dialect: SqlDialect;
  readonly startedAt: Date;
  readonly durationMs: number;
  /** True when no step failed and the run was not aborted. */
  readonly ok: boolean;
  /** True when the run's signal aborted it; the steps it did not start are `skipped`. */
  readonly aborted: boolean;
  readonly steps: readonly MaintenanceStep[];
  readonly totals: { readonly ok: number; readonly failed: number; readonly skipped: number };
}

/** Progress after each step that ran. */
export interface MaintenanceProgress {
  readonly table: string;
  readonly operation: MaintenanceOperation;
  readonly status: 'ok' | 'failed';
  /** Steps finished so far, this one included. */
  readonly done: number;
  /** Steps in the run. */
  readonly total: number;
}

/** Options of {@link DatabaseMaintenance.run}. */
export interface MaintenanceRunOptions {
  /** Stops the run before its next step; the statement in flight finishes. */
  readonly signal?: AbortSignal;
  /** Called after each step; an exception thrown here ends the run with that exception. */
  readonly onProgress?: (progress: MaintenanceProgress) => void;
}

/** Checks {@link DatabaseMaintenanceOptions} and fills in their defaults. */
export const maintenanceOptionsSchema = z
  .strictObject({
    db: z.custom<AnyKysely>(isKysely, { message: 'a Kysely instance' }),
    tables: z.array(z.string().min(1)).optional(),
    operations: z.array(z.enum(OPERATIONS)).min(1).optional(),
    lockTimeoutMs: z
      .union([z.number().int().positive().max(MAX_LOCK_TIMEOUT_MS), z.literal(false)])
      .default(5000),
    clock: commonOptionSchemas.clock.default(systemClock),
    logger: commonOptionSchemas.logger.optional(),
  })
  .superRefine((options, ctx) => {
    if (options.db.isTransaction)
      ctx.addIssue({
        code: 'custom',
        path: ['db'],
        message: 'a Kysely instance outside a transaction (VACUUM cannot run inside one)',
        input: options.db,
      });
    const dialect = dialectOf(options.db);
    if (dialect === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['db'],
        message: 'a Kysely instance with a SQLite or PostgreSQL dialect',
        input: options.db,
      });
      return;
    }
    const supported = SUPPORTED_OPERATIONS[dialect];
    options.operations?.forEach((operation, index) => {
      if (!supported.includes(operation))
        ctx.addIssue({
          code: 'custom',
          path: ['operations', index],
          message: `one of ${supported.map((o) => JSON.stringify(o)).join(', ')} on ${dialect}`,
          input: operation,
        });
    });
  });

/** The dialect of `db`, or `undefined` when it speaks neither, for the schema to report. */
function dialectOf(db: AnyKysely): SqlDialect | undefined {
  try {
    return detectDialect(db);
  } catch (error) {
    if (error instanceof InvalidOptionsError) return undefined;
    throw error;
  }
}
