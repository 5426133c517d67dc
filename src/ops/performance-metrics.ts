import type {
  BatchObservableResult,
  Histogram,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
} from '@opentelemetry/api';
import type { GcKind, GcPauseStats, PerformanceSnapshot } from './performance-types.js';

/**
 * How {@link PerformanceMonitor} publishes through OpenTelemetry: process figures and window
 * percentiles as observable instruments read from one snapshot per collection, and each call's
 * duration on a histogram, so Prometheus can aggregate latency across processes.
 */

/**
 * Bucket boundaries of `salama.ops.operation.duration`, in ms: dense around the 50–500 ms where
 * request SLOs (the seeds' p95 < 200 ms) and OCR times (< 500 ms) sit.
 */
export const OPERATION_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  1, 2.5, 5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2500, 5000, 10000,
]);

/** The histogram every timed call is recorded on, with `operation` and `outcome` attributes. */
export function operationDurationHistogram(meter: Meter): Histogram {
  return meter.createHistogram('salama.ops.operation.duration', {
    description: 'Duration of operations timed by PerformanceMonitor',
    unit: 'ms',
    advice: { explicitBucketBoundaries: [...OPERATION_DURATION_BUCKETS_MS] },
  });
}

const MEMORY_TYPES = [
  ['rss', 'rssBytes'],
  ['heap_used', 'heapUsedBytes'],
  ['heap_total', 'heapTotalBytes'],
  ['external', 'externalBytes'],
  ['array_buffers', 'arrayBuffersBytes'],
] as const;

const DELAY_STATS = [
  ['mean', 'meanMs'],
  ['p50', 'p50Ms'],
  ['p99', 'p99Ms'],
  ['max', 'maxMs'],
] as const;

const QUANTILES = [
  ['0.5', 'p50Ms'],
  ['0.95', 'p95Ms'],
  ['0.99', 'p99Ms'],
] as const;

/**
 * Registers the monitor's observable instruments on `meter`, each read from `snapshot()` once
 * per collection. Returns a function that unregisters them.
 */
export function publishPerformanceMetrics(
  meter: Meter,
  snapshot: () => PerformanceSnapshot,
): () => void {
  const gauge = (name: string, description: string, unit: string): ObservableGauge =>
    meter.createObservableGauge(`salama.ops.${name}`, { description, unit });
  const counter = (name: string, description: string, unit: string): ObservableCounter =>
    meter.createObservableCounter(`salama.ops.${name}`, { description, unit });

  const delay = DELAY_STATS.map(
    ([stat, key]) =>
      [
        gauge(`event_loop.delay.${stat}`, `Event-loop delay ${stat} over the window`, 'ms'),
        key,
      ] as const,
  );
  const utilization = gauge(
    'event_loop.utilization',
    'Fraction of the window the event loop was busy',
    '1',
  );
  const corePercent = gauge('cpu.core_percent', 'Process CPU time, percent of one core', '%');
  const totalPercent = gauge('cpu.total_percent', 'Process CPU time, percent of all cores', '%');
  const memory = gauge('memory.usage', 'Process memory by type', 'By');
  const memoryLimit = gauge('memory.limit', 'Container memory limit, else host memory', 'By');
  const gcCount = counter('gc.collections', 'Garbage collections by kind', '{collection}');
  const gcPause = counter('gc.pause_time', 'Time paused for garbage collection by kind', 'ms');
  const gcMaxPause = gauge('gc.max_pause', 'Longest garbage-collection pause by kind', 'ms');
  const latency = gauge(
    'operation.latency',
    'Operation latency quantiles over the recent window',
    'ms',
  );
  const errorRate = gauge(
    'operation.error_rate',
    'Failed fraction of recent calls per operation',
    '1',
  );

  const callback = (result: BatchObservableResult) => {
    const s = snapshot();
    for (const [observable, key] of delay) result.observe(observable, s.eventLoop.delay[key]);
    result.observe(utilization, s.eventLoop.utilization);
    result.observe(corePercent, s.cpu.percentOfCore);
    result.observe(totalPercent, s.cpu.percentOfAllCores);
    for (const [type, key] of MEMORY_TYPES) result.observe(memory, s.memory[key], { type });
    result.observe(memoryLimit, s.memory.limitBytes);
    for (const [kind, pauses] of Object.entries(s.gc.byKind) as [GcKind, GcPauseStats][]) {
      result.observe(gcCount, pauses.count, { kind });
      result.observe(gcPause, pauses.totalPauseMs, { kind });
      result.observe(gcMaxPause, pauses.maxPauseMs, { kind });
    }
    for (const [operation, stats] of Object.entries(s.operations)) {
      for (const [quantile, key] of QUANTILES)
        result.observe(latency, stats[key], { operation, quantile });
      result.observe(errorRate, stats.errorRate, { operation });
    }
  };
  const observables: Observable[] = [
    ...delay.map(([observable]) => observable),
    utilization,
    corePercent,
    totalPercent,
    memory,
    memoryLimit,
    gcCount,
    gcPause,
    gcMaxPause,
    latency,
    errorRate,
  ];
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
