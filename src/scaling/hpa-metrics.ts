import type { HpaMetric, MetricRecommendation, PodSample } from './hpa-types.js';

/** Ratio tolerances per direction: no change while `1 - down <= ratio <= 1 + up`. */
export interface Tolerances {
  readonly up: number;
  readonly down: number;
}

const within = (t: Tolerances, ratio: number) => 1 - t.down <= ratio && ratio <= 1 + t.up;

/**
 * The replica count one metric asks for: the Kubernetes replica calculator
 * (`GetResourceReplicas`, `calcPlainMetricReplicas`, `GetExternalPerPodMetricReplicas`).
 */
export function metricRecommendation(
  metric: HpaMetric,
  currentReplicas: number,
  tolerances: Tolerances,
): MetricRecommendation {
  if (metric.type === 'External') {
    if (metric.value === undefined) return invalid(metric.name);
    const usage = milli(metric.value);
    const target = milli(metric.averageValue);
    const usageRatio = usage / (target * currentReplicas);
    const replicas = within(tolerances, usageRatio) ? currentReplicas : Math.ceil(usage / target);
    return { name: metric.name, usageRatio, replicas };
  }
  if (metric.pods === undefined) return invalid(metric.name);
  const utilization = metric.type === 'Resource';
  const target = utilization ? metric.averageUtilization : milli(metric.averageValue);
  const replicas = podReplicas(metric.pods, target, utilization, currentReplicas, tolerances);
  return replicas === undefined ? invalid(metric.name) : { name: metric.name, ...replicas };
}

function podReplicas(
  pods: readonly PodSample[],
  target: number,
  utilization: boolean,
  currentReplicas: number,
  tolerances: Tolerances,
): { usageRatio: number; replicas: number } | undefined {
  // Sums are kept in integers, as the controller keeps milli-units: percentages in millionths.
  const unit = utilization ? micro : milli;
  let total = 0;
  let ready = 0;
  let unready = 0;
  let missing = 0;
  for (const pod of pods) {
    if (pod.ready === false) unready++;
    else if (pod.value === undefined) missing++;
    else {
      total += unit(pod.value);
      ready++;
    }
  }
  // "did not receive metrics for targeted pods (pods might be unready)"
  if (ready === 0) return undefined;
  const ratioOf = (sum: number, n: number) => average(sum, n, utilization) / target;
  const usageRatio = ratioOf(total, ready);

  const scaleUpWithUnready = unready > 0 && usageRatio > 1;
  if (!scaleUpWithUnready && missing === 0) {
    if (within(tolerances, usageRatio)) return { usageRatio, replicas: currentReplicas };
    return { usageRatio, replicas: Math.ceil(usageRatio * ready) };
  }

  let counted = ready;
  if (missing > 0 && usageRatio < 1) {
    // On a scale-down a pod without metrics is assumed to use the target (for utilisation,
    // at least its whole request), which damps the scale-down.
    total += missing * (utilization ? micro(Math.max(100, target)) : target);
    counted += missing;
  } else if (missing > 0 && usageRatio > 1) {
    counted += missing;
  }
  if (scaleUpWithUnready) counted += unready;

  const newRatio = ratioOf(total, counted);
  const flips = (usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1);
  if (within(tolerances, newRatio) || flips) return { usageRatio, replicas: currentReplicas };
  const replicas = Math.ceil(newRatio * counted);
  if (
    (newRatio < 1 && replicas > currentReplicas) ||
    (newRatio > 1 && replicas < currentReplicas)
  ) {
    return { usageRatio, replicas: currentReplicas };
  }
  return { usageRatio, replicas };
}

/**
 * The controller's average: utilisation truncated to a whole percent
 * (`int32(metricsTotal * 100 / requestsTotal)`), raw values as an integer division of
 * milli-units. `total` is in millionths of a percent, or in milli-units.
 */
function average(total: number, n: number, utilization: boolean): number {
  return utilization ? Math.floor(Math.floor(total / n) / MICRO) : Math.trunc(total / n);
}

const MICRO = 1_000_000;

/**
 * A percentage in integer millionths, so a sum of pod utilisations does not lose the last
 * digit to floating point (60.3 + 76.6 + 70.1 is 207, not 206.99999999999997).
 */
function micro(percent: number): number {
  return Math.round(percent * MICRO);
}

/**
 * A quantity in milli-units, rounded up as `Quantity.MilliValue()` does (a target of 0.0004
 * is 1m, never 0); the value is first rounded to nano-units, the API's finest scale, so
 * 0.3 is 300m and not 301m.
 */
function milli(value: number): number {
  return Math.ceil(Math.round(value * 1e9) / 1e6);
}

function invalid(name: string): MetricRecommendation {
  return { name, usageRatio: undefined, replicas: undefined };
}
