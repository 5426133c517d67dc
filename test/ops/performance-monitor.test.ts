import { ManualClock, type SalamaError } from 'salama';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertEvent,
  type AlertRule,
  AlertRuleGroup,
  type AlertRuleGroupOptions,
} from '../../src/ops/alert-rules.js';
import { performanceAlertRules } from '../../src/ops/performance-alert-rules.js';
import { percentileOfSorted, summarizeDurations } from '../../src/ops/performance-latency.js';
import { OTHER_OPERATION, PerformanceMonitor } from '../../src/ops/performance-monitor.js';
import type { PerformanceMonitorOptions } from '../../src/ops/performance-types.js';
import { testMeterProvider } from '../support/metrics.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function monitor(options: PerformanceMonitorOptions = {}): PerformanceMonitor {
  const m = new PerformanceMonitor(options);
  open.push(m);
  return m;
}

/** Keeps the main thread on the CPU until it has used `ms` of CPU time. */
function burnCpu(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

/** Blocks the event loop for `ms` of wall time. */
function blockLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
}

const realDelay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function caught(fn: () => unknown): SalamaError {
  try {
    fn();
  } catch (error) {
    return error as SalamaError;
  }
  throw new Error('expected a throw');
}

describe('PerformanceMonitor: operation latency', () => {
  it('reports avg, p50, p95, p99, min, max, count and errors of recorded calls', () => {
    const m = monitor();
    for (let ms = 1; ms <= 100; ms++) m.record('ocr.recognize', ms, { ok: ms % 20 !== 0 });
    expect(m.snapshot().operations['ocr.recognize']).toEqual({
      count: 100,
      errors: 5,
      windowCount: 100,
      errorRate: 0.05,
      avgMs: 50.5,
      p50Ms: 50,
      p95Ms: 95,
      p99Ms: 99,
      minMs: 1,
      maxMs: 100,
    });
  });

  it('computes latency over the most recent latencyWindow calls while counting every call', () => {
    const m = monitor({ latencyWindow: 10 });
    for (let i = 0; i < 100; i++) m.record('db.query', 1000, { ok: false });
    for (let i = 0; i < 10; i++) m.record('db.query', 2);
    const stats = m.snapshot().operations['db.query'];
    expect(stats).toMatchObject({ count: 110, errors: 100, windowCount: 10, errorRate: 0 });
    expect(stats).toMatchObject({ p99Ms: 2, maxMs: 2, avgMs: 2 });
  });

  it('times sync and async work, counting throws and rejections as errors and rethrowing them', async () => {
    const m = monitor();
    expect(m.time('op', () => 42)).toBe(42);
    await expect(m.time('op', async () => 'plate')).resolves.toBe('plate');
    expect(() =>
      m.time('op', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    await expect(m.time('op', () => Promise.reject(new Error('late boom')))).rejects.toThrow(
      'late boom',
    );
    expect(m.snapshot().operations.op).toMatchObject({ count: 4, errors: 2 });
  });

  it('records a startTimer call once, however often its stop function is called', () => {
    const m = monitor();
    const stop = m.startTimer('http.request');
    const first = stop({ ok: false });
    expect(stop()).toBe(first);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(m.snapshot().operations['http.request']).toMatchObject({ count: 1, errors: 1 });
  });

  it(`counts names beyond maxOperations under '${OTHER_OPERATION}'`, () => {
    const m = monitor({ maxOperations: 2 });
    for (const id of [1, 2, 3, 4, 1]) m.record(`GET /plates/${id}`, 5);
    const operations = m.snapshot().operations;
    expect(Object.keys(operations)).toEqual(['GET /plates/1', 'GET /plates/2', OTHER_OPERATION]);
    expect(operations['GET /plates/1']?.count).toBe(2);
    expect(operations[OTHER_OPERATION]?.count).toBe(2);
  });

  it('rejects an empty name or a negative or non-finite duration with E_INVALID_ARGUMENT', () => {
    const m = monitor();
    const badName = caught(() => m.record('', 1));
    expect(badName.code).toBe('E_INVALID_ARGUMENT');
    expect(badName.context).toMatchObject({ argument: 'name', received: 'string ""' });
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = caught(() => m.record('op', ms));
      expect(error.code).toBe('E_INVALID_ARGUMENT');
      expect(error.message).toContain('durationMs expected a finite number of ms >= 0');
    }
    expect(m.snapshot().operations).toEqual({});
  });

  it('computes nearest-rank percentiles', () => {
    expect(percentileOfSorted([], 0.5)).toBe(0);
    expect(percentileOfSorted([7], 0.99)).toBe(7);
    expect(percentileOfSorted([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentileOfSorted([1, 2, 3, 4], 0.51)).toBe(3);
    expect(summarizeDurations(Float64Array.of(3, 1, 2))).toEqual({
      avgMs: 2,
      p50Ms: 2,
      p95Ms: 3,
      p99Ms: 3,
      minMs: 1,
      maxMs: 3,
    });
  });
});

describe('PerformanceMonitor: the process', () => {
  it('rejects bad options with E_INVALID_OPTIONS naming each one', () => {
    const error = caught(
      () => new PerformanceMonitor({ latencyWindow: 0, sampleIntervalMs: -5 } as never),
    );
    expect(error.code).toBe('E_INVALID_OPTIONS');
    expect(error.message).toContain('latencyWindow: expected number >= 1, received number 0');
    expect(error.message).toContain('sampleIntervalMs');
  });

  it('reports nothing for the event loop and CPU before start()', () => {
    const s = monitor().snapshot();
    expect(s.windowMs).toBe(0);
    expect(s.eventLoop.delay.samples).toBe(0);
    expect(s.cpu.percentOfCore).toBe(0);
  });

  it('measures a blocked event loop as delay and utilisation', async () => {
    const m = monitor({ eventLoopResolutionMs: 5 }).start();
    await realDelay(20);
    blockLoop(150);
    await realDelay(20);
    const { eventLoop, windowMs } = m.snapshot();
    expect(windowMs).toBeGreaterThanOrEqual(150);
    expect(eventLoop.delay.maxMs).toBeGreaterThanOrEqual(100);
    expect(eventLoop.delay.samples).toBeGreaterThan(0);
    expect(eventLoop.utilization).toBeGreaterThan(0.1);
  });

  it('reports the CPU time the process used, as a percentage of one core and of all cores', () => {
    const m = monitor().start();
    burnCpu(100);
    const { cpu } = m.snapshot();
    expect(cpu.userMs + cpu.systemMs).toBeGreaterThanOrEqual(100);
    expect(cpu.percentOfCore).toBeGreaterThan(0);
    expect(cpu.percentOfAllCores).toBeCloseTo(cpu.percentOfCore / cpu.cores, 6);
  });

  it('reports the last closed sampling window once sampleIntervalMs has passed on the clock', () => {
    const clock = new ManualClock(1_000);
    const m = monitor({ clock, sampleIntervalMs: 1_000 }).start();
    burnCpu(30);
    expect(m.snapshot().atMs).toBe(1_000);
    clock.advance(1_000);
    const closed = m.snapshot();
    burnCpu(30);
    expect(m.snapshot().cpu).toEqual(closed.cpu);
    expect(closed.cpu.userMs + closed.cpu.systemMs).toBeGreaterThanOrEqual(30);
    expect(closed.atMs).toBe(2_000);
  });

  it('counts garbage-collection pauses by kind', async () => {
    const m = monitor().start();
    let garbage: unknown[] = [];
    for (let round = 0; round < 200 && m.snapshot().gc.count === 0; round++) {
      for (let i = 0; i < 100_000; i++) garbage.push({ i });
      garbage = [];
      await realDelay(1);
    }
    const { gc } = m.snapshot();
    expect(gc.count).toBeGreaterThan(0);
    expect(gc.totalPauseMs).toBeGreaterThan(0);
    const kinds = Object.values(gc.byKind);
    expect(kinds.reduce((sum, k) => sum + k.count, 0)).toBe(gc.count);
    expect(Math.max(...kinds.map((k) => k.maxPauseMs))).toBe(gc.maxPauseMs);
  });

  it('reports memory usage and the limit it counts against', () => {
    const { memory } = monitor().snapshot();
    expect(memory.rssBytes).toBeGreaterThan(0);
    expect(memory.heapUsedBytes).toBeLessThanOrEqual(memory.heapTotalBytes);
    expect(memory.arrayBuffersBytes).toBeLessThanOrEqual(memory.externalBytes);
    expect(memory.limitBytes).toBeGreaterThan(0);
  });

  it('publishes salama.ops.* gauges and an operation duration histogram', async () => {
    const metrics = testMeterProvider();
    const m = monitor({ meterProvider: metrics.provider }).start();
    m.record('ocr.recognize', 12);
    m.record('ocr.recognize', 480, { ok: false });
    const read = await metrics.read();
    for (const name of [
      'salama.ops.event_loop.delay.p99',
      'salama.ops.event_loop.utilization',
      'salama.ops.cpu.core_percent',
      'salama.ops.cpu.total_percent',
      'salama.ops.memory.usage',
      'salama.ops.gc.collections',
      'salama.ops.operation.latency',
      'salama.ops.operation.error_rate',
    ]) {
      expect(read.get(name)?.dataPoints.length, name).toBeGreaterThan(0);
    }
    const rss = read
      .get('salama.ops.memory.usage')
      ?.dataPoints.find((p) => p.attributes.type === 'rss');
    expect(rss?.value).toBeGreaterThan(0);
    const p95 = read
      .get('salama.ops.operation.latency')
      ?.dataPoints.find((p) => p.attributes.quantile === '0.95');
    expect(p95).toMatchObject({ value: 480, attributes: { operation: 'ocr.recognize' } });
    const duration = read.get('salama.ops.operation.duration');
    expect(duration?.descriptor.unit).toBe('ms');
    const outcomes = duration?.dataPoints.map((p) => [p.attributes.outcome, p.value]);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        ['ok', expect.objectContaining({ count: 1, sum: 12 })],
        ['error', expect.objectContaining({ count: 1, sum: 480 })],
      ]),
    );
    await metrics.shutdown();
  });

  it('stops measuring on stop() and resumes on start()', () => {
    const clock = new ManualClock();
    const m = monitor({ clock });
    expect(m.start().running).toBe(true);
    expect(clock.pendingTimers).toBe(1);
    m.stop();
    m.stop();
    expect(m.running).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    expect(m.snapshot().windowMs).toBeGreaterThan(0);
    expect(m.start().running).toBe(true);
  });

  it('after close() refuses new work with E_CLOSED but finishes calls already timing', async () => {
    const metrics = testMeterProvider();
    const m = new PerformanceMonitor({ meterProvider: metrics.provider }).start();
    let finish = () => {};
    const inFlight = m.time('op', () => new Promise<void>((resolve) => (finish = resolve)));
    await m.close();
    await m.close();
    finish();
    await inFlight;
    expect(m.running).toBe(false);
    expect(m.snapshot().operations.op?.count).toBe(1);
    expect(caught(() => m.record('op', 1)).code).toBe('E_CLOSED');
    expect(caught(() => m.time('op', () => 1)).code).toBe('E_CLOSED');
    expect(caught(() => m.start()).code).toBe('E_CLOSED');
    const read = await metrics.read();
    expect(read.get('salama.ops.memory.usage')?.dataPoints ?? []).toEqual([]);
    await metrics.shutdown();
  });

  it('closes through await using', async () => {
    const clock = new ManualClock();
    {
      await using m = new PerformanceMonitor({ clock }).start();
      expect(m.running).toBe(true);
    }
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('AlertRuleGroup', () => {
  const T0 = 1_700_000_000_000;

  function group<S>(
    options: Partial<AlertRuleGroupOptions<S>> & Pick<AlertRuleGroupOptions<S>, 'rules' | 'source'>,
  ) {
    const clock = new ManualClock(T0);
    const alerts = new AlertRuleGroup<S>({ clock, evaluateEveryMs: 15_000, ...options });
    open.push(alerts);
    const events: AlertEvent[] = [];
    alerts.on('alert', (event) => events.push(event));
    return { clock, alerts, events };
  }

  const slowRule: AlertRule<{ value: number | undefined }> = {
    name: 'SlowThing',
    metric: (s) => s.value,
    op: '>',
    threshold: 10,
    forMs: 60_000,
    severity: 'critical',
    summary: 'thing takes {{ $value }} ms',
  };

  it('goes pending, fires once the condition has held for forMs, and resolves when it stops', () => {
    const state = { value: 20 as number | undefined };
    const { clock, alerts, events } = group({ rules: [slowRule], source: () => state });
    clock.advance(15_000);
    expect(alerts.alerts()[0]).toMatchObject({ state: 'pending', activeSinceMs: T0 + 15_000 });
    clock.advance(45_000);
    expect(alerts.alerts()[0]?.state).toBe('pending');
    expect(events).toEqual([]);
    clock.advance(15_000);
    expect(events).toEqual([
      {
        name: 'SlowThing',
        state: 'firing',
        severity: 'critical',
        summary: 'thing takes 20 ms',
        value: 20,
        sinceMs: T0 + 15_000,
        atMs: T0 + 75_000,
      },
    ]);
    clock.advance(30_000);
    expect(events).toHaveLength(1);
    state.value = 3;
    clock.advance(15_000);
    expect(events[1]).toEqual({
      name: 'SlowThing',
      state: 'resolved',
      severity: 'critical',
      summary: 'thing takes 3 ms',
      value: 3,
      sinceMs: T0 + 15_000,
      atMs: T0 + 120_000,
    });
    expect(alerts.alerts()[0]).toMatchObject({
      state: 'resolved',
      firedAtMs: T0 + 75_000,
      resolvedAtMs: T0 + 120_000,
    });
  });

  it('returns to inactive without an event when the condition breaks while pending', () => {
    const state = { value: 20 as number | undefined };
    const { clock, alerts, events } = group({ rules: [slowRule], source: () => state });
    clock.advance(30_000);
    state.value = 1;
    clock.advance(15_000);
    state.value = 20;
    clock.advance(45_000);
    expect(alerts.alerts()[0]).toMatchObject({ state: 'pending', activeSinceMs: T0 + 60_000 });
    expect(events).toEqual([]);
  });

  it.each([
    ['>', 10, 10, false],
    ['>', 10, 11, true],
    ['>=', 10, 10, true],
    ['<', 10, 10, false],
    ['<', 10, 9, true],
    ['<=', 10, 10, true],
  ] as const)(
    'fires at once with forMs 0 when value %s threshold (%d vs %d): %s',
    (op, threshold, value, fires) => {
      const { alerts, events } = group({
        rules: [{ name: 'R', metric: () => value, op, threshold, summary: 's' }],
        source: () => ({}),
      });
      alerts.evaluate();
      expect(events.map((e) => e.state)).toEqual(fires ? ['firing'] : []);
    },
  );

  it('treats undefined or NaN as no data: never breaching, and resolving a firing alert', () => {
    const state = { value: 50 as number | undefined };
    const { alerts, events } = group({
      rules: [{ ...slowRule, forMs: 0 }],
      source: () => state,
    });
    alerts.evaluate();
    state.value = Number.NaN;
    alerts.evaluate();
    state.value = undefined;
    alerts.evaluate();
    expect(events.map((e) => [e.state, e.value, e.summary])).toEqual([
      ['firing', 50, 'thing takes 50 ms'],
      ['resolved', undefined, 'thing takes no data ms'],
    ]);
  });

  it('reports a failing metric or source as evaluate:error (E_BACKEND_FAILED) and keeps states', () => {
    let fail: 'metric' | 'source' | undefined;
    const { alerts, events } = group({
      rules: [
        { ...slowRule, forMs: 0 },
        {
          name: 'Broken',
          metric: () => {
            if (fail === 'metric') throw new Error('no reading');
            return 0;
          },
          op: '>',
          threshold: 1,
          summary: 's',
        },
      ],
      source: () => {
        if (fail === 'source') throw new Error('source down');
        return { value: 50 };
      },
    });
    const errors: SalamaError[] = [];
    alerts.on('evaluate:error', (e) => errors.push(e as SalamaError));
    alerts.evaluate();
    fail = 'metric';
    alerts.evaluate();
    fail = 'source';
    alerts.evaluate();
    expect(errors.map((e) => [e.code, e.context.rule, (e.cause as Error).message])).toEqual([
      ['E_BACKEND_FAILED', 'Broken', 'no reading'],
      ['E_BACKEND_FAILED', undefined, 'source down'],
    ]);
    expect(alerts.alerts().map((a) => a.state)).toEqual(['firing', 'inactive']);
    expect(events).toHaveLength(1);
    expect(alerts.stats()).toEqual({ evaluations: 3, errors: 2, firing: 1, pending: 0 });
  });

  it('rejects duplicate rule names and unknown operators with E_INVALID_OPTIONS', () => {
    const rule = { name: 'A', metric: () => 1, op: '>', threshold: 1, summary: 's' } as const;
    const duplicate = caught(() => new AlertRuleGroup({ source: () => ({}), rules: [rule, rule] }));
    expect(duplicate.code).toBe('E_INVALID_OPTIONS');
    expect(duplicate.message).toContain('rules: expected rules with distinct names');
    const badOp = caught(
      () => new AlertRuleGroup({ source: () => ({}), rules: [{ ...rule, op: '!=' as '>' }] }),
    );
    expect(badOp.code).toBe('E_INVALID_OPTIONS');
    expect(badOp.message).toContain(
      'rules.0.op: expected one of ">", "<", ">=", "<=", received string "!="',
    );
  });

  it('publishes how many rules are firing and pending, and stops evaluating on close', async () => {
    const metrics = testMeterProvider();
    const { clock, alerts } = group({
      rules: [
        { ...slowRule, forMs: 0 },
        { ...slowRule, name: 'Slower' },
      ],
      source: () => ({ value: 50 }),
      meterProvider: metrics.provider,
    });
    clock.advance(15_000);
    const read = await metrics.read();
    expect(read.get('salama.ops.alerts.firing')?.dataPoints[0]?.value).toBe(1);
    expect(read.get('salama.ops.alerts.pending')?.dataPoints[0]?.value).toBe(1);
    await alerts.close();
    expect(clock.pendingTimers).toBe(0);
    expect(caught(() => alerts.evaluate()).code).toBe('E_CLOSED');
    await metrics.shutdown();
  });

  it("fires the seeds' response-time and error-rate rules on a PerformanceMonitor snapshot", () => {
    const m = monitor();
    const { clock, alerts, events } = group({
      source: () => m.snapshot(),
      rules: performanceAlertRules({ forMs: 60_000, thresholds: { HighErrorRate: 0.2 } }),
    });
    for (let i = 0; i < 10; i++) m.record('http.request', 250, { ok: i % 4 !== 0 });
    clock.advance(75_000);
    expect(events.map((e) => [e.name, e.severity, e.summary])).toEqual([
      ['HighResponseTime', 'warning', 'http.request p95 response time is 250 ms'],
      ['HighErrorRate', 'warning', 'http.request error rate is 0.3'],
    ]);
    expect(alerts.alerts().map((a) => a.name)).toEqual([
      'HighOCRProcessingTime',
      'HighCPUUsage',
      'HighResponseTime',
      'HighErrorRate',
      'HighMemoryUsage',
      'HighEventLoopDelay',
    ]);
    expect(alerts.alerts()[0]).toMatchObject({ state: 'inactive', value: undefined });
  });
});
