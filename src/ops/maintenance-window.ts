/**
 * The checks a maintenance window passes before it is stored. A failure is
 * `E_INVALID_ARGUMENT` listing every bad field with what was expected and what came instead;
 * nothing has been stored at that point.
 */
import { randomBytes } from 'node:crypto';
import { Cron } from 'croner';
import { z } from 'zod';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import { toOptionIssues } from '../core/options.js';
import { DEFAULT_TIMEZONE, type Span } from './maintenance-occurrences.js';
import {
  MAINTENANCE_PRIORITIES,
  type MaintenanceWindow,
  type MaintenanceWindowInput,
} from './maintenance-types.js';

/** Window ids: a letter or digit, then letters, digits, `.`, `_`, `:` or `-`; 1–128 characters. */
export const WINDOW_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const name = z.string().min(1).max(200);
const names = z.array(z.string().min(1).max(200));

const windowSchema = z
  .strictObject({
    id: z.string().regex(WINDOW_ID_PATTERN).optional(),
    name,
    start: z.date(),
    durationMs: z.number().int().positive(),
    priority: z.enum(MAINTENANCE_PRIORITIES).default('normal'),
    tasks: names.default([]),
    systems: names.min(1),
    notify: names.default([]),
    recurrence: z.string().min(1).optional(),
    timezone: z.string().min(1).optional(),
    taskTimeoutMs: z.number().int().positive().optional(),
  })
  .superRefine((window, ctx) => {
    if (window.timezone !== undefined && !isTimeZone(window.timezone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['timezone'],
        message: "an IANA time zone such as 'UTC' or 'Europe/Helsinki'",
        input: window.timezone,
      });
      return;
    }
    if (window.recurrence === undefined) return;
    const problem = cronProblem(window.recurrence, window.timezone, window.start);
    if (problem)
      ctx.addIssue({
        code: 'custom',
        path: ['recurrence'],
        message: problem,
        input: window.recurrence,
      });
  });

/** A window after validation, not yet stored. */
export type ParsedWindow = Omit<MaintenanceWindow, 'status' | 'createdAt'>;

/**
 * Validates a window for `schedule()`: the shape, the cron expression and time zone, and that
 * a one-off window has not already ended at `nowMs`. Fills in the defaults.
 */
export function parseWindow(input: MaintenanceWindowInput, nowMs: number): ParsedWindow {
  const result = windowSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const knownKeys = Object.keys(windowSchema.shape);
    const issues = toOptionIssues(result.error.issues, knownKeys).map((i) =>
      i.expected.startsWith('no such option')
        ? { ...i, expected: `no such field (valid fields: ${knownKeys.join(', ')})` }
        : i,
    );
    const lines = issues.map(
      (i) => `  - ${i.path}: expected ${i.expected}, received ${i.received}`,
    );
    throw new InvalidArgumentError(`Invalid maintenance window:\n${lines.join('\n')}`, {
      cause: result.error,
      context: { issues },
    });
  }
  const w = result.data;
  const end = w.start.getTime() + w.durationMs;
  if (w.recurrence === undefined && end <= nowMs) {
    const expected = `a window that ends after now (${new Date(nowMs).toISOString()})`;
    const received = `one ending ${new Date(end).toISOString()}`;
    throw new InvalidArgumentError(
      `Invalid maintenance window:\n  - start: expected ${expected}, received ${received}`,
      { context: { issues: [{ path: 'start', expected, received }] } },
    );
  }
  return {
    id: w.id ?? defaultWindowId(w.start),
    name: w.name,
    start: w.start,
    durationMs: w.durationMs,
    priority: w.priority,
    tasks: w.tasks,
    systems: [...new Set(w.systems)],
    notify: w.notify,
    recurrence: w.recurrence,
    timezone: w.timezone,
    taskTimeoutMs: w.taskTimeoutMs,
  };
}

/**
 * `E_INVALID_ARGUMENT` for a recurring window whose occurrences overlap each other: two of
 * them would run at once (pg_cron never starts a job while its previous run goes on).
 */
export function selfOverlapError(
  window: ParsedWindow,
  overlap: [Span, Span],
): InvalidArgumentError {
  const [first, second] = overlap;
  const gap = second.start - first.start;
  const expected = `at most the time between two occurrences (${gap} ms from ${new Date(first.start).toISOString()} to ${new Date(second.start).toISOString()})`;
  const received = `number ${window.durationMs}`;
  return new InvalidArgumentError(
    `Invalid maintenance window:\n  - durationMs: expected ${expected}, received ${received}`,
    { context: { issues: [{ path: 'durationMs', expected, received }] } },
  );
}

/** Checks a window id given to `get`, `cancel`, `perform` or `history`. */
export function checkWindowId(call: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || !WINDOW_ID_PATTERN.test(id)) {
    const expected = 'a window id (1–128 letters, digits, ".", "_", ":" or "-")';
    throw new InvalidArgumentError(
      `MaintenanceScheduler.${call}: id: expected ${expected}, received ${describeValue(id)}`,
      { context: { argument: 'id', expected, received: describeValue(id) } },
    );
  }
}

/** The seed's `MAINT-YYYYMMDD-HHMM` (UTC) with a random suffix, so two windows never clash. */
function defaultWindowId(start: Date): string {
  const iso = start.toISOString();
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 16).replace(':', '')}`;
  return `MAINT-${stamp}-${randomBytes(3).toString('hex')}`;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why `expression` is not a usable recurrence, or `undefined` when it is. */
function cronProblem(expression: string, timezone: string | undefined, start: Date) {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: timezone ?? DEFAULT_TIMEZONE, paused: true });
  } catch (error) {
    return `a cron expression such as '0 2 * * *' (${(error as Error).message})`;
  }
  if (cron.getPattern() === undefined)
    return "a cron expression such as '0 2 * * *', not a date (use start for a one-off window)";
  if (cron.nextRun(new Date(start.getTime() - 1)) === null)
    return 'a cron expression with at least one run time at or after start';
  return undefined;
}
