import { ManualClock, sleep, systemClock } from 'salama';
import { afterEach, describe, expect, it, vi } from 'vitest';

describe('ManualClock', () => {
  it('fires due timers in due-time order, ties in creation order, at their due time', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push('late'), 31);
    expect(clock.advance(30)).toBe(3);
    expect(fired).toEqual(['a@1010', 'b@1010', 'c@1030']);
    expect(clock.now()).toBe(1030);
    expect(clock.pendingTimers).toBe(1);
  });

  it('fires timers scheduled by a callback within the same step', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
    }, 5);
    clock.advance(10);
    expect(fired).toEqual([5, 10]);
  });

  it('repeats intervals until cleared', () => {
    const clock = new ManualClock();
    let ticks = 0;
    const handle = clock.setInterval(() => ticks++, 100);
    clock.advance(350);
    expect(ticks).toBe(3);
    clock.clearTimer(handle);
    clock.advance(1000);
    expect(ticks).toBe(3);
  });

  it('does not fire a cleared timeout', () => {
    const clock = new ManualClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 1);
    clock.clearTimer(handle);
    clock.advance(5);
    expect(fired).toBe(false);
  });

  it('rejects moving backwards', () => {
    expect(() => new ManualClock().advance(-1)).toThrow(RangeError);
  });

  it('lets async code run between timers with advanceAsync', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(clock, 100);
        seen.push(clock.now());
      }
    })();
    await clock.advanceAsync(300);
    await loop;
    expect(seen).toEqual([100, 200, 300]);
  });
});

describe('sleep', () => {
  it('rejects with the abort reason and clears its timer', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const pending = sleep(clock, 1000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects at once for an already aborted signal', async () => {
    await expect(sleep(new ManualClock(), 10, AbortSignal.abort('gone'))).rejects.toBe('gone');
  });

  it('waits on the system clock', async () => {
    const start = systemClock.now();
    await sleep(systemClock, 5);
    expect(systemClock.now()).toBeGreaterThanOrEqual(start + 4);
  });
});

describe("systemClock timeouts beyond Node's 2^31 - 1 ms limit", () => {
  const DAY = 86_400_000;
  afterEach(() => vi.useRealTimers());

  it('fires a 30-day timeout after 30 days, not after 1 ms', () => {
    vi.useFakeTimers();
    let fired = 0;
    systemClock.setTimeout(() => fired++, 30 * DAY);
    vi.advanceTimersByTime(1000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(30 * DAY - 1001);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never fires an infinite timeout, and holds no timer for it', () => {
    vi.useFakeTimers();
    let fired = 0;
    systemClock.setTimeout(() => fired++, Number.POSITIVE_INFINITY).unref();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(365 * DAY);
    expect(fired).toBe(0);
  });

  it('clears a long timeout between its chained timers', () => {
    vi.useFakeTimers();
    let fired = 0;
    const handle = systemClock.setTimeout(() => fired++, 40 * DAY);
    vi.advanceTimersByTime(30 * DAY);
    systemClock.clearTimer(handle);
    vi.advanceTimersByTime(20 * DAY);
    expect(fired).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
