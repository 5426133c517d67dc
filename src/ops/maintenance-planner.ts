/**
 * The clock side of {@link MaintenanceScheduler}: while started, it rereads the windows,
 * claims the occurrences that are due and hands them to the scheduler, and sleeps on the
 * clock until the next occurrence starts (or `pollIntervalMs`, to see windows other
 * processes added). Plans run one at a time, so an occurrence is never claimed twice here;
 * the claim row in the database keeps other processes from running it too, and from
 * starting the window's next occurrence while a run of it is still going.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { nextOccurrence } from './maintenance-occurrences.js';
import type { MaintenanceStore, RunClaim } from './maintenance-store.js';
import { MAINTENANCE_PRIORITIES, type MaintenanceWindow } from './maintenance-types.js';

/** What the planner needs from its scheduler. */
export interface PlannerEnvironment {
  readonly store: MaintenanceStore;
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  readonly logger: Logger;
  /** Resolves once the tables exist. */
  readonly ready: () => Promise<void>;
  /** True while a window runs in this process; it is planned again when the run ends. */
  readonly isActive: (windowId: string) => boolean;
  /** The longest a run of `window` can last, in milliseconds: no occurrence starts while one may be going. */
  readonly longestRunMs: (window: MaintenanceWindow) => number;
  /** Runs a claimed occurrence in the background. */
  readonly launch: (window: MaintenanceWindow, claim: RunClaim) => void;
}

/** 0 for `critical` through 3 for `low`: due windows start in this order. */
export const priorityRank = (w: MaintenanceWindow) => MAINTENANCE_PRIORITIES.indexOf(w.priority);

/** Wakes on the clock when windows fall due and hands their occurrences to the scheduler. */
export class MaintenancePlanner {
  readonly #env: PlannerEnvironment;
  #started = false;
  #planning: Promise<void> = Promise.resolve();
  #timer: TimerHandle | undefined;

  constructor(env: PlannerEnvironment) {
    this.#env = env;
  }

  /**
   * Plans now and after every wake-up; resolves once the first plan has armed the timer
   * (when already started: once the plan in progress, if any, is done).
   */
  start(): Promise<void> {
    if (this.#started) return this.#planning;
    this.#started = true;
    return this.replan();
  }

  /** Stops planning; resolves when a plan in progress has finished. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== undefined) this.#env.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    await this.#planning;
  }

  /** Plans again now (after a change of the windows or the end of a run) when started. */
  replan(): Promise<void> {
    if (!this.#started) return this.#planning;
    this.#planning = this.#planning.then(() =>
      this.#plan().catch((error: unknown) =>
        this.#env.logger.error(
          { err: error },
          'maintenance planning failed; retrying after pollIntervalMs',
        ),
      ),
    );
    return this.#planning;
  }

  async #plan(): Promise<void> {
    if (!this.#started) return;
    const { clock, store } = this.#env;
    const now = clock.now();
    let wake = now + this.#env.pollIntervalMs;
    try {
      await this.#env.ready();
      const [windows, last] = await Promise.all([
        store.scheduledWindows(),
        store.lastOccurrences(),
      ]);
      const due: { window: MaintenanceWindow; start: number }[] = [];
      for (const window of windows) {
        if (this.#env.isActive(window.id)) continue;
        const span = nextOccurrence(window, last.get(window.id) ?? Number.NEGATIVE_INFINITY, now);
        if (span && span.start <= now) due.push({ window, start: span.start });
        else if (span) wake = Math.min(wake, span.start);
      }
      due.sort((a, b) => priorityRank(a.window) - priorityRank(b.window));
      for (const { window, start } of due) {
        const claim: RunClaim = {
          id: `${window.id}@${start}`,
          windowId: window.id,
          trigger: 'schedule',
          occurrence: start,
          startedAt: clock.now(),
        };
        if (await store.claimOccurrence(claim, this.#env.longestRunMs(window)))
          this.#env.launch(window, claim);
      }
    } finally {
      this.#arm(Math.max(0, wake - clock.now()));
    }
  }

  #arm(delayMs: number): void {
    if (!this.#started) return;
    const { clock } = this.#env;
    if (this.#timer !== undefined) clock.clearTimer(this.#timer);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      void this.replan();
    }, delayMs);
  }
}
