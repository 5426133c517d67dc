/**
 * Test vectors for the stabilisation, scaling policies and bounds of `desiredReplicas`, each
 * from a sentence of the Kubernetes documentation, "Horizontal Pod Autoscaling"
 * (kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/), quoted above
 * the test that checks it.
 */
import { desiredReplicas, type HpaBehavior, type HpaHistory, type HpaMetric } from 'salama/scaling';
import { describe, expect, it } from 'vitest';
import { NOW, pods, RUNNING, rps, run } from '../support/hpa.js';

const history = (recommendations: [number, number][]): HpaHistory => ({
  recommendations: recommendations.map(([ago, replicas]) => ({ atMs: NOW - ago * 1000, replicas })),
  scaleUpEvents: [],
  scaleDownEvents: [],
});

describe('desiredReplicas: stabilisation', () => {
  it('scales down to the highest recommendation of the last 300 s', () => {
    // "When the metrics indicate that the target should be scaled down the algorithm looks
    // into previously computed desired states, and uses the highest value from the specified
    // interval. In the above example, all desired states from the past 5 minutes will be
    // considered."
    // A `behavior` object, even empty, gets the documented defaults from the API server.
    const metrics = [rps(pods(25, 25, 25, 25, 25, 25, 25, 25))];
    const behavior: HpaBehavior = {};
    expect(
      run({ currentReplicas: 8, metrics, behavior, history: history([[200, 6]]) }),
    ).toMatchObject({ replicas: 6, metricReplicas: 2, stabilized: true });
    const higher = run({ currentReplicas: 8, metrics, behavior, history: history([[200, 10]]) });
    expect(higher.replicas).toBe(8);
    const old = run({ currentReplicas: 8, metrics, behavior, history: history([[301, 10]]) });
    expect(old.replicas).toBe(2);
  });

  it('without any behavior, takes the highest recent recommendation even above the current count', () => {
    // The API leaves a missing `behavior` unset, and the controller then runs
    // `normalizeDesiredReplicas`: `stabilizeRecommendation` returns the highest of the
    // recommendations of the last 5 minutes, which `convertDesiredReplicasWithRules` bounds
    // only by `max(2 × current, 4)` and min/max.
    const metrics = [rps(pods(25, 25, 25, 25, 25, 25, 25, 25))];
    expect(run({ currentReplicas: 8, metrics, history: history([[200, 6]]) }).replicas).toBe(6);
    expect(run({ currentReplicas: 8, metrics, history: history([[200, 10]]) }).replicas).toBe(10);
    expect(run({ currentReplicas: 8, metrics, history: history([[300, 10]]) }).replicas).toBe(10);
    expect(run({ currentReplicas: 8, metrics, history: history([[301, 10]]) }).replicas).toBe(2);
  });

  it('on its first run records the current count, so nothing scales down for 300 s', () => {
    // `reconcileAutoscaler` calls `recordInitialRecommendation(currentReplicas)` the first time
    // it sees an HPA, before computing anything.
    const metrics = [rps(pods(25, 25, 25, 25, 25, 25, 25, 25))];
    for (const behavior of [undefined, {}]) {
      const first = desiredReplicas({
        currentReplicas: 8,
        maxReplicas: 100,
        metrics,
        behavior,
        nowMs: NOW,
      });
      expect(first).toMatchObject({ replicas: 8, metricReplicas: 2, stabilized: true });
      expect(first.history.recommendations).toEqual([
        { atMs: NOW, replicas: 8 },
        { atMs: NOW, replicas: 2 },
      ]);
      const after = desiredReplicas({
        currentReplicas: 8,
        maxReplicas: 100,
        metrics,
        behavior,
        history: first.history,
        nowMs: NOW + 301_000,
      });
      expect(after.replicas).toBe(2);
    }
    // A scale-up is not held back.
    const hot = [rps(pods(400, 400))];
    expect(
      desiredReplicas({ currentReplicas: 2, maxReplicas: 100, metrics: hot, nowMs: NOW }).replicas,
    ).toBe(4);
  });

  it('records the metrics’ recommendation, not the stabilised one', () => {
    const d = run({
      currentReplicas: 8,
      metrics: [rps(pods(25, 25, 25, 25, 25, 25, 25, 25))],
      history: history([
        [200, 6],
        [400, 9],
      ]),
    });
    expect(d.history.recommendations).toEqual([
      { atMs: NOW - 200_000, replicas: 6 },
      { atMs: NOW, replicas: 2 },
    ]);
  });

  it('scales up at once by default, and to the lowest recommendation of a scale-up window', () => {
    // "For scaling up there is no stabilization window. When the metrics indicate that the
    // target should be scaled up the target is scaled up immediately."
    const metrics = [rps(pods(225, 225, 225, 225))];
    expect(run({ currentReplicas: 4, metrics, history: history([[30, 5]]) }).replicas).toBe(8);
    const behavior: HpaBehavior = { scaleUp: { stabilizationWindowSeconds: 60 } };
    expect(
      run({ currentReplicas: 4, metrics, behavior, history: history([[30, 5]]) }),
    ).toMatchObject({ replicas: 5, stabilized: true });
  });
});

describe('desiredReplicas: scaling policies', () => {
  it('adds at most 4 pods or 100 % per 15 s by default, whichever is more', () => {
    // "There are 2 policies where 4 pods or a 100% of the currently running replicas may at
    // most be added every 15 seconds till the HPA reaches its steady state."
    const hot = (n: number) => [rps(pods(...Array(n).fill(1000)))];
    const behavior: HpaBehavior = {};
    expect(run({ currentReplicas: 2, metrics: hot(2), behavior })).toMatchObject({
      replicas: 6,
      reason: 'ScaleUpLimit',
    });
    expect(run({ currentReplicas: 3, metrics: hot(3), behavior }).replicas).toBe(7);
    expect(run({ currentReplicas: 10, metrics: hot(10), behavior }).replicas).toBe(20);
  });

  it('without any behavior, adds at most max(2 × current, 4) per sync, with no periods', () => {
    // `calculateScaleUpLimit`: `math.Max(scaleUpLimitFactor*float64(currentReplicas),
    // scaleUpLimitMinimum)` with factor 2 and minimum 4; no scale events are kept.
    const hot = (n: number) => [rps(pods(...Array(n).fill(1000)))];
    expect(run({ currentReplicas: 1, metrics: hot(1) })).toMatchObject({
      replicas: 4,
      reason: 'ScaleUpLimit',
    });
    expect(run({ currentReplicas: 3, metrics: hot(3) }).replicas).toBe(6);
    const first = run({ currentReplicas: 4, metrics: hot(4) });
    expect(first.replicas).toBe(8);
    expect(first.history.scaleUpEvents).toEqual([]);
    const soon = run({ currentReplicas: 8, metrics: hot(8), history: first.history });
    expect(soon.replicas).toBe(16);
  });

  it('counts what was already added within the period', () => {
    const hot = (n: number) => [rps(pods(...Array(n).fill(1000)))];
    const behavior: HpaBehavior = {};
    const first = run({ currentReplicas: 4, metrics: hot(4), behavior });
    expect(first.replicas).toBe(8);
    const soon = desiredReplicas({
      currentReplicas: 8,
      maxReplicas: 100,
      metrics: hot(8),
      behavior,
      history: first.history,
      nowMs: NOW + 5_000,
    });
    expect(soon).toMatchObject({ replicas: 8, reason: 'ScaleUpLimit' });
    const later = desiredReplicas({
      currentReplicas: 8,
      maxReplicas: 100,
      metrics: hot(8),
      behavior,
      history: soon.history,
      nowMs: NOW + 15_000,
    });
    expect(later.replicas).toBe(16);
  });

  it('replaces only the last outdated scale event, so older ones still count for longer periods', () => {
    // `storeScaleEvent` marks events older than the direction's longest period as outdated and
    // overwrites the last of them; `getReplicasChangePerPeriod` ignores the mark.
    const behavior: HpaBehavior = {
      scaleDown: {
        stabilizationWindowSeconds: 0,
        policies: [{ type: 'Pods', value: 1, periodSeconds: 600 }],
      },
    };
    const load = (value: number): HpaMetric => ({
      type: 'External',
      name: 'queue',
      averageValue: 1,
      value,
    });
    let history: HpaHistory = RUNNING;
    let current = 1;
    for (const [atS, value, expected] of [
      [0, 2, 2],
      [1, 5, 5],
      [30, 10, 10],
      [40, 1, 3], // 10 less the 1 + 5 added within 600 s is 4; one pod may go
    ] as const) {
      const d = desiredReplicas({
        currentReplicas: current,
        maxReplicas: 100,
        metrics: [load(value)],
        behavior,
        history,
        nowMs: NOW + atS * 1000,
      });
      expect(d.replicas).toBe(expected);
      current = d.replicas;
      history = d.history;
    }
    expect(history.scaleUpEvents.map((e) => e.replicas)).toEqual([1, 5]);
  });

  it('removes 8 then 8 then fewer, as the 80-replica example describes', () => {
    // "if there are 80 replicas and the target has to be scaled down to 10 replicas then
    // during the first step 8 replicas will be reduced. In the next iteration when the number
    // of replicas is 72, 10% of the pods is 7.2 but the number is rounded up to 8. ... When
    // the number of replicas falls below 40 the first policy (Pods) is applied and 4 replicas
    // will be reduced at a time."
    const behavior: HpaBehavior = {
      scaleDown: {
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 60 },
          { type: 'Percent', value: 10, periodSeconds: 60 },
        ],
      },
    };
    let current = 80;
    let past: HpaHistory = RUNNING;
    const steps: number[] = [];
    for (let i = 0; current > 10; i++) {
      const d = desiredReplicas({
        currentReplicas: current,
        maxReplicas: 100,
        metrics: [{ type: 'External', name: 'load', averageValue: 100, value: 1000 }],
        behavior,
        history: past,
        nowMs: NOW + i * 60_000,
      });
      current = d.replicas;
      past = d.history;
      steps.push(current);
    }
    expect(steps.slice(0, 2)).toEqual([72, 64]);
    const below40 = steps.filter((n) => n < 40);
    expect(below40).toEqual([36, 32, 28, 24, 20, 16, 12, 10]);
  });

  it('picks the policy allowing the smallest change with selectPolicy Min', () => {
    // "Setting selectPolicy to Min means that the autoscaler chooses the policy that affects
    // the smallest number of Pods"
    const behavior: HpaBehavior = {
      scaleDown: {
        policies: [
          { type: 'Percent', value: 10, periodSeconds: 60 },
          { type: 'Pods', value: 5, periodSeconds: 60 },
        ],
        selectPolicy: 'Min',
      },
    };
    const d = run({
      currentReplicas: 100,
      metrics: [{ type: 'External', name: 'load', averageValue: 100, value: 1000 }],
      behavior,
    });
    expect(d).toMatchObject({ replicas: 95, reason: 'ScaleDownLimit' });
  });

  it('never scales in a direction whose selectPolicy is Disabled', () => {
    // "The selectPolicy value of Disabled turns off scaling the given direction."
    const behavior: HpaBehavior = { scaleDown: { selectPolicy: 'Disabled' } };
    const d = run({ currentReplicas: 8, metrics: [rps(pods(...Array(8).fill(10)))], behavior });
    expect(d.replicas).toBe(8);
  });

  it('rounds a Percent limit with Go’s float arithmetic: 10 % of 100 replicas allows 111', () => {
    // The controller computes ceil(float64(100) × (1 + 10/100)) = ceil(110.00000000000001).
    const behavior: HpaBehavior = {
      scaleUp: { policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] },
    };
    const hot = [rps(pods(...Array(100).fill(1000)))];
    const d = run({ currentReplicas: 100, maxReplicas: 500, metrics: hot, behavior });
    expect(d).toMatchObject({ replicas: 111, reason: 'ScaleUpLimit' });
  });
});

describe('desiredReplicas: min and max', () => {
  it('clamps the count to maxReplicas and minReplicas', () => {
    const hot = [rps(pods(...Array(8).fill(1000)))];
    expect(run({ currentReplicas: 8, maxReplicas: 10, metrics: hot })).toMatchObject({
      replicas: 10,
      reason: 'TooManyReplicas',
    });
    const idle = [rps(pods(...Array(8).fill(1)))];
    expect(run({ currentReplicas: 8, minReplicas: 3, metrics: idle })).toMatchObject({
      replicas: 3,
      reason: 'TooFewReplicas',
    });
  });

  it('brings a target outside [min, max] to the bound at once, and leaves one at 0 alone', () => {
    // "If the target's desired replica count is set to 0, and the HPA's minimum replica count
    // is greater than 0, the HPA stops adjusting the target"
    const m = [rps(pods(100))];
    expect(run({ currentReplicas: 40, maxReplicas: 10, metrics: m })).toMatchObject({
      replicas: 10,
      reason: 'AboveMaxReplicas',
    });
    expect(run({ currentReplicas: 1, minReplicas: 3, metrics: m })).toMatchObject({
      replicas: 3,
      reason: 'BelowMinReplicas',
    });
    expect(run({ currentReplicas: 0, metrics: m })).toMatchObject({
      replicas: 0,
      reason: 'ScalingDisabled',
    });
  });

  it('rejects a malformed input with E_INVALID_OPTIONS naming the path', () => {
    expect(() =>
      run({ currentReplicas: 2, minReplicas: 5, maxReplicas: 3, metrics: [rps(pods(1))] }),
    ).toThrowError(/maxReplicas: expected an integer >= minReplicas, received number 3/);
    expect(() => run({ currentReplicas: 2, metrics: [rps(pods(-1))] })).toThrowError(
      /metrics\.0\.pods\.0\.value: expected number >= 0, received number -1/,
    );
    expect(() =>
      run({
        currentReplicas: 2,
        metrics: [rps(pods(1))],
        behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 3600 }] } },
      }),
    ).toThrowError(/behavior\.scaleUp\.policies\.0\.periodSeconds: expected number <= 1800/);
  });
});
