import { totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Histogram } from '@opentelemetry/api';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import { type Closable, Lifecycle } from '../core/lifecycle.js';
import { salamaMeter } from '../core/metrics.js';
import { parseOptions } from '../core/options.js';
import { GcPauseObserver } from './performance-gc.js';
import { LatencyWindow } from './performance-latency.js';
import { operationDurationHistogram, publishPerformanceMetrics } from './performance-metrics.js';
import { ProcessSampler } from './performance-sampler.js';
import {
  type MemoryStats,
  type PerformanceMonitorOptions,
  type PerformanceSnapshot,
  performanceMonitorOptionsSchema,
  type RecordOptions,
} from './performance-types.js';

/** The operation name calls are counted under once `maxOperations` names are tracked. */
export const OTHER_OPERATION = '(other)';

/**
 * Watches this process: event-loop delay and utilisation, CPU, memory, garbage-collection
 * pauses, and the latency of named operations (avg, p50, p95, p99 over each operation's most
 * recent calls). Everything is in {@link snapshot} and published through OpenTelemetry as
 * `salama.ops.*`; an {@link AlertRuleGroup} can watch the snapshot.
 *
 * ```ts
 * const monitor = new PerformanceMonitor().start();
 * const plates = await monitor.time('ocr.recognize', () => ocr.recognize(image));
 * console.log(monitor.snapshot().operations['ocr.recognize']?.p95Ms);
 * ```
 */
export class PerformanceMonitor implements Closable {
  readonly #options: Readonly<ParsedOptions>;
  readonly #clock: Clock;
  readonly #lifecycle: Lifecycle;
  readonly #sampler: ProcessSampler;
  readonly #gc = new GcPauseObserver();
  readonly #operations = new Map<string, LatencyWindow>();
  readonly #duration: Histogram;
  readonly #stopMetrics: () => void;
  readonly #memoryLimitBytes = memoryLimitBytes();
  #timer: TimerHandle | undefined;

  /** Publishes metrics at once; measuring the process starts with {@link start}. */
  constructor(options: PerformanceMonitorOptions = {}) {
    this.#options = parseOptions('PerformanceMonitor', performanceMonitorOptionsSchema, options);
    this.#clock = this.#options.clock ?? systemClock;
    this.#lifecycle = new Lifecycle('PerformanceMonitor', () => this.#shutdown());
    this.#sampler = new ProcessSampler(this.#options.eventLoopResolutionMs);
    const meter = salamaMeter(this.#options.meterProvider);
    this.#duration = operationDurationHistogram(meter);
    this.#stopMetrics = publishPerformanceMetrics(meter, () => this.snapshot());
  }

  /** Whether the process figures are being measured (between `start()` and `stop()`). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Starts measuring the event loop, CPU and GC pauses, with a new sampling window every
   * `sampleIntervalMs`. A no-op while running. Throws `E_CLOSED` after `close()`.
   */
  start(): this {
    this.#lifecycle.assertOpen('start');
    if (this.#timer) return this;
    this.#sampler.start();
    if (this.#options.gc) this.#gc.start();
    this.#timer = this.#clock
      .setInterval(() => this.#sampler.roll(), this.#options.sampleIntervalMs)
      .unref();
    return this;
  }

  /** Stops measuring; the figures of the window in progress stay in snapshots. Idempotent. */
  stop(): void {
    if (!this.#timer) return;
    this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#sampler.stop();
    this.#gc.stop();
  }

  /**
   * Runs `fn` and records how long it took under `name`; a returned promise is timed until it
   * settles and a Promise is returned. A throw or rejection counts as an error and is rethrown.
   * Throws `E_INVALID_ARGUMENT` for an empty name and `E_CLOSED` after `close()`.
   */
  time<R>(name: string, fn: () => R): R {
    const stop = this.startTimer(name);
    let result: R;
    try {
      result = fn();
    } catch (error) {
      stop({ ok: false });
      throw error;
    }
    if (!isPromiseLike(result)) {
      stop();
      return result;
    }
    return Promise.resolve(result).then(
      (value) => {
        stop();
        return value;
      },
      (error: unknown) => {
        stop({ ok: false });
        throw error;
      },
    ) as R;
  }

  /**
   * Starts timing one call of `name` for work that does not fit in a callback (an HTTP
   * response finishing later). The returned function records the call once and returns its
   * duration in ms; later calls return that duration again without recording.
   */
  startTimer(name: string): (options?: RecordOptions) => number {
    this.#lifecycle.assertOpen('startTimer');
    const [operation, window] = this.#windowFor(checkName(name));
    const startedAt = performance.now();
    let durationMs: number | undefined;
    return (options = {}) => {
      if (durationMs !== undefined) return durationMs;
      durationMs = performance.now() - startedAt;
      this.#add(operation, window, durationMs, options.ok ?? true);
      return durationMs;
    };
  }

  /**
   * Records one call of `name` that took `durationMs`, measured elsewhere. Throws
   * `E_INVALID_ARGUMENT` for an empty name or a negative or non-finite duration, `E_CLOSED`
   * after `close()`.
   */
  record(name: string, durationMs: number, options: RecordOptions = {}): void {
    this.#lifecycle.assertOpen('record');
    checkName(name);
    if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) {
      throw invalidArgument('durationMs', 'a finite number of ms >= 0', durationMs);
    }
    const [operation, window] = this.#windowFor(name);
    this.#add(operation, window, durationMs, options.ok ?? true);
  }

  /**
   * Everything measured: the event loop and CPU over the last sampling window, memory now, GC
   * pauses since the first `start()`, and every operation's latency. Still readable after
   * `close()` (the figures stop changing).
   */
  snapshot(): PerformanceSnapshot {
    const { windowMs, eventLoop, cpu } = this.#sampler.figures();
    const usage = process.memoryUsage();
    const memory: MemoryStats = {
      rssBytes: usage.rss,
      heapUsedBytes: usage.heapUsed,
      heapTotalBytes: usage.heapTotal,
      externalBytes: usage.external,
      arrayBuffersBytes: usage.arrayBuffers,
      limitBytes: this.#memoryLimitBytes,
    };
    const operations: Record<string, PerformanceSnapshot['operations'][string]> = {};
    for (const [name, window] of this.#operations) operations[name] = window.stats();
    return {
      atMs: this.#clock.now(),
      windowMs,
      eventLoop,
      cpu,
      memory,
      gc: this.#gc.stats(),
      operations,
    };
  }

  /** Stops measuring and unregisters the metrics; idempotent. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #windowFor(name: string): [string, LatencyWindow] {
    let window = this.#operations.get(name);
    if (window) return [name, window];
    const operation = this.#operations.size < this.#options.maxOperations ? name : OTHER_OPERATION;
    window = this.#operations.get(operation);
    if (!window) {
      window = new LatencyWindow(this.#options.latencyWindow);
      this.#operations.set(operation, window);
    }
    return [operation, window];
  }

  #add(operation: string, window: LatencyWindow, durationMs: number, ok: boolean): void {
    window.record(durationMs, ok);
    this.#duration.record(durationMs, { operation, outcome: ok ? 'ok' : 'error' });
  }

  #shutdown(): void {
    this.stop();
    this.#stopMetrics();
  }
}

type ParsedOptions = ReturnType<typeof performanceMonitorOptionsSchema.parse>;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function checkName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw invalidArgument('name', 'a non-empty operation name', name);
  }
  return name;
}

function invalidArgument(argument: string, expected: string, value: unknown): InvalidArgumentError {
  const received = describeValue(value);
  return new InvalidArgumentError(
    `PerformanceMonitor: ${argument} expected ${expected}, received ${received}`,
    { context: { argument, expected, received } },
  );
}

/** A container's limit when one constrains the process (cgroups), else the host's memory. */
function memoryLimitBytes(): number {
  const total = totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}
