import { availableParallelism } from 'node:os';
import {
  type EventLoopUtilization,
  type IntervalHistogram,
  monitorEventLoopDelay,
  performance,
} from 'node:perf_hooks';
import type { CpuStats, EventLoopDelayStats, EventLoopStats } from './performance-types.js';

/** Event-loop and CPU figures of one sampling window. */
export interface WindowFigures {
  readonly windowMs: number;
  readonly eventLoop: EventLoopStats;
  readonly cpu: CpuStats;
}

interface WindowStart {
  readonly atMs: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly elu: EventLoopUtilization;
}

const NS_PER_MS = 1e6;
const cores = availableParallelism();

const idleDelay: EventLoopDelayStats = Object.freeze({
  minMs: 0,
  meanMs: 0,
  p50Ms: 0,
  p90Ms: 0,
  p99Ms: 0,
  maxMs: 0,
  samples: 0,
});

/** Figures before the first `start()`: nothing measured yet. */
export const emptyWindow: WindowFigures = Object.freeze({
  windowMs: 0,
  eventLoop: Object.freeze({ delay: idleDelay, utilization: 0 }),
  cpu: Object.freeze({
    userMs: 0,
    systemMs: 0,
    percentOfCore: 0,
    percentOfAllCores: 0,
    cores,
  }),
});

/**
 * Measures the event loop and CPU in windows: `roll()` closes the window in progress and opens
 * the next, and `figures()` reports the last closed window, so two readers (a metrics scrape and
 * an alert evaluation) see the same numbers instead of each shortening the other's interval.
 */
export class ProcessSampler {
  readonly #resolutionMs: number;
  #histogram: IntervalHistogram | undefined;
  #windowStart: WindowStart | undefined;
  #last: WindowFigures | undefined;

  /** @param resolutionMs the event-loop delay timer's sampling interval. */
  constructor(resolutionMs: number) {
    this.#resolutionMs = resolutionMs;
  }

  /** Begins measuring with a fresh window; a no-op while running. */
  start(): void {
    if (this.#histogram) return;
    this.#histogram = monitorEventLoopDelay({ resolution: this.#resolutionMs });
    this.#histogram.enable();
    this.#last = undefined;
    this.#windowStart = mark();
  }

  /** Closes the window in progress (it stays readable) and stops measuring. */
  stop(): void {
    if (!this.#histogram) return;
    this.#last = this.#current();
    this.#histogram.disable();
    this.#histogram = undefined;
    this.#windowStart = undefined;
  }

  /** Closes the window in progress and opens the next. */
  roll(): void {
    if (!this.#histogram) return;
    this.#last = this.#current();
    this.#histogram.reset();
    this.#windowStart = mark();
  }

  /** The last closed window; before one has closed, the window in progress. */
  figures(): WindowFigures {
    return this.#last ?? this.#current() ?? emptyWindow;
  }

  #current(): WindowFigures | undefined {
    const start = this.#windowStart;
    const histogram = this.#histogram;
    if (!start || !histogram) return undefined;
    const windowMs = performance.now() - start.atMs;
    const cpu = process.cpuUsage(start.cpu);
    const userMs = cpu.user / 1000;
    const systemMs = cpu.system / 1000;
    const percentOfCore = windowMs > 0 ? ((userMs + systemMs) / windowMs) * 100 : 0;
    return {
      windowMs,
      eventLoop: {
        delay: this.#delay(histogram),
        utilization: performance.eventLoopUtilization(start.elu).utilization || 0,
      },
      cpu: { userMs, systemMs, percentOfCore, percentOfAllCores: percentOfCore / cores, cores },
    };
  }

  /** Delays beyond the timer's own interval: an idle loop reads 0, not the resolution. */
  #delay(h: IntervalHistogram): EventLoopDelayStats {
    if (h.count === 0) return idleDelay;
    const beyond = (ns: number) => Math.max(0, ns / NS_PER_MS - this.#resolutionMs);
    return {
      minMs: beyond(h.min),
      meanMs: beyond(h.mean),
      p50Ms: beyond(h.percentile(50)),
      p90Ms: beyond(h.percentile(90)),
      p99Ms: beyond(h.percentile(99)),
      maxMs: beyond(h.max),
      samples: h.count,
    };
  }
}

function mark(): WindowStart {
  return {
    atMs: performance.now(),
    cpu: process.cpuUsage(),
    elu: performance.eventLoopUtilization(),
  };
}
