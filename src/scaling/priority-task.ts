import type { TimerHandle } from '../core/clock.js';
import type { BackoffOptions, ScheduledTask } from './priority-options.js';

/**
 * Where a task is: in its level's waiting list, handed to p-queue, running, finished an
 * attempt whose p-queue promise has not yet settled, waiting out a backoff, or settled.
 */
export type TaskState = 'waiting' | 'queued' | 'running' | 'ended' | 'backoff' | 'done';

/** What a task is given at `schedule()` and keeps across all its attempts. */
export interface TaskSpec {
  /** p-queue's id for `setPriority`. */
  readonly id: string;
  readonly name: string;
  /** Index into `PRIORITY_LEVELS` (0 = critical): the level it counts against. */
  readonly level: number;
  readonly fn: ScheduledTask<unknown>;
  readonly timeoutMs: number | undefined;
  readonly retries: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** One scheduled call of {@link PriorityScheduler.schedule}, across all its attempts. */
export interface Task extends TaskSpec {
  state: TaskState;
  /** Attempts started so far. */
  attempt: number;
  /** The level it is ordered as, after ageing; never greater than `level`. */
  rank: number;
  /** When it last joined its level's waiting list, in clock ms. */
  enteredAt: number;
  /** The current attempt's controller: p-queue's `signal` and the one `fn` receives. */
  controller: AbortController | undefined;
  /** The ageing, timeout or backoff timer; a task is in at most one of those states. */
  timer: TimerHandle | undefined;
  /** Why the task was cancelled, once it was: it then settles with this and never retries. */
  cancelled: unknown;
  /** The listener on the caller's signal, removed when the task settles. */
  onAbort: (() => void) | undefined;
}

/** A task not yet entered in its level's waiting list. */
export function newTask(spec: TaskSpec): Task {
  return {
    ...spec,
    state: 'waiting',
    attempt: 0,
    rank: spec.level,
    enteredAt: 0,
    controller: undefined,
    timer: undefined,
    cancelled: undefined,
    onAbort: undefined,
  };
}

/**
 * What a failed attempt leads to: another attempt, or settling as cancelled or failed. A
 * `retryIf` that throws counts as `false`, so the task fails with its own error.
 */
export function taskFailure(
  task: Task,
  error: unknown,
  retryIf: ((error: unknown) => boolean) | undefined,
): 'retry' | 'failed' | 'cancelled' {
  if (task.cancelled !== undefined) return 'cancelled';
  if (task.attempt > task.retries) return 'failed';
  if (retryIf === undefined) return 'retry';
  try {
    return retryIf(error) ? 'retry' : 'failed';
  } catch {
    return 'failed';
  }
}

/**
 * The wait before retry number `retry` (1 for the first), in ms: full jitter over an
 * exponential ceiling, `random() × min(maxMs, baseMs × factor^(retry-1))`.
 */
export function backoffDelay(
  backoff: Required<BackoffOptions>,
  retry: number,
  random: () => number,
): number {
  return random() * Math.min(backoff.maxMs, backoff.baseMs * backoff.factor ** (retry - 1));
}
