import { ManualClock } from 'salama';
import {
  type AnalysisResult,
  type CanaryAnalysis,
  checkThresholds,
  describeGate,
} from 'salama/models';
import { describe, expect, it } from 'vitest';
import { parseAnalysis, runAnalysis } from '../../src/models/canary-analysis.js';
import { parseThresholds } from '../../src/models/metric-gates.js';
import type { TrafficWindow } from '../../src/models/traffic-window.js';

const arm = (requests: number, errors: number) => ({
  requests,
  errors,
  errorRate: requests ? errors / requests : undefined,
  p50Ms: 1,
  p95Ms: 2,
  p99Ms: 3,
});
const window = (errors: number): TrafficWindow => ({
  champion: arm(100, 0),
  candidate: arm(100, errors),
  durationMs: 1000,
});

/**
 * Runs an analysis whose measurements see `values` (one per round; undefined = no data), with
 * `count` valid measurements wanted (default: one per value). The clock runs `values.length`
 * rounds.
 */
async function analyse(
  values: (number | undefined | Error)[],
  metric: Partial<CanaryAnalysis['metrics'][number]>,
  count = values.length,
): Promise<AnalysisResult> {
  const clock = new ManualClock();
  let round = 0;
  const analysis: CanaryAnalysis = {
    intervalMs: 1000,
    count,
    metrics: [
      {
        name: 'm',
        measure: () => {
          const value = values[round++];
          if (value instanceof Error) throw value;
          return value;
        },
        ...metric,
      },
    ],
  };
  const running = runAnalysis(parseAnalysis(analysis), () => window(0), clock);
  for (let i = 0; i < values.length; i++) await clock.advanceAsync(1000);
  return running;
}

const phases = (result: AnalysisResult) => result.metrics[0]?.measurements.map((m) => m.phase);

describe('canary analysis (Argo Rollouts semantics)', () => {
  it('fails a measurement when only successCondition is given and it does not hold', async () => {
    const result = await analyse([0.01, 0.2], { successCondition: (v) => v < 0.05 });
    expect(phases(result)).toEqual(['successful', 'failed']);
    expect(result.phase).toBe('failed');
  });

  it('passes a measurement when only failureCondition is given and it does not hold', async () => {
    const result = await analyse([0, 0, 0], { failureCondition: (v) => v > 0 });
    expect(phases(result)).toEqual(['successful', 'successful', 'successful']);
    expect(result.phase).toBe('successful');
  });

  it('is inconclusive when both conditions are given and neither holds, or there is no data', async () => {
    const result = await analyse([0.03, undefined, 0.01], {
      successCondition: (v) => v < 0.02,
      failureCondition: (v) => v > 0.05,
      inconclusiveLimit: 1,
    });
    expect(phases(result)).toEqual(['inconclusive', 'inconclusive', 'successful']);
    expect(result.phase).toBe('inconclusive');
    const tolerated = await analyse([0.03, 0.01], {
      successCondition: (v) => v < 0.02,
      failureCondition: (v) => v > 0.05,
      inconclusiveLimit: 1,
    });
    expect(tolerated.phase).toBe('successful');
  });

  it('tolerates failureLimit failed measurements and stops at the next one', async () => {
    const tolerated = await analyse([1, 0, 0], { failureCondition: (v) => v > 0, failureLimit: 1 });
    expect(tolerated.phase).toBe('successful');
    const failed = await analyse([1, 1, 0, 0], {
      failureCondition: (v) => v > 0,
      failureLimit: 1,
    });
    // Failed once the second failure exceeded the limit: the last two rounds never ran.
    expect(phases(failed)).toEqual(['failed', 'failed']);
    expect(failed.phase).toBe('failed');
  });

  it('errors after more than consecutiveErrorLimit errors in a row; a good measurement resets the run', async () => {
    const boom = new Error('prometheus unreachable');
    const reset = await analyse(
      [boom, boom, 0, boom, boom, 0],
      { failureCondition: (v) => v > 0, consecutiveErrorLimit: 2 },
      2,
    );
    expect(reset.phase).toBe('successful');
    const errored = await analyse([boom, boom, boom, 0], {
      failureCondition: (v) => v > 0,
      consecutiveErrorLimit: 2,
    });
    expect(errored.phase).toBe('error');
    expect(errored.metrics[0]?.measurements[0]).toEqual({
      phase: 'error',
      error: 'prometheus unreachable',
    });
  });

  it('does not count an errored measurement towards count: it measures until count valid ones', async () => {
    const boom = new Error('prometheus unreachable');
    const result = await analyse([boom, 0, boom, 0, 0], { failureCondition: (v) => v > 0 }, 3);
    expect(phases(result)).toEqual(['error', 'successful', 'error', 'successful', 'successful']);
    expect(result.phase).toBe('successful');
  });

  it('never succeeds on errors alone: every measurement errored is an error, not a pass', async () => {
    const boom = new Error('prometheus unreachable');
    // count 3, default consecutiveErrorLimit 4: the fifth error in a row ends it.
    const result = await analyse(
      [boom, boom, boom, boom, boom],
      { successCondition: (v) => v < 0.01 },
      3,
    );
    expect(phases(result)).toEqual(['error', 'error', 'error', 'error', 'error']);
    expect(result.phase).toBe('error');
  });

  it('reports a metric with no valid measurement as inconclusive when another metric stopped the analysis', async () => {
    const clock = new ManualClock();
    const running = runAnalysis(
      parseAnalysis({
        intervalMs: 1000,
        count: 3,
        metrics: [
          { name: 'errors', measure: () => 1, failureCondition: (v) => v > 0 },
          {
            name: 'latency',
            measure: () => {
              throw new Error('prometheus unreachable');
            },
            successCondition: (v) => v < 100,
          },
        ],
      }),
      () => window(0),
      clock,
    );
    await clock.advanceAsync(1000);
    const result = await running;
    expect(result.phase).toBe('failed');
    expect(result.metrics.map((m) => [m.name, m.phase])).toEqual([
      ['errors', 'failed'],
      ['latency', 'inconclusive'],
    ]);
  });

  it('rejects analyses without metrics or conditions, saying what was expected', () => {
    expect(() => parseAnalysis({ metrics: [] })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    );
    expect(() => parseAnalysis({ metrics: [{ name: 'x', measure: () => 1 }] })).toThrow(
      expect.objectContaining({
        message: expect.stringContaining('a successCondition, a failureCondition or both'),
      }),
    );
    expect(() =>
      parseAnalysis({
        intervalMs: 0,
        metrics: [{ name: 'x', measure: () => 1, failureCondition: () => true }],
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('intervalMs'),
      }),
    );
  });
});

describe('metric gates (MLflow MetricThreshold semantics)', () => {
  it('checks absolute thresholds both ways', () => {
    const gates = parseThresholds({
      accuracy: { threshold: 0.9, higherIsBetter: true },
      latencyP95Ms: { threshold: 50, higherIsBetter: false },
    });
    const results = checkThresholds(gates, { accuracy: 0.95, latencyP95Ms: 60 }, undefined);
    expect(results.map((r) => [r.metric, r.passed, r.margin])).toEqual([
      ['accuracy', true, expect.closeTo(0.05)],
      ['latencyP95Ms', false, -10],
    ]);
    expect(describeGate(results[1] as (typeof results)[number])).toBe(
      'latencyP95Ms 60 misses threshold 50, short by 10',
    );
  });

  it('requires a minimum absolute or relative change over the champion', () => {
    const gates = parseThresholds({
      accuracy: { minAbsoluteChange: 0.02, minRelativeChange: 0.05, higherIsBetter: true },
      falsePositiveRate: { minRelativeChange: 0.1, higherIsBetter: false },
    });
    const results = checkThresholds(
      gates,
      { accuracy: 0.83, falsePositiveRate: 0.09 },
      { accuracy: 0.8, falsePositiveRate: 0.1 },
    );
    // 0.83 ≥ 0.8 + 0.02, but 0.83 < 0.8 × 1.05 = 0.84; 0.09 ≤ 0.1 × 0.9 = 0.09.
    expect(results.map((r) => [r.metric, r.gate, r.passed, r.required])).toEqual([
      ['accuracy', 'minAbsoluteChange', true, expect.closeTo(0.82)],
      ['accuracy', 'minRelativeChange', false, expect.closeTo(0.84)],
      ['falsePositiveRate', 'minRelativeChange', true, expect.closeTo(0.09)],
    ]);
  });

  it('against a champion of 0 a relative change only needs to be better', () => {
    const gates = parseThresholds({ errors: { minRelativeChange: 0.5, higherIsBetter: false } });
    expect(checkThresholds(gates, { errors: 0 }, { errors: 0 })[0]?.passed).toBe(false);
    expect(checkThresholds(gates, { errors: -1 }, { errors: 0 })[0]?.passed).toBe(true);
  });

  it('passes change gates with a note when there is no champion, and fails a missing metric', () => {
    const gates = parseThresholds({ accuracy: { minAbsoluteChange: 0.01, higherIsBetter: true } });
    expect(checkThresholds(gates, { accuracy: 0.5 }, undefined)).toEqual([
      expect.objectContaining({ passed: true, note: 'no champion to compare with' }),
    ]);
    expect(checkThresholds(gates, { accuracy: 0.5 }, { other: 1 })[0]).toMatchObject({
      passed: false,
      note: 'the champion did not report this metric',
    });
    expect(checkThresholds(gates, {}, { accuracy: 0.4 })).toEqual([
      { metric: 'accuracy', gate: 'present', passed: false, candidate: undefined },
    ]);
  });

  it('rejects thresholds MLflow would: no gate, a non-positive change, a relative change above 1', () => {
    for (const bad of [
      { higherIsBetter: true },
      { minAbsoluteChange: 0, higherIsBetter: true },
      { minRelativeChange: 1.5, higherIsBetter: true },
      { threshold: 1 },
    ])
      expect(() => parseThresholds({ accuracy: bad as never })).toThrow(
        expect.objectContaining({
          code: 'E_INVALID_OPTIONS',
          message: expect.stringContaining('accuracy'),
        }),
      );
  });
});
