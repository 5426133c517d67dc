/**
 * What {@link MaintenanceScheduler} takes and gives back: windows as users write them and as
 * they are stored, the tasks a window runs, the report of a run, and the events notifiers get.
 */
import type { Logger } from '../core/logger.js';

/** How much a window matters; due windows start in this order. */
export type MaintenancePriority = 'critical' | 'high' | 'normal' | 'low';

/** The priorities, most urgent first. */
export const MAINTENANCE_PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;

/** A maintenance window as passed to {@link MaintenanceScheduler.schedule}. */
export interface MaintenanceWindowInput {
  /** Letters, digits, `.`, `_`, `:` or `-`, up to 128. @default `MAINT-<start as YYYYMMDD-HHMM>-<random>` */
  readonly id?: string;
  readonly name: string;
  /** When the window opens; for a recurring window, the earliest time an occurrence may start. */
  readonly start: Date;
  /** How long each occurrence lasts, in milliseconds (> 0). */
  readonly durationMs: number;
  /** @default 'normal' */
  readonly priority?: MaintenancePriority;
  /** Names of registered tasks, run in this order. @default [] */
  readonly tasks?: readonly string[];
  /** The systems the window takes down; two windows sharing one may not overlap. At least one. */
  readonly systems: readonly string[];
  /** People or channels to tell (passed to notifiers in every event). @default [] */
  readonly notify?: readonly string[];
  /**
   * A cron expression (croner: 5 fields, or 6 with seconds; `@daily` and friends) whose run
   * times at or after `start` are the window's occurrences. @default undefined (one occurrence, at `start`)
   */
  readonly recurrence?: string;
  /** IANA time zone the cron expression is read in. @default 'UTC' (on every replica, as pg_cron) */
  readonly timezone?: string;
  /** Time limit of each task, in milliseconds. @default durationMs */
  readonly taskTimeoutMs?: number;
}

/** A stored maintenance window. Frozen. */
export interface MaintenanceWindow {
  readonly id: string;
  readonly name: string;
  readonly start: Date;
  readonly durationMs: number;
  readonly priority: MaintenancePriority;
  readonly tasks: readonly string[];
  readonly systems: readonly string[];
  readonly notify: readonly string[];
  readonly recurrence: string | undefined;
  readonly timezone: string | undefined;
  readonly taskTimeoutMs: number | undefined;
  /** `cancelled` windows are kept (with their history) but never run or conflict again. */
  readonly status: 'scheduled' | 'cancelled';
  readonly createdAt: Date;
}

/** One occurrence of a window: `[start, end)`. */
export interface MaintenanceOccurrence {
  readonly window: MaintenanceWindow;
  readonly start: Date;
  readonly end: Date;
}

/** What a task is given when it runs. */
export interface MaintenanceTaskContext {
  readonly window: MaintenanceWindow;
  /** Aborted (with an `E_TIMEOUT` reason) when the task's time limit passes. */
  readonly signal: AbortSignal;
  /** The scheduler's logger, bound to the window and task. */
  readonly logger: Logger;
}

/** A registered task: retention, database maintenance, a backup, anything async. */
export type MaintenanceTask = (context: MaintenanceTaskContext) => Promise<unknown>;

/** A task that finished. `result` is what it resolved to (in `history()`, as JSON read back). */
export interface CompletedTask {
  readonly task: string;
  readonly durationMs: number;
  readonly result: unknown;
}

/** A task that threw, timed out (`E_TIMEOUT`) or was never registered (`E_NOT_FOUND`). */
export interface FailedTask {
  readonly task: string;
  readonly durationMs: number;
  readonly error: { readonly code?: string; readonly message: string };
}

/** What the status check found after the tasks ran. */
export interface StatusCheckResult {
  readonly ok: boolean;
  readonly details?: unknown;
}

/** The report of one run of a window. Frozen. */
export interface MaintenanceReport {
  /** The run's id: `<windowId>@<occurrence ms>` when scheduled, `<windowId>@manual:<uuid>` otherwise. */
  readonly id: string;
  readonly windowId: string;
  readonly trigger: 'schedule' | 'manual';
  /** The occurrence the scheduler ran; `undefined` for `perform()`. */
  readonly occurrence: Date | undefined;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly completed: readonly CompletedTask[];
  readonly failed: readonly FailedTask[];
  /** `undefined` when the scheduler has no `statusCheck`. */
  readonly statusCheck: StatusCheckResult | undefined;
  /**
   * `ok`: nothing failed. `failed`: tasks ran and none completed. `degraded`: anything else
   * (some tasks failed, or the status check was not ok).
   */
  readonly status: 'ok' | 'degraded' | 'failed';
}

/** What notifiers are told. `at` is the scheduler clock's time. */
export type MaintenanceEvent =
  | { readonly type: 'scheduled'; readonly window: MaintenanceWindow; readonly at: Date }
  | {
      readonly type: 'starting';
      readonly window: MaintenanceWindow;
      readonly at: Date;
      readonly occurrence: Date | undefined;
    }
  | {
      readonly type: 'completed';
      readonly window: MaintenanceWindow;
      readonly at: Date;
      readonly report: MaintenanceReport;
    }
  | {
      /** A run whose status is `failed`, or (without `report`) one that could not finish. */
      readonly type: 'failed';
      readonly window: MaintenanceWindow;
      readonly at: Date;
      readonly report?: MaintenanceReport;
      readonly error?: { readonly code?: string; readonly message: string };
    }
  | { readonly type: 'cancelled'; readonly window: MaintenanceWindow; readonly at: Date };

/** A hook told about every window event. A notifier that throws is logged and ignored. */
export interface Notifier {
  /** Names the notifier in log lines. */
  readonly name?: string;
  notify(event: MaintenanceEvent): void | Promise<void>;
}
