/**
 * Time as components see it. Every component takes a `clock` option so tests drive time with
 * {@link ManualClock} instead of sleeping.
 */

/** An opaque handle returned by {@link Clock.setTimeout} and {@link Clock.setInterval}. */
export interface TimerHandle {
  /** Lets the process exit while this timer is pending (no-op on the manual clock). */
  unref(): TimerHandle;
}

/** The source of time and timers a component uses. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  setInterval(callback: () => void, intervalMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The longest delay Node's timers take; longer ones fire after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A timeout longer than Node's timers allow (about 24.8 days), or `Infinity`: chained timers of
 * at most {@link MAX_TIMER_MS} each, so it fires when due rather than after 1 ms; `Infinity`
 * never fires and holds no timer.
 */
class LongTimeout implements TimerHandle {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unref = false;

  constructor(callback: () => void, delayMs: number) {
    this.#arm(callback, Date.now() + delayMs);
  }

  unref(): TimerHandle {
    this.#unref = true;
    this.#timer?.unref();
    return this;
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(callback: () => void, dueAt: number): void {
    if (dueAt === Number.POSITIVE_INFINITY) return;
    const left = dueAt - Date.now();
    this.#timer = setTimeout(
      () => (left > MAX_TIMER_MS ? this.#arm(callback, dueAt) : callback()),
      Math.min(left, MAX_TIMER_MS),
    );
    if (this.#unref) this.#timer.unref();
  }
}

/** The real clock: `Date.now()` and Node's timers (timeouts of any length, `Infinity` included). */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number): TimerHandle =>
    delayMs > MAX_TIMER_MS ? new LongTimeout(callback, delayMs) : setTimeout(callback, delayMs),
  setInterval: (callback: () => void, intervalMs: number) => setInterval(callback, intervalMs),
  clearTimer: (handle: TimerHandle) => {
    if (handle instanceof LongTimeout) handle.clear();
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
});

interface ManualTimer extends TimerHandle {
  readonly id: number;
  dueAt: number;
  readonly intervalMs: number | undefined;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` fires every timer that falls due within
 * the step, in due-time order (ties in creation order), with `now()` set to each timer's due
 * time while it runs; timers created by a callback fire in the same step if they fall due in it.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, ManualTimer>();

  /** @param startMs the initial `now()`. @default 0 */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return this.#add(callback, delayMs, undefined);
  }

  setInterval(callback: () => void, intervalMs: number): TimerHandle {
    return this.#add(callback, intervalMs, Math.max(1, intervalMs));
  }

  clearTimer(handle: TimerHandle): void {
    const id = (handle as Partial<ManualTimer>).id;
    if (id !== undefined) this.#timers.delete(id);
  }

  /** How many timers are waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order. Returns how many fired. */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`advance(ms) expects ms >= 0, received ${ms}`);
    const target = this.#now + ms;
    let fired = 0;
    for (let timer = this.#nextDue(target); timer; timer = this.#nextDue(target)) {
      this.#now = timer.dueAt;
      this.#fire(timer);
      fired++;
    }
    this.#now = target;
    return fired;
  }

  /**
   * Like {@link advance}, but lets promise callbacks run after every timer, so async code that
   * awaits between timers (a retry loop, a batch flush) sees each step.
   */
  async advanceAsync(ms: number): Promise<number> {
    if (!(ms >= 0)) throw new RangeError(`advanceAsync(ms) expects ms >= 0, received ${ms}`);
    const target = this.#now + ms;
    let fired = 0;
    await flushMicrotasks();
    for (let timer = this.#nextDue(target); timer; timer = this.#nextDue(target)) {
      this.#now = timer.dueAt;
      this.#fire(timer);
      fired++;
      await flushMicrotasks();
    }
    this.#now = target;
    return fired;
  }

  #add(callback: () => void, delayMs: number, intervalMs: number | undefined): ManualTimer {
    const timer: ManualTimer = {
      id: this.#nextId++,
      dueAt: this.#now + Math.max(0, delayMs),
      intervalMs,
      callback,
      unref: () => timer,
    };
    this.#timers.set(timer.id, timer);
    return timer;
  }

  #nextDue(target: number): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.dueAt <= target && (!next || timer.dueAt < next.dueAt)) next = timer;
    }
    return next;
  }

  #fire(timer: ManualTimer): void {
    if (timer.intervalMs === undefined) this.#timers.delete(timer.id);
    else timer.dueAt += timer.intervalMs;
    timer.callback();
  }
}

function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves after `ms` on `clock`; rejects with the signal's reason if `signal` aborts first.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clock.clearTimer(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
