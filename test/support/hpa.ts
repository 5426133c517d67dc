/**
 * What the HPA tests and the scaling benchmark share: the seed's api-gateway-hpa `behavior`,
 * and for the test vectors a fixed clock, metric builders and a controller that has been
 * running for an hour.
 */
import {
  desiredReplicas,
  type HpaBehavior,
  type HpaHistory,
  type HpaInput,
  type HpaMetric,
  type PodSample,
} from 'salama/scaling';

/** The seed's api-gateway-hpa `behavior` (seeds/003, "Horizontal Pod Autoscaling"). */
export const SEED_BEHAVIOR: HpaBehavior = {
  scaleDown: {
    stabilizationWindowSeconds: 300,
    policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
  },
  scaleUp: {
    stabilizationWindowSeconds: 60,
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 60 },
      { type: 'Pods', value: 5, periodSeconds: 60 },
    ],
  },
};

/** The time the test vectors run at, in ms. */
export const NOW = 1_000_000_000;

/** Ready pods with these values (`undefined`: no metric). */
export const pods = (...values: (number | undefined)[]): PodSample[] =>
  values.map((value) => ({ value }));

/** A `Pods` metric, requests per second per pod against `averageValue`. */
export const rps = (samples: PodSample[], averageValue = 100): HpaMetric => ({
  type: 'Pods',
  name: 'requests_per_second',
  averageValue,
  pods: samples,
});

/**
 * A controller that has been running for an hour: its only recommendation is too old for any
 * window, so runs from it show the calculation alone (the first run is tested on its own).
 */
export const RUNNING: HpaHistory = {
  recommendations: [{ atMs: NOW - 3_600_000, replicas: 1 }],
  scaleUpEvents: [],
  scaleDownEvents: [],
};

/** `desiredReplicas` at {@link NOW} from {@link RUNNING}, up to 100 replicas, unless overridden. */
export const run = (input: Partial<HpaInput> & Pick<HpaInput, 'currentReplicas' | 'metrics'>) =>
  desiredReplicas({ maxReplicas: 100, nowMs: NOW, history: RUNNING, ...input });
