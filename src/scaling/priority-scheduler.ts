import PQueue from 'p-queue';
import { type Clock, systemClock } from '../core/clock.js';
import { InvalidArgumentError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import {
  abortedError,
  closedBeforeDoneError,
  closedError,
  parseScheduleCall,
  timeoutError,
} from './priority-errors.js';
import { PriorityLevel, type PrioritySchedulerStats } from './priority-level.js';
import { type SchedulerMetrics, schedulerMetrics } from './priority-metrics.js';
import {
  type ParsedSchedulerOptions,
  PRIORITY_LEVELS,
  type PrioritySchedulerOptions,
  prioritySchedulerOptionsSchema,
  type ScheduledTask,
  type ScheduleOptions,
} from './priority-options.js';
import { backoffDelay, newTask, type Task, taskFailure } from './priority-task.js';

/*
 * Design, in the order a task meets it:
 * - No head-of-line blocking: each level keeps a FIFO waiting list outside p-queue, and hands
 *   a task to p-queue only while fewer than `perLevel[level]` of its tasks are there (queued or
 *   running). p-queue thus holds only work that may start as soon as an overall slot frees, and
 *   applies `concurrency` and priorities (critical 4 … background 0, FIFO within one).
 * - Ageing: a waiting task has one clock timer; every `agingMs` it moves up one level for
 *   ordering (`setPriority` once in p-queue), joining the back of that level. It still counts
 *   against its own level's limit and stats, so ageing never lets background work exceed
 *   `perLevel.background`; it only stops a stream of higher work from starving it.
 * - Timeouts and cancellation abort the attempt's AbortController, which is both p-queue's
 *   `signal` (a queued task is removed; a running one frees its slot at once, as with p-queue's
 *   own timeout) and the signal the task receives. Timeouts run on the injected clock rather
 *   than p-queue's `timeout`, whose real timers a ManualClock cannot drive.
 * - An attempt frees its level slot synchronously as it ends, before p-queue frees the overall
 *   slot, so the next task of that level is already in p-queue when p-queue picks.
 * - Retries wait out their backoff holding no slot, then join the back of their level again.
 */

/**
 * Runs work by priority (critical … background) on p-queue, with an overall and a per-level
 * concurrency limit, ageing so low levels cannot starve, per-attempt timeouts, retries with
 * exponential backoff and full jitter, and cancellation by AbortSignal.
 *
 * ```ts
 * const scheduler = new PriorityScheduler({ concurrency: 4, perLevel: { background: 1 } });
 * const text = await scheduler.schedule(({ signal }) => ocr(image, { signal }), {
 *   priority: Priority.HIGH,
 *   timeoutMs: 2_000,
 *   retries: 2,
 * });
 * ```
 */
export class PriorityScheduler {
  readonly #options: ParsedSchedulerOptions;
  readonly #clock: Clock;
  readonly #queue: PQueue;
  readonly #levels: PriorityLevel[];
  readonly #metrics: SchedulerMetrics;
  readonly #live = new Set<Task>();
  #idleWaiters: (() => void)[] = [];
  #closing: Promise<void> | undefined;
  #nextId = 1;

  /** Validates `options` (throws `E_INVALID_OPTIONS`) and starts accepting work. */
  constructor(options: PrioritySchedulerOptions = {}) {
    const o = parseOptions('PriorityScheduler', prioritySchedulerOptionsSchema, options);
    this.#options = o;
    this.#clock = o.clock ?? systemClock;
    this.#queue = new PQueue({ concurrency: o.concurrency });
    this.#levels = PRIORITY_LEVELS.map(
      (p) => new PriorityLevel(o.perLevel[p] ?? Number.POSITIVE_INFINITY, o.statsWindow),
    );
    this.#metrics = schedulerMetrics(o.meterProvider, o.name);
  }

  /**
   * Runs `fn` when its turn comes and resolves with its result. Every failure arrives through
   * the promise: `E_INVALID_ARGUMENT`, `E_CLOSED`, `E_ABORTED`, `E_TIMEOUT`, or `fn`'s own
   * error after its last retry.
   */
  schedule<T>(fn: ScheduledTask<T>, options?: ScheduleOptions): Promise<T> {
    const scheduler = this.#options.name;
    if (this.#closing) return Promise.reject(closedError(scheduler));
    const call = parseScheduleCall(scheduler, fn, options);
    if (call instanceof InvalidArgumentError) return Promise.reject(call);
    const name = call.name ?? `task-${this.#nextId}`;
    const { signal } = call;
    if (signal?.aborted) return Promise.reject(abortedError(scheduler, name, signal));
    return new Promise<T>((resolve, reject) => {
      const task = newTask({
        id: String(this.#nextId++),
        name,
        level: PRIORITY_LEVELS.indexOf(call.priority ?? 'normal'),
        fn,
        timeoutMs: call.timeoutMs ?? this.#options.timeoutMs,
        retries: call.retries ?? this.#options.retries,
        signal,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (signal) {
        task.onAbort = () => this.#cancel(task, abortedError(scheduler, name, signal));
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.#live.add(task);
      this.#enter(task);
    });
  }

  /** Per-level counts and recent wait-time percentiles, by each task's own level. */
  stats(): PrioritySchedulerStats {
    const entries = PRIORITY_LEVELS.map((p, i) => [p, this.#levelOf(i).counters.snapshot()]);
    return Object.fromEntries(entries) as PrioritySchedulerStats;
  }

  /** Resolves once no task is waiting, running or backing off. */
  onIdle(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops starting tasks; running ones go on, and waiting ones keep ageing. */
  pause(): void {
    this.#queue.pause();
  }

  /** Starts tasks again after {@link pause}. */
  resume(): void {
    this.#queue.start();
  }

  /** True between {@link pause} and {@link resume}. */
  get isPaused(): boolean {
    return this.#queue.isPaused;
  }

  /**
   * Refuses new work with `E_CLOSED` and resolves once every task has settled. With
   * `drain: true` (the default) accepted tasks run to the end, retries included; with
   * `drain: false` they reject with `E_CLOSED` and running ones see their signal abort.
   * A paused scheduler drains only after {@link resume}. Idempotent.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.onIdle();
    if (options.drain === false) {
      for (const task of [...this.#live]) {
        this.#cancel(task, closedBeforeDoneError(this.#options.name, task.name));
      }
    }
    return this.#closing;
  }

  /** Puts a task at the back of its level's waiting list and starts its ageing. */
  #enter(task: Task): void {
    const level = this.#levelOf(task.level);
    task.state = 'waiting';
    task.rank = task.level;
    task.enteredAt = this.#clock.now();
    level.counters.queued++;
    level.waiting.push(task);
    this.#scheduleAgeing(task);
    this.#admit(level);
  }

  /** Hands waiting tasks of `level` to p-queue while the level has room. */
  #admit(level: PriorityLevel): void {
    for (let task = level.takeAdmissible(); task; task = level.takeAdmissible()) {
      const admitted = task;
      const controller = new AbortController();
      admitted.state = 'queued';
      admitted.controller = controller;
      this.#queue
        .add(() => this.#run(admitted, controller.signal), {
          id: admitted.id,
          priority: PRIORITY_LEVELS.length - 1 - admitted.rank,
          signal: controller.signal,
        })
        .then(
          (value) => this.#settle(admitted, 'completed', value),
          (error: unknown) => this.#attemptFailed(admitted, error),
        );
    }
  }

  /** One attempt, called by p-queue synchronously as it starts the task. */
  async #run(task: Task, signal: AbortSignal): Promise<unknown> {
    const { counters } = this.#levelOf(task.level);
    this.#clearTimer(task);
    task.state = 'running';
    task.attempt++;
    const waited = this.#clock.now() - task.enteredAt;
    this.#levelOf(task.level).started(waited);
    this.#metrics.wait(task.level, waited);
    const { timeoutMs, attempt } = task;
    if (timeoutMs !== undefined) {
      task.timer = this.#clock.setTimeout(() => {
        counters.timedOut++;
        this.#metrics.timedOut(task.level);
        this.#abortAttempt(task, timeoutError(this.#options.name, task.name, timeoutMs, attempt));
      }, timeoutMs);
    }
    try {
      return await task.fn({ signal, attempt, name: task.name });
    } finally {
      // A retry may be running by now if this attempt was aborted and ignored its signal.
      if (task.controller?.signal === signal) this.#endAttempt(task);
    }
  }

  /** Frees the attempt's level slot and counts it as over; safe to call more than once. */
  #endAttempt(task: Task): void {
    if (task.state !== 'queued' && task.state !== 'running') return;
    const level = this.#levelOf(task.level);
    level.release(task.state === 'running');
    task.state = 'ended';
    this.#clearTimer(task);
    this.#admit(level);
  }

  /** Ends the attempt now and aborts its signal; p-queue then rejects it with `reason`. */
  #abortAttempt(task: Task, reason: unknown): void {
    this.#endAttempt(task);
    task.controller?.abort(reason);
  }

  #cancel(task: Task, reason: unknown): void {
    if (task.state === 'done' || task.cancelled !== undefined) return;
    task.cancelled = reason;
    const level = this.#levelOf(task.level);
    switch (task.state) {
      case 'queued':
      case 'running':
        this.#abortAttempt(task, reason);
        return;
      case 'ended':
        return; // p-queue's settlement is on its way and will see `cancelled`.
      case 'waiting':
        level.removeWaiting(task);
        break;
      case 'backoff':
        level.counters.backingOff--;
        break;
    }
    this.#settle(task, 'cancelled', reason);
  }

  #attemptFailed(task: Task, error: unknown): void {
    if (task.state === 'done') return;
    const outcome = taskFailure(task, error, this.#options.retryIf);
    if (outcome !== 'retry') {
      this.#settle(task, outcome, task.cancelled ?? error);
      return;
    }
    const { counters } = this.#levelOf(task.level);
    counters.retried++;
    counters.backingOff++;
    this.#metrics.retried(task.level);
    task.state = 'backoff';
    const delay = backoffDelay(this.#options.backoff, task.attempt, this.#options.random);
    task.timer = this.#clock.setTimeout(() => {
      task.timer = undefined;
      counters.backingOff--;
      this.#enter(task);
    }, delay);
  }

  #settle(task: Task, outcome: 'completed' | 'failed' | 'cancelled', result: unknown): void {
    if (task.state === 'done') return;
    task.state = 'done';
    this.#clearTimer(task);
    if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
    this.#levelOf(task.level).counters[outcome]++;
    this.#metrics.settled(task.level, outcome);
    if (outcome === 'completed') task.resolve(result);
    else task.reject(result);
    this.#live.delete(task);
    if (this.#live.size > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #scheduleAgeing(task: Task): void {
    if (task.rank === 0 || !Number.isFinite(this.#options.agingMs)) return;
    task.timer = this.#clock.setTimeout(() => {
      task.timer = undefined;
      task.rank--;
      this.#levelOf(task.level).counters.aged++;
      this.#metrics.aged(task.level);
      if (task.state === 'queued') {
        this.#queue.setPriority(task.id, PRIORITY_LEVELS.length - 1 - task.rank);
      }
      this.#scheduleAgeing(task);
    }, this.#options.agingMs);
  }

  #levelOf(index: number): PriorityLevel {
    return this.#levels[index] as PriorityLevel;
  }

  #clearTimer(task: Task): void {
    if (task.timer === undefined) return;
    this.#clock.clearTimer(task.timer);
    task.timer = undefined;
  }
}
