/**
 * The inputs and outputs of {@link desiredReplicas}, named as in the Kubernetes
 * `autoscaling/v2` API so an HPA manifest's `metrics` and `behavior` read across unchanged.
 */

/** One pod's sample of a per-pod metric. */
export interface PodSample {
  /**
   * The pod's value, in the metric's unit (a utilisation percentage of the pod's request for
   * `Resource` metrics, the raw value for `Pods` metrics), >= 0. `undefined` when the pod
   * reported none: such pods count as using 100 % of the target on a scale-down and 0 % on a
   * scale-up.
   */
  readonly value?: number | undefined;
  /**
   * `false` for a pod Kubernetes sets aside: still starting, or sampled before it became
   * ready (Kubernetes does this for CPU only; the caller decides here). Its value is ignored;
   * it counts as 0 % when the others would scale up.
   * @default true
   */
  readonly ready?: boolean;
}

/** A `Resource` metric (CPU, memory) with a `Utilization` target. */
export interface ResourceMetricSpec {
  readonly type: 'Resource';
  readonly name: string;
  /**
   * Target average utilisation, percent of the pods' requests (`70`). The average is the mean
   * of the samples, truncated to a whole percent as the controller does; pods are assumed to
   * have equal requests.
   */
  readonly averageUtilization: number;
}

/** A `Pods` metric (requests per second, queue depth per pod) with an `AverageValue` target. */
export interface PodsMetricSpec {
  readonly type: 'Pods';
  readonly name: string;
  /** Target average per pod, in the samples' unit; samples are counted in milli-units. */
  readonly averageValue: number;
}

/** An `External` metric (a queue's length) with an `AverageValue` target per pod. */
export interface ExternalMetricSpec {
  readonly type: 'External';
  readonly name: string;
  /** Target value per replica: the desired count is `ceil(value / averageValue)`. */
  readonly averageValue: number;
}

/** What an HPA scales on, as in its manifest's `metrics` list. */
export type HpaMetricSpec = ResourceMetricSpec | PodsMetricSpec | ExternalMetricSpec;

/**
 * One metric with its current reading. Per-pod metrics carry one sample per pod of the
 * target (leave out pods being deleted and failed pods, as Kubernetes does); `undefined`
 * means the metric could not be fetched.
 */
export type HpaMetric =
  | ((ResourceMetricSpec | PodsMetricSpec) & { readonly pods: readonly PodSample[] | undefined })
  | (ExternalMetricSpec & { readonly value: number | undefined });

/** One scaling policy (`HPAScalingPolicy`). */
export interface HpaScalingPolicy {
  /** `Pods`: at most `value` pods; `Percent`: at most `value` % of the replicas at the period's start. */
  readonly type: 'Pods' | 'Percent';
  /** > 0. */
  readonly value: number;
  /** The window the limit applies over, in seconds, 1 to 1800. */
  readonly periodSeconds: number;
}

/** The rules for one direction (`HPAScalingRules`); unset fields take the defaults. */
export interface HpaScalingRules {
  /**
   * Seconds of past recommendations considered: scale-up takes the lowest, scale-down the
   * highest. 0 to 3600. @default 0 for scale-up, 300 for scale-down
   */
  readonly stabilizationWindowSeconds?: number;
  /** Which policy wins when several allow different changes. @default 'Max' */
  readonly selectPolicy?: 'Max' | 'Min' | 'Disabled';
  /**
   * Rate limits; replaces the defaults when given. @default scale-up: 100 % and 4 pods per
   * 15 s (the larger); scale-down: 100 % per 15 s
   */
  readonly policies?: readonly HpaScalingPolicy[];
  /** Ratio tolerance for this direction. @default the input's `tolerance` */
  readonly tolerance?: number;
}

/** `spec.behavior`. */
export interface HpaBehavior {
  readonly scaleUp?: HpaScalingRules;
  readonly scaleDown?: HpaScalingRules;
}

/** A replica count at a time (ms since the epoch on the caller's clock). */
export interface TimedReplicas {
  readonly atMs: number;
  readonly replicas: number;
}

/**
 * What the controller remembers between runs: past recommendations (for stabilisation) and
 * recent scale events (for policies). Pass the `history` of one decision to the next.
 */
export interface HpaHistory {
  readonly recommendations: readonly TimedReplicas[];
  /** Replicas added, per scale-up. */
  readonly scaleUpEvents: readonly TimedReplicas[];
  /** Replicas removed, per scale-down. */
  readonly scaleDownEvents: readonly TimedReplicas[];
}

/** Input of {@link desiredReplicas}. */
export interface HpaInput {
  /** The target's replica count now (its `spec.replicas`). */
  readonly currentReplicas: number;
  /** >= 1. @default 1 */
  readonly minReplicas?: number;
  /** >= minReplicas. */
  readonly maxReplicas: number;
  /** At least one; several are computed separately and the largest count wins. */
  readonly metrics: readonly HpaMetric[];
  /** No change while the ratio is within 1 ± tolerance. @default 0.1 */
  readonly tolerance?: number;
  readonly behavior?: HpaBehavior;
  /** The previous decision's `history`. @default empty */
  readonly history?: HpaHistory;
  /** The time of this decision, ms since the epoch. */
  readonly nowMs: number;
}

/** Why the count is what it is: the Kubernetes condition reasons. */
export type HpaReason =
  | 'ScalingDisabled'
  | 'AboveMaxReplicas'
  | 'BelowMinReplicas'
  | 'InvalidMetrics'
  | 'DesiredWithinRange'
  | 'ScaleUpLimit'
  | 'TooManyReplicas'
  | 'ScaleDownLimit'
  | 'TooFewReplicas';

/** One metric's part of a decision. */
export interface MetricRecommendation {
  readonly name: string;
  /** Current over target, before missing and not-ready pods are accounted for. */
  readonly usageRatio: number | undefined;
  /** The count this metric asks for; `undefined` when it could not be computed. */
  readonly replicas: number | undefined;
}

/** Output of {@link desiredReplicas}. */
export interface HpaDecision {
  /** The count to scale to (equal to `currentReplicas` when nothing changes). */
  readonly replicas: number;
  /** The largest metric recommendation, before stabilisation, policies and min/max. */
  readonly metricReplicas: number | undefined;
  readonly metrics: readonly MetricRecommendation[];
  readonly reason: HpaReason;
  /** True when the stabilisation window changed the metrics' recommendation. */
  readonly stabilized: boolean;
  /** The history to pass to the next call, assuming `replicas` is applied. */
  readonly history: HpaHistory;
}
