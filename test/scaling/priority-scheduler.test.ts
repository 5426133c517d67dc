import { ManualClock, sleep } from 'salama';
import {
  Priority,
  PriorityScheduler,
  type PrioritySchedulerOptions,
  type ScheduleOptions,
} from 'salama/scaling';
import { describe, expect, it } from 'vitest';
import { testMeterProvider } from '../support/metrics.js';
import { rejection } from '../support/rejection.js';

/**
 * A scheduler on a manual clock (one slot unless told) and named tasks that log their start:
 * `run` returns at once, `hold` runs until the test calls `open(name)`.
 */
function harness(options: PrioritySchedulerOptions = {}) {
  const clock = new ManualClock();
  const scheduler = new PriorityScheduler({ concurrency: 1, clock, ...options });
  const started: string[] = [];
  const signals = new Map<string, AbortSignal>();
  const gates = new Map<string, () => void>();
  const task = (name: string, hold: boolean, call: ScheduleOptions = {}) =>
    scheduler.schedule(
      ({ signal }) => {
        started.push(name);
        signals.set(name, signal);
        return hold ? new Promise<string>((open) => gates.set(name, () => open(name))) : name;
      },
      { name, ...call },
    );
  return {
    clock,
    scheduler,
    started,
    signals,
    run: (name: string, call?: ScheduleOptions) => task(name, false, call),
    hold: (name: string, call?: ScheduleOptions) => task(name, true, call),
    open: (name: string) => gates.get(name)?.(),
    /** Lets promise callbacks run without moving time. */
    settle: () => clock.advanceAsync(0),
  };
}

/** The error a promise rejects with; attach it before moving the clock. */

describe('PriorityScheduler ordering and limits', () => {
  it('serves higher levels first and keeps FIFO order within a level', async () => {
    const h = harness();
    const all = [h.hold('blocker')];
    for (const [name, priority] of [
      ['low-a', Priority.LOW],
      ['high-a', Priority.HIGH],
      ['background', Priority.BACKGROUND],
      ['critical', Priority.CRITICAL],
      ['high-b', Priority.HIGH],
      ['normal', Priority.NORMAL],
      ['low-b', Priority.LOW],
    ] as const) {
      all.push(h.run(name, { priority }));
    }
    await h.settle();
    h.open('blocker');
    await Promise.all(all);
    expect(h.started).toEqual([
      'blocker',
      ...['critical', 'high-a', 'high-b', 'normal', 'low-a', 'low-b', 'background'],
    ]);
  });

  it('never runs more than `concurrency` tasks at once', async () => {
    const h = harness({ concurrency: 2 });
    const names = ['a', 'b', 'c', 'd', 'e'];
    const all = names.map((name) => h.hold(name));
    await h.settle();
    expect(h.started).toEqual(['a', 'b']);
    expect(h.scheduler.stats().normal).toMatchObject({ running: 2, queued: 3 });
    h.open('a');
    await h.settle();
    expect(h.started).toEqual(['a', 'b', 'c']);
    for (const name of names) {
      h.open(name);
      await h.settle();
    }
    await Promise.all(all);
    expect(h.scheduler.stats().normal).toMatchObject({ running: 0, queued: 0, completed: 5 });
  });

  it('holds a level at its perLevel limit while other levels run past it', async () => {
    const h = harness({ concurrency: 3, perLevel: { critical: 1 } });
    const all = ['c1', 'c2', 'c3'].map((name) => h.hold(name, { priority: 'critical' }));
    all.push(h.hold('bg', { priority: 'background' }));
    await h.settle();
    // c2 and c3 wait for critical's only slot; background is not stuck behind them.
    expect(h.started).toEqual(['c1', 'bg']);
    expect(h.scheduler.stats().critical).toMatchObject({ running: 1, queued: 2 });
    h.open('c1');
    await h.settle();
    expect(h.started).toEqual(['c1', 'bg', 'c2']);
    for (const name of ['c2', 'c3', 'bg']) {
      h.open(name);
      await h.settle();
    }
    await Promise.all(all);
    expect(h.started).toEqual(['c1', 'bg', 'c2', 'c3']);
  });

  it('gives a freed level slot to the next task of that level before lower queued work', async () => {
    const h = harness({ perLevel: { high: 1 } });
    const all = [h.hold('h1', { priority: 'high' }), h.run('h2', { priority: 'high' })];
    all.push(h.run('low', { priority: 'low' }));
    await h.settle();
    h.open('h1');
    await Promise.all(all);
    expect(h.started).toEqual(['h1', 'h2', 'low']);
  });

  it('starts nothing while paused and resumes in priority order', async () => {
    const h = harness();
    h.scheduler.pause();
    expect(h.scheduler.isPaused).toBe(true);
    const all = [h.run('low', { priority: 'low' }), h.run('critical', { priority: 'critical' })];
    await h.settle();
    expect(h.started).toEqual([]);
    h.scheduler.resume();
    await Promise.all(all);
    await h.scheduler.onIdle();
    expect(h.started).toEqual(['critical', 'low']);
  });
});

describe('PriorityScheduler ageing', () => {
  /**
   * Two normal tasks every 500 ms for 10 s, each taking 500 ms on one slot, and one background
   * task at the start: normal work arrives twice as fast as it is served, so its backlog grows.
   */
  async function starvationRun(agingMs: number) {
    const { clock, scheduler } = harness({ agingMs });
    const work = () => sleep(clock, 500);
    let backgroundStartedAt: number | undefined;
    let normalBacklogThen = 0;
    const background = () => {
      backgroundStartedAt = clock.now();
      normalBacklogThen = scheduler.stats().normal.queued;
      return work();
    };
    // close({ drain: false }) ends the run; the rejections it causes are expected.
    const all: Promise<unknown>[] = [];
    const track = (task: Promise<unknown>) => all.push(task.catch((error: unknown) => error));
    track(scheduler.schedule(work));
    track(scheduler.schedule(work));
    track(scheduler.schedule(background, { priority: 'background' }));
    for (let t = 500; t <= 10_000; t += 500) {
      await clock.advanceAsync(500);
      track(scheduler.schedule(work));
      track(scheduler.schedule(work));
    }
    const stats = scheduler.stats();
    await scheduler.close({ drain: false });
    await Promise.all(all);
    return { backgroundStartedAt, normalBacklogThen, stats };
  }

  it('lifts a starving background task above a stream of normal ones', async () => {
    const run = await starvationRun(1_000);
    // background → low → normal → high → critical, one step per second of waiting; at 4 s it
    // joins critical ahead of the normal tasks that arrived after it, though many still wait.
    expect(run.backgroundStartedAt).toBe(4_000);
    expect(run.normalBacklogThen).toBeGreaterThan(0);
    expect(run.stats.background.aged).toBe(4);
  });

  it('lets the same background task starve when ageing is off', async () => {
    const run = await starvationRun(Number.POSITIVE_INFINITY);
    expect(run.backgroundStartedAt).toBeUndefined();
    expect(run.stats.background).toMatchObject({ queued: 1, aged: 0 });
  });
});

describe('PriorityScheduler timeouts and retries', () => {
  it('rejects an attempt past timeoutMs with E_TIMEOUT and aborts its signal', async () => {
    const h = harness();
    const failure = rejection(h.hold('ocr', { timeoutMs: 100 }));
    const next = h.run('next');
    await h.clock.advanceAsync(99);
    expect(h.signals.get('ocr')?.aborted).toBe(false);
    await h.clock.advanceAsync(1);
    const error = await failure;
    expect(error.code).toBe('E_TIMEOUT');
    expect(error.message).toBe(
      "PriorityScheduler 'default': task 'ocr' timed out after 100 ms (attempt 1)",
    );
    expect(h.signals.get('ocr')?.reason).toBe(error);
    // The slot is free again although the hung task never returned.
    await expect(next).resolves.toBe('next');
    expect(h.scheduler.stats().normal).toMatchObject({ timedOut: 1, failed: 1, running: 0 });
  });

  it('retries after exactly the full-jitter backoff delays the random source gives', async () => {
    const draws = [0.5, 0.25, 0.75];
    const { clock, scheduler } = harness({
      backoff: { baseMs: 100, factor: 2, maxMs: 300 },
      random: () => draws.shift() ?? 0,
    });
    const attempts: [number, number][] = [];
    const result = scheduler.schedule(
      ({ attempt }) => {
        attempts.push([attempt, clock.now()]);
        if (attempt < 4) throw new Error(`failure ${attempt}`);
        return 'ok';
      },
      { retries: 3 },
    );
    await clock.advanceAsync(1_000);
    await expect(result).resolves.toBe('ok');
    // Delays 0.5 × 100, 0.25 × 200 and 0.75 × min(300, 400): 50, 50 and 225 ms.
    expect(attempts).toEqual([
      [1, 0],
      [2, 50],
      [3, 100],
      [4, 325],
    ]);
    expect(scheduler.stats().normal).toMatchObject({ retried: 3, completed: 1, failed: 0 });
  });

  it('rejects with the last error once retries are spent, and not at all when retryIf says no', async () => {
    const { clock, scheduler } = harness({
      retries: 2,
      random: () => 0,
      retryIf: (error) => !(error instanceof TypeError),
    });
    let calls = 0;
    const spent = rejection(scheduler.schedule(() => Promise.reject(new Error(`no ${++calls}`))));
    const refused = rejection(scheduler.schedule(() => Promise.reject(new TypeError('bad input'))));
    await clock.advanceAsync(0);
    expect((await spent).message).toBe('no 3');
    expect(await refused).toBeInstanceOf(TypeError);
    expect(scheduler.stats().normal).toMatchObject({ retried: 2, failed: 2 });
  });

  it('waits out a backoff without holding a concurrency slot', async () => {
    const { clock, scheduler, settle } = harness({ retries: 1, random: () => 1 });
    const log: string[] = [];
    const flaky = scheduler.schedule(({ attempt }) => {
      log.push(`flaky ${attempt} at ${clock.now()}`);
      if (attempt === 1) throw new Error('transient');
    });
    const other = scheduler.schedule(() => log.push(`other at ${clock.now()}`));
    await settle();
    expect(log).toEqual(['flaky 1 at 0', 'other at 0']);
    expect(scheduler.stats().normal).toMatchObject({ backingOff: 1, running: 0 });
    await clock.advanceAsync(100);
    await Promise.all([flaky, other]);
    expect(log).toEqual(['flaky 1 at 0', 'other at 0', 'flaky 2 at 100']);
  });

  it("keeps a retry's slot when the timed-out attempt that ignored its signal returns", async () => {
    const h = harness({ concurrency: 4, perLevel: { normal: 1 }, backoff: { baseMs: 0 } });
    let openSecond = () => {};
    const second = new Promise<void>((open) => {
      openSecond = open;
    });
    const flaky = h.scheduler.schedule(
      ({ attempt }) => (attempt === 1 ? sleep(h.clock, 150) : second),
      { timeoutMs: 100, retries: 1 },
    );
    await h.clock.advanceAsync(120); // attempt 2 started at 100 and holds normal's only slot
    const waiting = h.run('waiting');
    await h.clock.advanceAsync(60); // attempt 1 returns at 150, long after its timeout
    expect(h.started).toEqual([]);
    expect(h.scheduler.stats().normal).toMatchObject({ running: 1, queued: 1, timedOut: 1 });
    openSecond();
    await Promise.all([flaky, waiting]);
    expect(h.started).toEqual(['waiting']);
  });
});

describe('PriorityScheduler cancellation', () => {
  it('removes a queued task when its signal aborts, without running it', async () => {
    const h = harness({ perLevel: { low: 1 } });
    const running = h.hold('running', { priority: 'low' });
    const inQueue = new AbortController();
    const inLevel = new AbortController();
    // One waits in p-queue for the overall slot, the other for low's only slot.
    const queued = rejection(h.run('queued', { signal: inQueue.signal }));
    const waiting = rejection(h.run('waiting', { priority: 'low', signal: inLevel.signal }));
    await h.settle();
    inQueue.abort(new Error('user left'));
    inLevel.abort();
    const error = await queued;
    expect(error.code).toBe('E_ABORTED');
    expect(error.message).toBe("PriorityScheduler 'default': task 'queued' was aborted");
    expect((error.cause as Error).message).toBe('user left');
    expect((await waiting).code).toBe('E_ABORTED');
    h.open('running');
    await running;
    await h.scheduler.onIdle();
    expect(h.started).toEqual(['running']);
    expect(h.scheduler.stats().normal).toMatchObject({ cancelled: 1, queued: 0, failed: 0 });
    expect(h.scheduler.stats().low).toMatchObject({ cancelled: 1, queued: 0, completed: 1 });
  });

  it("aborts a running task's signal and frees its slot at once", async () => {
    const h = harness();
    const controller = new AbortController();
    const running = rejection(h.hold('running', { signal: controller.signal }));
    const next = h.run('next');
    await h.settle();
    controller.abort();
    expect((await running).code).toBe('E_ABORTED');
    expect(h.signals.get('running')?.aborted).toBe(true);
    await expect(next).resolves.toBe('next');
  });

  it('rejects at once when the signal is already aborted', async () => {
    const h = harness();
    expect((await rejection(h.run('late', { signal: AbortSignal.abort() }))).code).toBe(
      'E_ABORTED',
    );
    expect(h.started).toEqual([]);
  });

  it('cancels a task waiting out its backoff, so it never runs again', async () => {
    const { clock, scheduler } = harness({ retries: 3, random: () => 1 });
    const controller = new AbortController();
    let calls = 0;
    const result = rejection(
      scheduler.schedule(() => Promise.reject(new Error(`no ${++calls}`)), {
        signal: controller.signal,
      }),
    );
    await clock.advanceAsync(50);
    controller.abort();
    expect((await result).code).toBe('E_ABORTED');
    await clock.advanceAsync(10_000);
    expect(calls).toBe(1);
    expect(scheduler.stats().normal).toMatchObject({ backingOff: 0, cancelled: 1, retried: 1 });
  });
});

describe('PriorityScheduler stats and close', () => {
  it('reports wait-time p50 and p95 per level over the recent window', async () => {
    const { clock, scheduler } = harness();
    const all = Array.from({ length: 5 }, () => scheduler.schedule(() => sleep(clock, 100)));
    all.push(scheduler.schedule(() => undefined, { priority: 'critical' }));
    await clock.advanceAsync(1_000);
    await Promise.all(all);
    // Normal tasks wait 0, 100, 200, 300 and 400 ms; the critical one waits for the first.
    const stats = scheduler.stats();
    expect(stats.normal).toMatchObject({ completed: 5, waitP50Ms: 200, waitP95Ms: 400 });
    expect(stats.critical).toMatchObject({ completed: 1, waitP50Ms: 100, waitP95Ms: 100 });
    expect(stats.background).toMatchObject({ completed: 0, waitP50Ms: 0 });
  });

  it('drains accepted work on close() and refuses new work with E_CLOSED', async () => {
    const { clock, scheduler } = harness();
    const results = [1, 2, 3].map((n) => scheduler.schedule(() => sleep(clock, 10).then(() => n)));
    const closed = scheduler.close();
    expect(scheduler.close()).toBe(closed);
    const refused = await rejection(scheduler.schedule(() => 4));
    expect(refused.code).toBe('E_CLOSED');
    expect(refused.message).toBe("PriorityScheduler 'default' is closed; schedule() refused");
    await clock.advanceAsync(30);
    await closed;
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3]);
  });

  it('rejects pending work with E_CLOSED and aborts running work on close({ drain: false })', async () => {
    const h = harness();
    const running = rejection(h.hold('running'));
    const queued = rejection(h.run('queued'));
    await h.settle();
    await h.scheduler.close({ drain: false });
    expect((await running).code).toBe('E_CLOSED');
    expect((await queued).code).toBe('E_CLOSED');
    expect(h.signals.get('running')?.aborted).toBe(true);
    expect(h.started).toEqual(['running']);
    expect(h.scheduler.stats().normal).toMatchObject({ cancelled: 2, running: 0, queued: 0 });
  });

  it('records settled tasks, retries and waits on the given MeterProvider', async () => {
    const metrics = testMeterProvider();
    const { clock, scheduler } = harness({
      meterProvider: metrics.provider,
      name: 'cpu',
      retries: 1,
      random: () => 0,
    });
    let calls = 0;
    const done = scheduler.schedule(() => (++calls === 1 ? Promise.reject(new Error()) : 'ok'));
    await clock.advanceAsync(0);
    await done;
    const read = await metrics.read();
    const tasks = read.get('salama.scaling.scheduler.tasks')?.dataPoints[0];
    expect(tasks?.attributes).toEqual({
      scheduler: 'cpu',
      priority: 'normal',
      outcome: 'completed',
    });
    expect(tasks?.value).toBe(1);
    expect(read.get('salama.scaling.scheduler.retries')?.dataPoints[0]?.value).toBe(1);
    expect(read.has('salama.scaling.scheduler.wait')).toBe(true);
    await metrics.shutdown();
  });
});

describe('PriorityScheduler options and arguments', () => {
  it('rejects bad options with E_INVALID_OPTIONS naming each path, expected and received', () => {
    const build = () =>
      new PriorityScheduler({
        concurrency: 0,
        perLevel: { background: 1.5, urgent: 1 } as never,
        agingMs: -1,
        backoff: { factor: 0.5 },
      });
    expect(build).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTIONS' }));
    expect(build).toThrow('- concurrency: expected an integer >= 1 or Infinity, received number 0');
    expect(build).toThrow(
      '- perLevel.background: expected an integer >= 1 or Infinity, received number 1.5',
    );
    expect(build).toThrow('- perLevel.urgent: expected no such option, received number 1');
    expect(build).toThrow(
      '- agingMs: expected a number of ms from 1 to 2147483647, or Infinity, received number -1',
    );
    expect(build).toThrow('- backoff.factor: expected number >= 1, received number 0.5');
  });

  it('refuses durations a timer cannot hold (Node fires them after 1 ms)', () => {
    const longest = 2 ** 31 - 1;
    expect(() => new PriorityScheduler({ timeoutMs: longest, agingMs: longest })).not.toThrow();
    for (const options of [
      { timeoutMs: 3e9 },
      { agingMs: 5e9 },
      { backoff: { maxMs: 3e9 } },
      { backoff: { baseMs: 3e9 } },
    ])
      expect(() => new PriorityScheduler(options)).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
      );
  });

  it('rejects bad schedule() arguments with E_INVALID_ARGUMENT', async () => {
    const { scheduler } = harness();
    const notFn = await rejection(scheduler.schedule('run' as never));
    expect(notFn.code).toBe('E_INVALID_ARGUMENT');
    expect(notFn.message).toBe(
      `PriorityScheduler 'default': schedule(fn) expected fn to be a function, received string "run"`,
    );
    const bad = await rejection(
      scheduler.schedule(() => 1, { priority: 'urgent', timeoutMs: -5, prio: 1 } as never),
    );
    expect(bad.code).toBe('E_INVALID_ARGUMENT');
    expect(bad.message).toContain(
      '- options.priority: expected one of "critical", "high", "normal", "low", "background", received string "urgent"',
    );
    expect(bad.message).toContain('- options.timeoutMs: expected number > 0, received number -5');
    expect(bad.message).toContain(
      '- options.prio: expected no such option (valid options: priority, timeoutMs, retries, signal, name)',
    );
  });
});
