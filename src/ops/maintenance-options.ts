/**
 * The options of {@link MaintenanceScheduler}, checked once at construction (a bad one is
 * `E_INVALID_OPTIONS` naming it, what was expected and what came instead) and frozen.
 */
import { z } from 'zod';
import { type Clock, systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import { type AnyKysely, isKysely } from '../retention/sql.js';
import type { MaintenanceTask, Notifier, StatusCheckResult } from './maintenance-types.js';

const DAY_MS = 86_400_000;

/** Options of {@link MaintenanceScheduler}. */
export interface MaintenanceSchedulerOptions {
  /** Where windows and reports live (SQLite, PostgreSQL or PGlite); the caller keeps it open. */
  readonly db: AnyKysely;
  /** Prefix of the `<prefix>_windows` and `<prefix>_runs` tables. @default 'salama_maintenance' */
  readonly tablePrefix?: string;
  /** Tasks to register at construction, by name (same as calling `registerTask`). @default {} */
  readonly tasks?: Readonly<Record<string, MaintenanceTask>>;
  /** Told about every `scheduled`, `starting`, `completed`, `failed` and `cancelled` event. @default [] */
  readonly notifiers?: readonly Notifier[];
  /** Runs after a window's tasks; its result is part of the report. @default undefined (none) */
  readonly statusCheck?: () => Promise<StatusCheckResult>;
  /** Time limit of the status check, in milliseconds. @default 60000 */
  readonly statusCheckTimeoutMs?: number;
  /**
   * How far ahead `schedule()` compares a recurring window's occurrences with other windows',
   * in milliseconds. Overlaps further out are not detected. @default 7776000000 (90 days)
   */
  readonly conflictHorizonMs?: number;
  /**
   * While started, the longest the scheduler waits before rereading the windows (to see
   * windows other processes scheduled), in milliseconds. @default 60000
   */
  readonly pollIntervalMs?: number;
  /** @default the system clock */
  readonly clock?: Clock;
  /** @default silent */
  readonly logger?: Logger;
}

/** The zod schema of {@link MaintenanceSchedulerOptions}, with the defaults. */
export const schedulerOptionsSchema = z.strictObject({
  db: z.custom<AnyKysely>(isKysely, { message: 'a Kysely instance' }),
  tablePrefix: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,40}$/)
    .default('salama_maintenance'),
  tasks: z
    .record(
      z.string().min(1),
      z.custom<MaintenanceTask>((v) => typeof v === 'function', {
        message: 'a function (context) => Promise',
      }),
    )
    .default({}),
  notifiers: z
    .array(
      z.custom<Notifier>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          typeof (v as Record<string, unknown>).notify === 'function',
        { message: 'a notifier (an object with notify(event))' },
      ),
    )
    .default([]),
  statusCheck: z
    .custom<() => Promise<StatusCheckResult>>((v) => typeof v === 'function', {
      message: 'a function () => Promise<{ ok, details? }>',
    })
    .optional(),
  statusCheckTimeoutMs: z.number().int().positive().default(60_000),
  conflictHorizonMs: z
    .number()
    .int()
    .positive()
    .max(10 * 365 * DAY_MS)
    .default(90 * DAY_MS),
  // Node's timers cap a delay at 2^31 - 1 ms.
  pollIntervalMs: z.number().int().positive().max(2_147_483_647).default(60_000),
  clock: commonOptionSchemas.clock.default(systemClock),
  logger: commonOptionSchemas.logger.optional(),
});

/** The options after validation: defaults filled in, frozen. */
export type ParsedSchedulerOptions = z.output<typeof schedulerOptionsSchema>;
