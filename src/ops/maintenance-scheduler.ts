/**
 * `MaintenanceScheduler`: maintenance windows (when, how long, which systems go down, which
 * tasks run, who is told) kept in the caller's database, so a restarted service — or another
 * instance on the same database — sees every window and every report.
 *
 * Two windows sharing a system may not overlap (`E_WINDOW_CONFLICT`; recurring windows are
 * compared over `conflictHorizonMs`, see `maintenance-occurrences.ts`), nor may two
 * occurrences of one window (`E_INVALID_ARGUMENT`). `perform(id)` runs a
 * window's tasks now; after `start()` the scheduler runs each occurrence when it falls due on
 * its clock. Each occurrence is claimed in the database before it runs, so it runs at most
 * once however many schedulers share the tables; one that passed entirely while no scheduler
 * was started is skipped, and one whose process died mid-run is not run again. No occurrence
 * starts while the window's previous run may still be going (for up to its tasks' time limits
 * and the status check's), even one outlasting its window.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { parseOptions } from '../core/options.js';
import { detectDialect } from '../retention/sql.js';
import { errorJson } from './maintenance-json.js';
import {
  findCollision,
  occurrencesBetween,
  selfOverlap,
  windowConflictError,
} from './maintenance-occurrences.js';
import {
  type MaintenanceSchedulerOptions,
  type ParsedSchedulerOptions,
  schedulerOptionsSchema,
} from './maintenance-options.js';
import { MaintenancePlanner, priorityRank } from './maintenance-planner.js';
import { longestRunMs, runWindow } from './maintenance-run.js';
import { MaintenanceStore, type RunClaim } from './maintenance-store.js';
import type {
  MaintenanceEvent,
  MaintenanceOccurrence,
  MaintenanceReport,
  MaintenanceTask,
  MaintenanceWindow,
  MaintenanceWindowInput,
} from './maintenance-types.js';
import { checkWindowId, parseWindow, selfOverlapError } from './maintenance-window.js';
import { notifyAll } from './notifiers.js';

/** Maintenance windows in a database, their conflicts, their tasks and their runs; see above. */
export class MaintenanceScheduler implements AsyncDisposable {
  readonly #options: ParsedSchedulerOptions;
  readonly #store: MaintenanceStore;
  readonly #log: Logger;
  readonly #tasks = new Map<string, MaintenanceTask>();
  readonly #lifecycle = new Lifecycle('MaintenanceScheduler', () => this.stop());
  /** Windows running in this process (by `perform` or the schedule). */
  readonly #active = new Set<string>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #planner: MaintenancePlanner;
  #ready: Promise<void> | undefined;

  constructor(options: MaintenanceSchedulerOptions) {
    this.#options = parseOptions('MaintenanceScheduler', schedulerOptionsSchema, options);
    const { db, tablePrefix } = this.#options;
    this.#store = new MaintenanceStore(db, detectDialect(db), tablePrefix);
    this.#log = componentLogger(this.#options.logger, 'MaintenanceScheduler');
    for (const [name, fn] of Object.entries(this.#options.tasks)) this.registerTask(name, fn);
    this.#planner = new MaintenancePlanner({
      store: this.#store,
      clock: this.#options.clock,
      pollIntervalMs: this.#options.pollIntervalMs,
      logger: this.#log,
      ready: () => this.#ensureTables(),
      isActive: (id) => this.#active.has(id),
      longestRunMs: (window) =>
        longestRunMs(
          window,
          this.#options.statusCheck ? this.#options.statusCheckTimeoutMs : undefined,
        ),
      // A failed run was already logged and notified by #execute.
      launch: (window, claim) => void this.#track(window, claim).catch(() => {}),
    });
  }

  /** Makes `name` runnable by windows; `E_CONFLICT` if the name is taken. */
  registerTask(name: string, fn: MaintenanceTask): void {
    if (typeof name !== 'string' || name.length === 0 || typeof fn !== 'function')
      throw new InvalidArgumentError(
        `MaintenanceScheduler.registerTask: expected (name: non-empty string, fn: function), received (${typeof name}, ${typeof fn})`,
      );
    if (this.#tasks.has(name))
      throw new ConflictError(`Maintenance task "${name}" is already registered`, {
        context: { task: name },
      });
    this.#tasks.set(name, fn);
  }

  /** The registered task names. */
  get taskNames(): string[] {
    return [...this.#tasks.keys()];
  }

  /**
   * Stores a window and tells the notifiers. `E_INVALID_ARGUMENT` for a malformed window (or
   * a recurring one lasting longer than the time between its occurrences),
   * `E_CONFLICT` for a taken id, `E_WINDOW_CONFLICT` when it overlaps a window on a shared system.
   */
  async schedule(input: MaintenanceWindowInput): Promise<MaintenanceWindow> {
    this.#lifecycle.assertOpen('schedule');
    const now = this.#options.clock.now();
    const window = parseWindow(input, now);
    await this.#ensureTables();
    const stored = await this.#store.exclusive(async (db) => {
      const existing = await this.#store.window(window.id, db);
      if (existing)
        throw new ConflictError(
          `A maintenance window with id ${window.id} already exists (${JSON.stringify(existing.name)})`,
          { context: { window: window.id } },
        );
      const from = Math.max(now, window.start.getTime());
      const oneOffEnd = window.recurrence ? 0 : window.start.getTime() + window.durationMs;
      const to = Math.max(from + this.#options.conflictHorizonMs, oneOffEnd);
      const overlap = selfOverlap(window, from, to);
      if (overlap) throw selfOverlapError(window, overlap);
      const others = await this.#store.scheduledWindows(db);
      const collision = findCollision(window, others, from, to);
      if (collision) throw windowConflictError(window, collision);
      await this.#store.insertWindow(db, window, now);
      return (await this.#store.window(window.id, db)) as MaintenanceWindow;
    });
    const unknown = stored.tasks.filter((t) => !this.#tasks.has(t));
    if (unknown.length > 0)
      this.#log.warn({ window: stored.id, tasks: unknown }, 'window names unregistered tasks');
    await this.#notify({ type: 'scheduled', window: stored, at: this.#now() });
    await this.#planner.replan();
    return stored;
  }

  /** Cancels a window: it never runs again and frees its systems. A run in progress finishes. */
  async cancel(id: string): Promise<MaintenanceWindow> {
    this.#lifecycle.assertOpen('cancel');
    await this.get(id);
    if (await this.#store.cancelWindow(id, this.#options.clock.now())) {
      const window = await this.get(id);
      await this.#notify({ type: 'cancelled', window, at: this.#now() });
      await this.#planner.replan();
    }
    return this.get(id);
  }

  /** A window, scheduled or cancelled; `E_NOT_FOUND` when there is none. */
  async get(id: string): Promise<MaintenanceWindow> {
    checkWindowId('get', id);
    await this.#ensureTables();
    const window = await this.#store.window(id);
    if (!window)
      throw new NotFoundError(`No maintenance window with id ${id}`, { context: { window: id } });
    return window;
  }

  /** The windows not cancelled, in the order they were scheduled. */
  async windows(): Promise<MaintenanceWindow[]> {
    await this.#ensureTables();
    return this.#store.scheduledWindows();
  }

  /**
   * Occurrences of the scheduled windows overlapping `[from, to)`, by start time, then
   * priority. @default from now, to 30 days after `from`
   */
  async list(
    range: { readonly from?: Date; readonly to?: Date } = {},
  ): Promise<MaintenanceOccurrence[]> {
    const from = range.from ?? new Date(this.#options.clock.now());
    const to = range.to ?? new Date(Number(from) + 30 * 86_400_000);
    if (!(from instanceof Date && to instanceof Date && from.getTime() < to.getTime()))
      throw new InvalidArgumentError(
        `MaintenanceScheduler.list: expected { from: Date, to: Date } with from before to, received from ${String(from)}, to ${String(to)}`,
      );
    await this.#ensureTables();
    const windows = await this.#store.scheduledWindows();
    return windows
      .flatMap((window) =>
        occurrencesBetween(window, from.getTime(), to.getTime()).map((span) =>
          Object.freeze({ window, start: new Date(span.start), end: new Date(span.end) }),
        ),
      )
      .sort(
        (a, b) =>
          a.start.getTime() - b.start.getTime() || priorityRank(a.window) - priorityRank(b.window),
      );
  }

  /**
   * Runs a window's tasks now, in order, then the status check; persists and returns the
   * report. Failed tasks are in the report, not thrown. `E_CONFLICT` if the window is
   * cancelled or already running in this process.
   */
  async perform(id: string): Promise<MaintenanceReport> {
    this.#lifecycle.assertOpen('perform');
    const window = await this.get(id);
    if (window.status === 'cancelled' || this.#active.has(id))
      throw new ConflictError(
        `Maintenance window ${id} ${window.status === 'cancelled' ? 'was cancelled' : 'is already running'}`,
        { context: { window: id } },
      );
    const claim: RunClaim = {
      id: `${id}@manual:${randomUUID()}`,
      windowId: id,
      trigger: 'manual',
      occurrence: undefined,
      startedAt: this.#options.clock.now(),
    };
    this.#active.add(id); // before the await, so a second perform(id) is refused
    try {
      await this.#store.claimRun(claim);
    } catch (error) {
      this.#active.delete(id);
      throw error;
    }
    return this.#track(window, claim);
  }

  /** The reports of a window's finished runs, oldest first; results as JSON read back. */
  async history(id: string): Promise<MaintenanceReport[]> {
    await this.get(id);
    return this.#store.history(id);
  }

  /**
   * Runs windows as they fall due on the clock, from now on; resolves once the timer is armed.
   * Called again while started, it resolves when the scheduler's current planning is done.
   */
  start(): Promise<void> {
    this.#lifecycle.assertOpen('start');
    return this.#planner.start();
  }

  /** Stops running windows as they fall due; resolves when runs already started have finished. */
  async stop(): Promise<void> {
    await this.#planner.stop();
    await Promise.allSettled([...this.#inflight]);
  }

  /** Stops the scheduler (see `stop`); idempotent. The database stays open: it is the caller's. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #now(): Date {
    return new Date(this.#options.clock.now());
  }

  #ensureTables(): Promise<void> {
    this.#ready ??= this.#store.ensureTables().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Runs a claimed run, keeping it in the active and in-flight sets while it lasts. */
  #track(window: MaintenanceWindow, claim: RunClaim): Promise<MaintenanceReport> {
    this.#active.add(window.id);
    const run = this.#execute(window, claim).finally(() => {
      this.#active.delete(window.id);
      this.#inflight.delete(run);
      void this.#planner.replan();
    });
    this.#inflight.add(run);
    return run;
  }

  async #execute(window: MaintenanceWindow, claim: RunClaim): Promise<MaintenanceReport> {
    const occurrence = claim.occurrence === undefined ? undefined : new Date(claim.occurrence);
    await this.#notify({ type: 'starting', window, at: this.#now(), occurrence });
    try {
      const outcome = await runWindow(window, {
        clock: this.#options.clock,
        logger: this.#log,
        tasks: this.#tasks,
        statusCheck: this.#options.statusCheck,
        statusCheckTimeoutMs: this.#options.statusCheckTimeoutMs,
      });
      const report: MaintenanceReport = Object.freeze({
        id: claim.id,
        windowId: window.id,
        trigger: claim.trigger,
        occurrence,
        startedAt: new Date(claim.startedAt),
        finishedAt: this.#now(),
        ...outcome,
      });
      await this.#store.finishRun(report);
      const type = report.status === 'failed' ? 'failed' : 'completed';
      await this.#notify({ type, window, at: this.#now(), report });
      return report;
    } catch (error) {
      this.#log.error({ err: error, window: window.id }, 'maintenance run could not finish');
      await this.#notify({ type: 'failed', window, at: this.#now(), error: errorJson(error) });
      throw error;
    }
  }

  #notify(event: MaintenanceEvent): Promise<void> {
    return notifyAll(this.#options.notifiers, event, this.#log);
  }
}
