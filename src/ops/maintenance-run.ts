/**
 * One run of a window: its tasks in order, each under its time limit on the scheduler's
 * clock, then the status check, then the verdict. Nothing a task does (throw, hang, not
 * exist) stops the run; it becomes a failed task in the report.
 *
 * A task past its limit has its `signal` aborted and is reported `E_TIMEOUT`; the run moves
 * on without waiting for it, so a task that ignores its signal may still be working.
 */
import type { Clock } from '../core/clock.js';
import { NotFoundError, TimeoutError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { errorJson } from './maintenance-json.js';
import type {
  CompletedTask,
  FailedTask,
  MaintenanceReport,
  MaintenanceTask,
  MaintenanceWindow,
  StatusCheckResult,
} from './maintenance-types.js';

/** What a run needs from its scheduler. */
export interface RunEnvironment {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly tasks: ReadonlyMap<string, MaintenanceTask>;
  readonly statusCheck: (() => Promise<StatusCheckResult>) | undefined;
  readonly statusCheckTimeoutMs: number;
}

/** The tasks' and the status check's outcome; the caller adds the run's identity. */
export type RunOutcome = Pick<MaintenanceReport, 'completed' | 'failed' | 'statusCheck' | 'status'>;

/** Runs `window`'s tasks and the status check; never throws for a task's sake. */
export async function runWindow(
  window: MaintenanceWindow,
  env: RunEnvironment,
): Promise<RunOutcome> {
  const completed: CompletedTask[] = [];
  const failed: FailedTask[] = [];
  for (const task of window.tasks) {
    const started = env.clock.now();
    const durationMs = () => env.clock.now() - started;
    try {
      const result = await runTask(window, task, env);
      completed.push(Object.freeze({ task, durationMs: durationMs(), result }));
    } catch (error) {
      env.logger.warn({ err: error, window: window.id, task }, `maintenance task ${task} failed`);
      failed.push(Object.freeze({ task, durationMs: durationMs(), error: errorJson(error) }));
    }
  }
  const statusCheck = env.statusCheck ? await checkStatus(env) : undefined;
  const status =
    failed.length > 0 && completed.length === 0
      ? 'failed'
      : failed.length > 0 || statusCheck?.ok === false
        ? 'degraded'
        : 'ok';
  return { completed, failed, statusCheck, status };
}

/**
 * The longest a run of `window` can last, in milliseconds on the scheduler's clock: each task
 * up to its time limit, then the status check (`statusCheckTimeoutMs`, undefined without one)
 * up to its own. A run still recorded `running` after that long died with its process.
 */
export function longestRunMs(
  window: Pick<MaintenanceWindow, 'tasks' | 'taskTimeoutMs' | 'durationMs'>,
  statusCheckTimeoutMs: number | undefined,
): number {
  return (
    window.tasks.length * (window.taskTimeoutMs ?? window.durationMs) + (statusCheckTimeoutMs ?? 0)
  );
}

function runTask(window: MaintenanceWindow, task: string, env: RunEnvironment): Promise<unknown> {
  const fn = env.tasks.get(task);
  if (!fn) {
    const known = [...env.tasks.keys()].join(', ') || 'none';
    return Promise.reject(
      new NotFoundError(
        `Maintenance task "${task}" of window ${window.id} is not registered (registered: ${known}); call registerTask("${task}", fn) first`,
        { context: { window: window.id, task } },
      ),
    );
  }
  const timeoutMs = window.taskTimeoutMs ?? window.durationMs;
  const controller = new AbortController();
  const logger = env.logger.child?.({ window: window.id, task }) ?? env.logger;
  return withTimeout(
    env.clock,
    timeoutMs,
    () =>
      new TimeoutError(
        `Maintenance task "${task}" of window ${window.id} did not finish within ${timeoutMs} ms`,
        { context: { window: window.id, task, timeoutMs } },
      ),
    controller,
    () => fn({ window, signal: controller.signal, logger }),
  );
}

async function checkStatus(env: RunEnvironment): Promise<StatusCheckResult> {
  const check = env.statusCheck as () => Promise<StatusCheckResult>;
  try {
    const result = await withTimeout(
      env.clock,
      env.statusCheckTimeoutMs,
      () =>
        new TimeoutError(`The status check did not finish within ${env.statusCheckTimeoutMs} ms`),
      new AbortController(),
      check,
    );
    return Object.freeze({ ok: result?.ok === true, details: result?.details });
  } catch (error) {
    env.logger.warn({ err: error }, 'maintenance status check failed');
    return Object.freeze({ ok: false, details: { error: errorJson(error) } });
  }
}

/** Runs `work`, rejecting with `timeout()` (and aborting `controller`) after `ms` on `clock`. */
function withTimeout<T>(
  clock: Clock,
  ms: number,
  timeout: () => Error,
  controller: AbortController,
  work: () => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      const error = timeout();
      controller.abort(error);
      reject(error);
    }, ms);
    Promise.resolve()
      .then(work)
      .then(resolve, reject)
      .finally(() => clock.clearTimer(timer));
  });
}
