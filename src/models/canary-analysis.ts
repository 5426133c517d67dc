/**
 * Canary analysis with Argo Rollouts' semantics. Each metric is measured every `intervalMs`,
 * over the live traffic of that interval, until it has `count` valid measurements:
 * - a measurement is **failed** when `failureCondition` holds, or when only `successCondition`
 *   is given and it does not; **successful** when `successCondition` holds, or when only
 *   `failureCondition` is given and it does not; **inconclusive** when both are given and
 *   neither holds, or when there was no data (`measure` returned undefined);
 * - a measurement whose `measure` throws is an **error** and, as in Argo, does not count
 *   towards `count`; more than `consecutiveErrorLimit` in a row make the metric (and the
 *   analysis) an error;
 * - a metric fails once its failed measurements exceed `failureLimit` (the analysis stops
 *   there), is inconclusive when its inconclusive ones exceed `inconclusiveLimit` or when it
 *   has no valid measurement (the analysis stopped on another metric first), and is
 *   successful otherwise.
 * The analysis takes the worst of its metrics: error, failed, inconclusive, successful.
 */
import { z } from 'zod';
import { type Clock, sleep } from '../core/clock.js';
import { parseOptions } from '../core/options.js';
import type { TrafficWindow } from './traffic-window.js';

export interface CanaryMetric {
  readonly name: string;
  /** The metric's value for one interval of live traffic; undefined for "no data". */
  readonly measure: (window: TrafficWindow) => number | undefined | Promise<number | undefined>;
  readonly successCondition?: (value: number) => boolean;
  readonly failureCondition?: (value: number) => boolean;
  /** Failed measurements tolerated. @default 0 */
  readonly failureLimit?: number;
  /** Inconclusive measurements tolerated. @default 0 */
  readonly inconclusiveLimit?: number;
  /** Errors in a row tolerated. @default 4 */
  readonly consecutiveErrorLimit?: number;
}

export interface CanaryAnalysis {
  readonly metrics: readonly CanaryMetric[];
  /** Time between measurements, in ms. @default 10_000 */
  readonly intervalMs?: number;
  /** Valid (not errored) measurements per metric and step. @default 3 */
  readonly count?: number;
}

export type AnalysisPhase = 'successful' | 'failed' | 'inconclusive' | 'error';

export interface Measurement {
  readonly phase: AnalysisPhase;
  readonly value?: number;
  readonly error?: string;
}

export interface MetricResult {
  readonly name: string;
  readonly phase: AnalysisPhase;
  readonly measurements: readonly Measurement[];
}

export interface AnalysisResult {
  readonly phase: AnalysisPhase;
  readonly metrics: readonly MetricResult[];
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
  message: 'a function',
});
const analysisSchema = z.strictObject({
  metrics: z
    .array(
      z
        .strictObject({
          name: z.string().min(1),
          measure: fn,
          successCondition: fn.optional(),
          failureCondition: fn.optional(),
          failureLimit: z.number().int().min(0).default(0),
          inconclusiveLimit: z.number().int().min(0).default(0),
          consecutiveErrorLimit: z.number().int().min(0).default(4),
        })
        .refine((m) => m.successCondition || m.failureCondition, {
          message: 'a successCondition, a failureCondition or both',
        }),
    )
    .min(1),
  intervalMs: z.number().int().positive().default(10_000),
  count: z.number().int().positive().default(3),
});

type ParsedAnalysis = z.output<typeof analysisSchema>;
type ParsedMetric = ParsedAnalysis['metrics'][number];

/** Validates an analysis (`E_INVALID_OPTIONS`), filling in the defaults. */
export function parseAnalysis(analysis: CanaryAnalysis): ParsedAnalysis {
  return parseOptions('canary analysis', analysisSchema, analysis);
}

const RANK: Record<AnalysisPhase, number> = {
  successful: 0,
  inconclusive: 1,
  failed: 2,
  error: 3,
};
const worst = (phases: AnalysisPhase[]) =>
  phases.reduce<AnalysisPhase>((a, b) => (RANK[b] > RANK[a] ? b : a), 'successful');

function judge(metric: ParsedMetric, value: number | undefined): AnalysisPhase {
  if (value === undefined || !Number.isFinite(value)) return 'inconclusive';
  const success = metric.successCondition as ((v: number) => boolean) | undefined;
  const failure = metric.failureCondition as ((v: number) => boolean) | undefined;
  if (failure?.(value)) return 'failed';
  if (success) {
    if (success(value)) return 'successful';
    return failure ? 'inconclusive' : 'failed';
  }
  return 'successful';
}

class MetricTally {
  readonly measurements: Measurement[] = [];
  valid = 0;
  failed = 0;
  inconclusive = 0;
  errorsInRow = 0;
  phase: AnalysisPhase | undefined;

  constructor(readonly metric: ParsedMetric) {}

  async measure(window: TrafficWindow): Promise<void> {
    let measurement: Measurement;
    try {
      const value = await (this.metric.measure as CanaryMetric['measure'])(window);
      measurement = { phase: judge(this.metric, value), ...(value === undefined ? {} : { value }) };
      this.valid++;
      this.errorsInRow = 0;
    } catch (error) {
      measurement = { phase: 'error', error: (error as Error).message };
      this.errorsInRow++;
    }
    this.measurements.push(measurement);
    if (measurement.phase === 'failed') this.failed++;
    if (measurement.phase === 'inconclusive') this.inconclusive++;
    if (this.errorsInRow > this.metric.consecutiveErrorLimit) this.phase = 'error';
    else if (this.failed > this.metric.failureLimit) this.phase = 'failed';
  }

  result(): MetricResult {
    const phase =
      this.phase ??
      (this.valid === 0 || this.inconclusive > this.metric.inconclusiveLimit
        ? 'inconclusive'
        : 'successful');
    return { name: this.metric.name, phase, measurements: this.measurements };
  }
}

/**
 * Runs one analysis: rounds `intervalMs` apart on `clock`, each measuring over `take()`'s
 * window every metric that has fewer than `count` valid measurements. Stops once all have
 * them, or early once a metric fails or errors.
 */
export async function runAnalysis(
  analysis: ParsedAnalysis,
  take: () => TrafficWindow,
  clock: Clock,
  signal?: AbortSignal,
): Promise<AnalysisResult> {
  const tallies = analysis.metrics.map((m) => new MetricTally(m));
  take(); // the first window starts now
  let pending = tallies;
  // Ends: each round a pending metric either gains a valid measurement or an error in a row,
  // and more than consecutiveErrorLimit of those set its phase.
  while (pending.length > 0 && tallies.every((t) => t.phase === undefined)) {
    await sleep(clock, analysis.intervalMs, signal);
    const window = take();
    for (const tally of pending) await tally.measure(window);
    pending = pending.filter((t) => t.valid < analysis.count);
  }
  const metrics = tallies.map((t) => t.result());
  return { phase: worst(metrics.map((m) => m.phase)), metrics };
}
