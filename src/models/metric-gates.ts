/**
 * Validation gates with MLflow's `MetricThreshold` semantics: a candidate's metric passes an
 * absolute `threshold`, and a minimum absolute or relative improvement over the current
 * champion (the baseline). Every gate of every metric is checked and reported, so a report says
 * which gate failed and by how much, not only the first.
 */
import { z } from 'zod';
import { parseOptions } from '../core/options.js';

/** The gates of one metric. At least one of the three numbers must be given. */
export interface MetricThreshold {
  /** Whether higher values are better (accuracy) or lower (latency, false-positive rate). */
  readonly higherIsBetter: boolean;
  /** The candidate's value must be ≥ this (higher is better) or ≤ this (lower is better). */
  readonly threshold?: number;
  /**
   * The candidate must beat the champion by at least this much, in the metric's units:
   * `candidate ≥ champion + minAbsoluteChange` (or `≤ champion − minAbsoluteChange`). Positive.
   */
  readonly minAbsoluteChange?: number;
  /**
   * The candidate must beat the champion by at least this share of the champion's value:
   * `candidate ≥ champion × (1 + minRelativeChange)` (or `≤ champion × (1 − …)`). In (0, 1].
   * Against a champion of 0 the candidate must merely be better (above or below 0).
   */
  readonly minRelativeChange?: number;
}

/** One gate's verdict. */
export interface GateResult {
  readonly metric: string;
  readonly gate: 'present' | 'threshold' | 'minAbsoluteChange' | 'minRelativeChange';
  readonly passed: boolean;
  /** The candidate's value; undefined when it did not report the metric. */
  readonly candidate: number | undefined;
  /** The champion's value, for the change gates. */
  readonly baseline?: number;
  /** The value the candidate had to reach (≥ or ≤ by `higherIsBetter`). */
  readonly required?: number;
  /** How far past `required` the candidate landed; negative when it failed, in metric units. */
  readonly margin?: number;
  /** Why a gate passed without a comparison (no champion to compare with). */
  readonly note?: string;
}

const thresholdSchema = z
  .strictObject({
    higherIsBetter: z.boolean(),
    threshold: z.number().finite().optional(),
    minAbsoluteChange: z.number().finite().positive().optional(),
    minRelativeChange: z.number().gt(0).max(1).optional(),
  })
  .refine(
    (t) =>
      t.threshold !== undefined ||
      t.minAbsoluteChange !== undefined ||
      t.minRelativeChange !== undefined,
    { message: 'at least one of threshold, minAbsoluteChange or minRelativeChange' },
  );

const thresholdsSchema = z.record(z.string().min(1), thresholdSchema);

/** Checks a map of thresholds (`E_INVALID_OPTIONS` saying which metric and what is wrong). */
export function parseThresholds(
  thresholds: Readonly<Record<string, MetricThreshold>>,
): Readonly<Record<string, MetricThreshold>> {
  return Object.freeze(parseOptions('metric thresholds', thresholdsSchema, thresholds));
}

/**
 * Every gate of every threshold against `candidate`'s metrics and, for the change gates,
 * `baseline`'s (the champion's; undefined when there is none, and the change gates then pass
 * with a note: a first model has nothing to improve on). A metric the candidate did not report
 * fails its `present` gate.
 */
export function checkThresholds(
  thresholds: Readonly<Record<string, MetricThreshold>>,
  candidate: Readonly<Record<string, number>>,
  baseline: Readonly<Record<string, number>> | undefined,
): GateResult[] {
  const results: GateResult[] = [];
  for (const [metric, t] of Object.entries(thresholds)) {
    const value = candidate[metric];
    if (value === undefined || !Number.isFinite(value)) {
      results.push({ metric, gate: 'present', passed: false, candidate: undefined });
      continue;
    }
    const sign = t.higherIsBetter ? 1 : -1;
    const verdict = (gate: GateResult['gate'], required: number, base?: number): GateResult => {
      const margin = sign * (value - required);
      return {
        metric,
        gate,
        passed: margin >= 0,
        candidate: value,
        required,
        margin,
        ...(base === undefined ? {} : { baseline: base }),
      };
    };
    if (t.threshold !== undefined) results.push(verdict('threshold', t.threshold));
    const changes = [
      ['minAbsoluteChange', t.minAbsoluteChange],
      ['minRelativeChange', t.minRelativeChange],
    ] as const;
    for (const [gate, change] of changes) {
      if (change === undefined) continue;
      const base = baseline?.[metric];
      if (baseline === undefined || base === undefined || !Number.isFinite(base)) {
        results.push({
          metric,
          gate,
          passed: baseline === undefined,
          candidate: value,
          note:
            baseline === undefined
              ? 'no champion to compare with'
              : 'the champion did not report this metric',
        });
        continue;
      }
      const required =
        gate === 'minAbsoluteChange'
          ? base + sign * change
          : base === 0
            ? 0
            : base + sign * Math.abs(base) * change;
      const result = verdict(gate, required, base);
      // Against a champion of 0 a relative change means only "strictly better".
      results.push(
        gate === 'minRelativeChange' && base === 0
          ? { ...result, passed: sign * value > 0 }
          : result,
      );
    }
  }
  return results;
}

/** A gate result as a sentence: `accuracy 0.412 < threshold 0.9 (short by 0.488)`. */
export function describeGate(result: GateResult): string {
  if (result.gate === 'present') return `${result.metric}: the evaluator did not report it`;
  if (result.note) return `${result.metric} ${result.gate}: ${result.note}`;
  const op = result.passed ? 'meets' : 'misses';
  const by = Math.abs(result.margin ?? 0);
  const base = result.baseline === undefined ? '' : ` (champion ${fmt(result.baseline)})`;
  return `${result.metric} ${fmt(result.candidate as number)} ${op} ${result.gate} ${fmt(result.required as number)}${base}, ${result.passed ? 'ahead' : 'short'} by ${fmt(by)}`;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(4));
