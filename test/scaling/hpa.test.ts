/**
 * Test vectors for the replica calculation of `desiredReplicas`, each from a sentence of the
 * Kubernetes documentation, "Horizontal Pod Autoscaling"
 * (kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/), quoted above
 * the test that checks it.
 */
import type { HpaBehavior, HpaMetric, PodSample } from 'salama/scaling';
import { describe, expect, it } from 'vitest';
import { pods, RUNNING, rps, run } from '../support/hpa.js';

const notReady = (value: number): PodSample => ({ value, ready: false });
const cpu = (samples: PodSample[], averageUtilization = 70): HpaMetric => ({
  type: 'Resource',
  name: 'cpu',
  averageUtilization,
  pods: samples,
});

describe('desiredReplicas: the algorithm', () => {
  it('doubles the replicas when the metric is twice the target', () => {
    // "if the current metric value is 200m, and the desired value is 100m, the number of
    // replicas will be doubled, since 200.0 ÷ 100.0 = 2.0"
    const d = run({ currentReplicas: 3, metrics: [rps(pods(0.2, 0.2, 0.2), 0.1)] });
    expect(d).toMatchObject({ replicas: 6, metricReplicas: 6, reason: 'DesiredWithinRange' });
    expect(d.metrics).toEqual([{ name: 'requests_per_second', usageRatio: 2, replicas: 6 }]);
  });

  it('halves the replicas when the metric is half the target', () => {
    // "If the current value is instead 50m, you'll halve the number of replicas, since
    // 50.0 ÷ 100.0 = 0.5"
    const d = run({ currentReplicas: 4, metrics: [rps(pods(0.05, 0.05, 0.05, 0.05), 0.1)] });
    expect(d.replicas).toBe(2);
  });

  it('skips scaling while the ratio is within the 0.1 tolerance', () => {
    // "The control plane skips any scaling action if the ratio is sufficiently close to 1.0
    // (within a configurable tolerance, 0.1 by default)."
    expect(
      run({ currentReplicas: 5, metrics: [rps(pods(108, 108, 108, 108, 108))] }).replicas,
    ).toBe(5);
    expect(run({ currentReplicas: 5, metrics: [rps(pods(92, 92, 92, 92, 92))] }).replicas).toBe(5);
    expect(
      run({ currentReplicas: 5, metrics: [rps(pods(112, 112, 112, 112, 112))] }).replicas,
    ).toBe(6);
  });

  it('takes the tolerance per direction from the behaviour', () => {
    // "with a target memory consumption of 100MiB and a scale-up tolerance of 5% ... the HPA
    // algorithm will only consider scaling up if the memory consumption is higher than 105MiB"
    const metrics = [rps(pods(106, 106, 106, 106, 106, 106, 106, 106, 106, 106))];
    expect(run({ currentReplicas: 10, metrics }).replicas).toBe(10);
    const behavior: HpaBehavior = { scaleUp: { tolerance: 0.05 } };
    expect(run({ currentReplicas: 10, metrics, behavior }).replicas).toBe(11);
  });

  it('averages utilisation over pods and truncates it to a whole percent, as the controller does', () => {
    // "the controller calculates the utilization value as a percentage of the equivalent
    // resource request ... takes the mean"; 76.9 % is read as 76 %: 76 / 70 = 1.086, within 0.1.
    expect(run({ currentReplicas: 2, metrics: [cpu(pods(76.9, 76.9))] }).replicas).toBe(2);
    expect(run({ currentReplicas: 2, metrics: [cpu(pods(78, 78))] }).replicas).toBe(3);
  });

  it('sums utilisation in integers, so the truncation never loses a percent to floating point', () => {
    // The controller sums milli-cores: 603m + 766m + 701m of 3 × 1000m is 69 %, and 69 / 62 =
    // 1.113 is outside the tolerance (a float sum, 206.99999999999997, would read 68 %).
    const d = run({ currentReplicas: 3, metrics: [cpu(pods(60.3, 76.6, 70.1), 62)] });
    expect(d.replicas).toBe(4);
  });

  it('reads quantities in milli-units rounded up, as Quantity.MilliValue() does', () => {
    // Four pods at 0.0004 against a target of 0.001: each reads 1m, the ratio is 1.
    expect(
      run({ currentReplicas: 4, metrics: [rps(pods(0.0004, 0.0004, 0.0004, 0.0004), 0.001)] })
        .replicas,
    ).toBe(4);
    // A target below 1m is 1m, never 0: the ratio stays finite and so does the history.
    const tiny = run({ currentReplicas: 2, metrics: [rps(pods(1, 1), 0.0004)] });
    expect(tiny.metricReplicas).toBe(2000);
    const next = run({
      currentReplicas: 4,
      metrics: [rps(pods(1, 1, 1, 1), 0.0004)],
      history: tiny.history,
    });
    expect(next.replicas).toBe(8);
    // Exact decimals stay exact: 0.3 is 300m, not 301m.
    expect(
      run({ currentReplicas: 2, metrics: [rps(pods(0.3, 0.3), 0.3)] }).metrics[0]?.usageRatio,
    ).toBe(1);
  });

  it('counts pods without metrics as using 100 % of the target on a scale-down', () => {
    // "If there were any missing metrics, the control plane recomputes the average more
    // conservatively, assuming those pods were consuming 100% of the desired value in case
    // of a scale down" — (50 + 50 + 100 + 100) / 4 = 75 → ceil(0.75 × 4) = 3, not 1.
    const d = run({ currentReplicas: 4, metrics: [rps(pods(50, 50, undefined, undefined))] });
    expect(d.replicas).toBe(3);
    expect(d.metrics[0]?.usageRatio).toBe(0.5);
  });

  it('counts pods without metrics as using 0 % on a scale-up, and stays put if that lands within tolerance', () => {
    // "... and 0% in case of a scale up." "If the new ratio reverses the scale direction, or
    // is within the tolerance, the controller doesn't take any scaling action."
    // 9 × 112 / 10 = 100.8: within tolerance, where ceil(1.12 × 9) would have said 11.
    const samples = [...pods(112, 112, 112, 112, 112, 112, 112, 112, 112), { value: undefined }];
    expect(run({ currentReplicas: 10, metrics: [rps(samples)] }).replicas).toBe(10);
  });

  it('does not scale when the missing pods reverse the direction', () => {
    // 5 × 115 / 10 = 57.5: the scale-up became a scale-down, so nothing changes.
    const samples = [...pods(115, 115, 115, 115, 115), ...pods(...Array(5).fill(undefined))];
    expect(run({ currentReplicas: 10, metrics: [rps(samples)] }).replicas).toBe(10);
  });

  it('sets aside the samples of pods that are not yet ready', () => {
    // "When scaling on CPU, if any pod has yet to become ready ... that pod is set aside as
    // well." A starting pod burning 200 % does not count; 3 × 90 % plus a 0 % for it average
    // 67 %, within tolerance of 70 %.
    const d = run({ currentReplicas: 4, metrics: [cpu([...pods(90, 90, 90), notReady(200)])] });
    expect(d.replicas).toBe(4);
  });

  it('assumes not-yet-ready pods use 0 % when the others would scale up', () => {
    // "if any not-yet-ready pods were present, and the workload would have scaled up without
    // factoring in missing metrics or not-yet-ready pods, the controller conservatively
    // assumes that the not-yet-ready pods are consuming 0% of the desired metric"
    // (140 × 3 + 0) / 4 = 105 % → ratio 1.5 → ceil(1.5 × 4) = 6.
    const d = run({ currentReplicas: 4, metrics: [cpu([...pods(140, 140, 140), notReady(0)])] });
    expect(d.replicas).toBe(6);
  });

  it('takes the largest count of several metrics', () => {
    // "this calculation is done for each metric, and then the largest of the desired replica
    // counts is chosen"
    const d = run({
      currentReplicas: 4,
      metrics: [cpu(pods(105, 105, 105, 105)), rps(pods(50, 50, 50, 50))],
    });
    expect(d.metrics.map((m) => m.replicas)).toEqual([6, 2]);
    expect(d.replicas).toBe(6);
  });

  it('skips a scale-down when a metric cannot be computed, but still scales up', () => {
    // "If any of these metrics cannot be converted into a desired replica count ... and a
    // scale down is suggested by the metrics which can be fetched, scaling is skipped. This
    // means that the HPA is still capable of scaling up"
    const broken: HpaMetric = { type: 'Pods', name: 'queue', averageValue: 5, pods: undefined };
    const down = run({ currentReplicas: 4, metrics: [rps(pods(50, 50, 50, 50)), broken] });
    expect(down).toMatchObject({ replicas: 4, reason: 'InvalidMetrics' });
    expect(down.history.recommendations).toEqual(RUNNING.recommendations); // none recorded
    const up = run({ currentReplicas: 4, metrics: [rps(pods(200, 200, 200, 200)), broken] });
    expect(up.replicas).toBe(8);
    const none = run({ currentReplicas: 4, metrics: [rps([notReady(10)])] });
    expect(none.reason).toBe('InvalidMetrics');
  });

  it('scales on an external metric per replica: ceil(value / averageValue)', () => {
    const queue: HpaMetric = { type: 'External', name: 'queue', averageValue: 30, value: 400 };
    expect(run({ currentReplicas: 10, metrics: [queue] }).replicas).toBe(14);
    expect(run({ currentReplicas: 13, metrics: [queue] }).replicas).toBe(13);
  });
});
