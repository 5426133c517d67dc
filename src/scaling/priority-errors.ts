import {
  AbortedError,
  ClosedError,
  describeValue,
  InvalidArgumentError,
  TimeoutError,
} from '../core/errors.js';
import { toOptionIssues } from '../core/options.js';
import { type ScheduleOptions, scheduleOptionsSchema } from './priority-options.js';

/**
 * Every error a PriorityScheduler raises, built in one place so each says the scheduler's
 * name, the task's name and what happened the same way.
 */

/** `E_CLOSED` for a `schedule()` call after `close()`. */
export function closedError(scheduler: string): ClosedError {
  return new ClosedError(`PriorityScheduler '${scheduler}' is closed; schedule() refused`, {
    context: { scheduler },
  });
}

/** `E_CLOSED` for a task still pending when `close({ drain: false })` was called. */
export function closedBeforeDoneError(scheduler: string, task: string): ClosedError {
  return new ClosedError(
    `PriorityScheduler '${scheduler}' closed without draining before task '${task}' finished`,
    { context: { scheduler, task } },
  );
}

/** `E_ABORTED` for a task whose signal aborted; the signal's reason is the cause. */
export function abortedError(scheduler: string, task: string, signal: AbortSignal): AbortedError {
  return new AbortedError(`PriorityScheduler '${scheduler}': task '${task}' was aborted`, {
    cause: signal.reason,
    context: { scheduler, task },
  });
}

/** `E_TIMEOUT` for an attempt that ran past its `timeoutMs`. */
export function timeoutError(
  scheduler: string,
  task: string,
  timeoutMs: number,
  attempt: number,
): TimeoutError {
  return new TimeoutError(
    `PriorityScheduler '${scheduler}': task '${task}' timed out after ${timeoutMs} ms (attempt ${attempt})`,
    { context: { scheduler, task, timeoutMs, attempt } },
  );
}

/**
 * Checks the arguments of one `schedule()` call: the parsed options, or `E_INVALID_ARGUMENT`
 * listing each bad option with what was expected and what was received.
 */
export function parseScheduleCall(
  scheduler: string,
  fn: unknown,
  options: unknown,
): ScheduleOptions | InvalidArgumentError {
  if (typeof fn !== 'function') {
    return new InvalidArgumentError(
      `PriorityScheduler '${scheduler}': schedule(fn) expected fn to be a function, received ${describeValue(fn)}`,
      { context: { scheduler, fn } },
    );
  }
  if (options === undefined) return {};
  const result = scheduleOptionsSchema.safeParse(options, { reportInput: true });
  if (result.success) return result.data;
  const issues = toOptionIssues(result.error.issues, Object.keys(scheduleOptionsSchema.shape)).map(
    (i) => ({ ...i, path: i.path === '(options)' ? 'options' : `options.${i.path}` }),
  );
  const lines = issues.map((i) => `  - ${i.path}: expected ${i.expected}, received ${i.received}`);
  return new InvalidArgumentError(
    `PriorityScheduler '${scheduler}': invalid schedule() options:\n${lines.join('\n')}`,
    { cause: result.error, context: { scheduler, issues } },
  );
}
