import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { commonOptionSchemas } from '../core/options.js';
import type { OperationStats } from './performance-latency.js';

/** Options of {@link PerformanceMonitor}. */
export interface PerformanceMonitorOptions {
  /**
   * How often a sampling window closes, in ms. Event-loop and CPU figures in a snapshot cover
   * the last closed window (before the first closes: the time since `start()`).
   * @default 5000
   */
  sampleIntervalMs?: number;
  /**
   * How often the event-loop delay timer samples, in ms (`monitorEventLoopDelay`'s
   * `resolution`). Lower catches shorter stalls and wakes the loop more often.
   * @default 10
   */
  eventLoopResolutionMs?: number;
  /**
   * How many of each operation's most recent calls its percentiles are computed over (exactly,
   * by sorting). Costs 9 bytes per call slot per operation.
   * @default 1024
   */
  latencyWindow?: number;
  /**
   * How many distinct operation names are tracked; calls to further names are counted under
   * `'(other)'`, so an unbounded name (a URL with an id in it) cannot grow memory or metrics.
   * @default 200
   */
  maxOperations?: number;
  /** Observe garbage-collection pauses. @default true */
  gc?: boolean;
  /** Time source for the sampling timer and `atMs`. @default systemClock */
  clock?: Clock;
  /** Where metrics go. @default the global OpenTelemetry MeterProvider */
  meterProvider?: MeterProvider;
}

/** Validates {@link PerformanceMonitorOptions} once, at construction. */
export const performanceMonitorOptionsSchema = z
  .object({
    sampleIntervalMs: z
      .number()
      .int()
      .positive()
      .max(2 ** 31 - 1)
      .default(5_000),
    eventLoopResolutionMs: z.number().int().min(1).max(60_000).default(10),
    latencyWindow: z.number().int().min(1).max(1_000_000).default(1024),
    maxOperations: z.number().int().min(1).default(200),
    gc: z.boolean().default(true),
    clock: commonOptionSchemas.clock.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict();

/** Event-loop delay over the sampling window, in ms beyond the sampling timer's resolution. */
export interface EventLoopDelayStats {
  readonly minMs: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** How many delay samples the window holds. */
  readonly samples: number;
}

/** The event loop over the sampling window. */
export interface EventLoopStats {
  readonly delay: EventLoopDelayStats;
  /** Fraction of the window the loop spent running code rather than waiting, 0–1. */
  readonly utilization: number;
}

/** This process's CPU time over the sampling window. */
export interface CpuStats {
  readonly userMs: number;
  readonly systemMs: number;
  /** CPU time as a percentage of one core (can exceed 100 with worker threads). */
  readonly percentOfCore: number;
  /** CPU time as a percentage of every core the process may use (`availableParallelism()`). */
  readonly percentOfAllCores: number;
  readonly cores: number;
}

/** `process.memoryUsage()` when the snapshot was taken, plus the limit it counts against. */
export interface MemoryStats {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  /** Memory of C++ objects bound to JavaScript objects (Buffers included). */
  readonly externalBytes: number;
  /** ArrayBuffers and SharedArrayBuffers, Buffers included (a part of `externalBytes`). */
  readonly arrayBuffersBytes: number;
  /** The container's memory limit when the process runs under one, else the host's memory. */
  readonly limitBytes: number;
}

/** The kinds of garbage collection V8 reports. */
export type GcKind = 'minor' | 'major' | 'incremental' | 'weakcb';

/** Garbage-collection pauses of one kind, or of all kinds. */
export interface GcPauseStats {
  readonly count: number;
  readonly totalPauseMs: number;
  readonly maxPauseMs: number;
}

/** Garbage-collection pauses since the monitor first started. */
export interface GcStats extends GcPauseStats {
  readonly byKind: Readonly<Record<GcKind, GcPauseStats>>;
}

/** Everything {@link PerformanceMonitor.snapshot} reports. */
export interface PerformanceSnapshot {
  /** When the snapshot was taken, ms since the epoch on the monitor's clock. */
  readonly atMs: number;
  /** Length of the sampling window `eventLoop` and `cpu` cover, in ms (0 before `start()`). */
  readonly windowMs: number;
  readonly eventLoop: EventLoopStats;
  readonly cpu: CpuStats;
  readonly memory: MemoryStats;
  readonly gc: GcStats;
  /** Per operation name, as recorded through `time()`, `startTimer()` or `record()`. */
  readonly operations: Readonly<Record<string, OperationStats>>;
}

/** Options of {@link PerformanceMonitor.record} and of a `startTimer()` stop function. */
export interface RecordOptions {
  /** Whether the call succeeded; failures count in `errors` and `errorRate`. @default true */
  ok?: boolean;
}
