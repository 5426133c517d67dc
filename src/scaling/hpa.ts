import { parseOptions } from '../core/options.js';
import { metricRecommendation } from './hpa-metrics.js';
import {
  DEFAULT_SCALE_DOWN_WINDOW_SECONDS,
  hpaInputSchema,
  type ResolvedRules,
  resolveBehavior,
} from './hpa-schema.js';
import type {
  HpaDecision,
  HpaHistory,
  HpaInput,
  HpaMetric,
  HpaReason,
  MetricRecommendation,
  TimedReplicas,
} from './hpa-types.js';

const EMPTY_HISTORY: HpaHistory = Object.freeze({
  recommendations: [],
  scaleUpEvents: [],
  scaleDownEvents: [],
});

/**
 * One run of the Kubernetes HorizontalPodAutoscaler controller, as a pure function: the
 * replica count for `input.currentReplicas` given the metrics, the behaviour and what earlier
 * runs recorded. It follows the controller's `reconcileAutoscaler`:
 *
 * 1. A target at 0 replicas is left alone; one outside `[minReplicas, maxReplicas]` is
 *    brought to the nearest bound at once.
 * 2. Each metric gives `ceil(ratio × ready pods)` with `ratio = current / target`, unchanged
 *    within the tolerance; missing and not-ready pods are then accounted for (see
 *    {@link PodSample}); the largest count wins. If every metric fails, or some fail and
 *    the rest would scale down, nothing changes.
 * 3. Stabilisation: the result is held between the lowest recommendation of the scale-up
 *    window and the highest of the scale-down window (default 0 s and 300 s).
 * 4. Policies limit the change over each policy's period, and the count is clamped to
 *    `[minReplicas, maxReplicas]`.
 *
 * The first run (no recommendation in `history`) records the current count as a
 * recommendation, so nothing scales down within the first scale-down window
 * (`recordInitialRecommendation`). Without `behavior` at all, steps 3 and 4 are the
 * controller's older path (`normalizeDesiredReplicas`), as in Kubernetes, where the API leaves
 * a missing `behavior` unset: the highest recommendation of the last 300 s, then at most
 * `max(2 × current, 4)` and at least `minReplicas`, with no per-period accounting. Any
 * `behavior` object, even `{}`, gets the documented defaults for what it leaves out.
 *
 * Throws `E_INVALID_OPTIONS` for a malformed input.
 */
export function desiredReplicas(input: HpaInput): HpaDecision {
  const o = parseOptions('desiredReplicas', hpaInputSchema, input);
  const current = o.currentReplicas;
  const now = o.nowMs;
  const given = o.history ?? EMPTY_HISTORY;
  const history: HpaHistory =
    given.recommendations.length > 0
      ? given
      : { ...given, recommendations: [{ atMs: now, replicas: current }] };
  const rules = resolveBehavior(o.behavior, o.tolerance);
  const legacy = o.behavior === undefined;
  const decide = (
    replicas: number,
    reason: HpaReason,
    extra: Partial<HpaDecision> = {},
  ): HpaDecision => ({
    replicas,
    metricReplicas: undefined,
    metrics: [],
    reason,
    stabilized: false,
    ...extra,
    // Scale events feed the behaviour's policies; the older path keeps none.
    history: legacy
      ? (extra.history ?? history)
      : recordScale(extra.history ?? history, current, replicas, now, rules),
  });

  if (current === 0) return decide(0, 'ScalingDisabled');
  if (current > o.maxReplicas) return decide(o.maxReplicas, 'AboveMaxReplicas');
  if (current < o.minReplicas) return decide(o.minReplicas, 'BelowMinReplicas');

  const tolerances = { up: rules.scaleUp.tolerance, down: rules.scaleDown.tolerance };
  const metrics = o.metrics.map((m) => metricRecommendation(m as HpaMetric, current, tolerances));
  const proposal = largest(metrics);
  const invalid = metrics.filter((m) => m.replicas === undefined).length;
  if (proposal === undefined || (invalid > 0 && proposal < current)) {
    return decide(current, 'InvalidMetrics', { metrics, metricReplicas: proposal });
  }

  const stable = legacy
    ? stabilizeLegacy(history, proposal, now)
    : stabilize(history, current, proposal, now, rules);
  const [replicas, reason] = legacy
    ? limitLegacy(stable.replicas, current, o)
    : limitRate(stable.replicas, current, o, history, now, rules);
  return decide(replicas, reason, {
    metrics,
    metricReplicas: proposal,
    stabilized: stable.replicas !== proposal,
    history: stable.history,
  });
}

function largest(metrics: readonly MetricRecommendation[]): number | undefined {
  let best: number | undefined;
  for (const m of metrics) {
    if (m.replicas !== undefined && (best === undefined || m.replicas > best)) best = m.replicas;
  }
  return best;
}

/** `stabilizeRecommendationWithBehaviors`: records `proposal` and bounds it by the windows. */
function stabilize(
  history: HpaHistory,
  current: number,
  proposal: number,
  now: number,
  rules: { scaleUp: ResolvedRules; scaleDown: ResolvedRules },
): { replicas: number; history: HpaHistory } {
  const upCutoff = now - rules.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = now - rules.scaleDown.stabilizationWindowSeconds * 1000;
  let upBound = proposal;
  let downBound = proposal;
  for (const rec of history.recommendations) {
    if (rec.atMs > upCutoff) upBound = Math.min(upBound, rec.replicas);
    if (rec.atMs > downCutoff) downBound = Math.max(downBound, rec.replicas);
  }
  let replicas = current;
  if (replicas < upBound) replicas = upBound;
  if (replicas > downBound) replicas = downBound;
  const oldest = Math.min(upCutoff, downCutoff);
  const recommendations = [
    ...history.recommendations.filter((r) => r.atMs > oldest),
    { atMs: now, replicas: proposal },
  ];
  return { replicas, history: { ...history, recommendations } };
}

/**
 * `stabilizeRecommendation` (no `behavior`): the highest of `proposal` and the
 * recommendations of the last 300 s, even above the current count.
 */
function stabilizeLegacy(
  history: HpaHistory,
  proposal: number,
  now: number,
): { replicas: number; history: HpaHistory } {
  const cutoff = now - DEFAULT_SCALE_DOWN_WINDOW_SECONDS * 1000;
  let replicas = proposal;
  for (const rec of history.recommendations)
    if (rec.atMs >= cutoff) replicas = Math.max(replicas, rec.replicas);
  const recommendations = [
    ...history.recommendations.filter((r) => r.atMs >= cutoff),
    { atMs: now, replicas: proposal },
  ];
  return { replicas, history: { ...history, recommendations } };
}

/**
 * `convertDesiredReplicasWithRules` (no `behavior`): at most `max(2 × current, 4)` and
 * `maxReplicas`, at least `minReplicas`.
 */
function limitLegacy(
  desired: number,
  current: number,
  bounds: { minReplicas: number; maxReplicas: number },
): [number, HpaReason] {
  const scaleUpLimit = Math.max(2 * current, 4);
  const limited = bounds.maxReplicas > scaleUpLimit;
  const allowed = limited ? scaleUpLimit : bounds.maxReplicas;
  if (desired < bounds.minReplicas) return [bounds.minReplicas, 'TooFewReplicas'];
  if (desired > allowed) return [allowed, limited ? 'ScaleUpLimit' : 'TooManyReplicas'];
  return [desired, 'DesiredWithinRange'];
}

/** `convertDesiredReplicasWithBehaviorRate`: applies the policies and min/max. */
function limitRate(
  desired: number,
  current: number,
  bounds: { minReplicas: number; maxReplicas: number },
  history: HpaHistory,
  now: number,
  rules: { scaleUp: ResolvedRules; scaleDown: ResolvedRules },
): [number, HpaReason] {
  if (desired > current) {
    const limit = Math.max(current, policyLimit('up', current, history, now, rules.scaleUp));
    const limited = bounds.maxReplicas > limit;
    const allowed = limited ? limit : bounds.maxReplicas;
    if (desired > allowed) return [allowed, limited ? 'ScaleUpLimit' : 'TooManyReplicas'];
  } else if (desired < current) {
    const limit = Math.min(current, policyLimit('down', current, history, now, rules.scaleDown));
    const limited = bounds.minReplicas < limit;
    const allowed = limited ? limit : bounds.minReplicas;
    if (desired < allowed) return [allowed, limited ? 'ScaleDownLimit' : 'TooFewReplicas'];
  }
  return [desired, 'DesiredWithinRange'];
}

/**
 * `calculateScaleUpLimitWithScalingRules` and `calculateScaleDownLimitWithBehaviors`: the
 * furthest count each policy allows from the replicas at the start of its period; `Max`
 * takes the policy allowing the biggest change, `Min` the smallest. The float arithmetic is
 * Go's: a 10 % scale-up policy on 100 replicas allows ceil(100 × 1.1), which is
 * ceil(110.00000000000001) = 111.
 */
function policyLimit(
  direction: 'up' | 'down',
  current: number,
  history: HpaHistory,
  now: number,
  rules: ResolvedRules,
): number {
  if (rules.selectPolicy === 'Disabled') return current;
  // `Max` selects the biggest change: the highest count up, the lowest down.
  const higher = (direction === 'up') === (rules.selectPolicy === 'Max');
  const pick = higher ? Math.max : Math.min;
  let result = higher ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const policy of rules.policies) {
    const cutoff = now - policy.periodSeconds * 1000;
    const added = changeSince(history.scaleUpEvents, cutoff);
    const removed = changeSince(history.scaleDownEvents, cutoff);
    const start = current - added + removed;
    let proposed: number;
    if (direction === 'up') {
      proposed =
        policy.type === 'Pods' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
    } else {
      proposed =
        policy.type === 'Pods'
          ? start - policy.value
          : Math.trunc(start * (1 - policy.value / 100));
    }
    result = pick(result, proposed);
  }
  return result;
}

/** `getReplicasChangePerPeriod`: replicas changed by events after `cutoff`. */
function changeSince(events: readonly TimedReplicas[], cutoff: number): number {
  let sum = 0;
  for (const e of events) if (e.atMs > cutoff) sum += e.replicas;
  return sum;
}

/**
 * `storeScaleEvent`: the new event replaces the last one older than the direction's longest
 * policy period (`markScaleEventsOutdated`), or is appended when none is. Older events that
 * are not replaced stay, and still count for the other direction's longer periods, as in the
 * controller.
 */
function recordScale(
  history: HpaHistory,
  from: number,
  to: number,
  now: number,
  rules: { scaleUp: ResolvedRules; scaleDown: ResolvedRules },
): HpaHistory {
  if (to === from) return history;
  const up = to > from;
  const rule = up ? rules.scaleUp : rules.scaleDown;
  const cutoff = now - Math.max(0, ...rule.policies.map((p) => p.periodSeconds)) * 1000;
  const events = [...(up ? history.scaleUpEvents : history.scaleDownEvents)];
  let outdated = -1;
  events.forEach((e, i) => {
    if (e.atMs < cutoff) outdated = i;
  });
  const event = { atMs: now, replicas: Math.abs(to - from) };
  if (outdated >= 0) events[outdated] = event;
  else events.push(event);
  return up ? { ...history, scaleUpEvents: events } : { ...history, scaleDownEvents: events };
}
