export { Autoscaler } from './autoscaler.js';
export type {
  AutoscalerEvents,
  AutoscalerOptions,
  AutoscalerStats,
  MetricReadings,
  ScaleEvent,
  ScaleTarget,
} from './autoscaler-options.js';
export { gpuScaleTarget } from './gpu-scale-target.js';
export { desiredReplicas } from './hpa.js';
export type {
  ExternalMetricSpec,
  HpaBehavior,
  HpaDecision,
  HpaHistory,
  HpaInput,
  HpaMetric,
  HpaMetricSpec,
  HpaReason,
  HpaScalingPolicy,
  HpaScalingRules,
  MetricRecommendation,
  PodSample,
  PodsMetricSpec,
  ResourceMetricSpec,
  TimedReplicas,
} from './hpa-types.js';
export { LoadBalancer } from './load-balancer.js';
export type {
  BalancingStrategy,
  LoadBalancerOptions,
  TargetSpec,
} from './load-balancer-options.js';
export type {
  BalancerLease,
  EjectEvent,
  LeaseOutcome,
  LoadBalancerEvents,
  LoadBalancerStats,
  RunOptions,
  TargetStats,
} from './load-balancer-types.js';
export type { OutlierDetectionOptions } from './outlier-detection.js';
