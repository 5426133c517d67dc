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
export type { PriorityLevelStats, PrioritySchedulerStats } from './priority-level.js';
export type {
  BackoffOptions,
  PrioritySchedulerOptions,
  ScheduledTask,
  ScheduleOptions,
  TaskContext,
} from './priority-options.js';
export { PRIORITY_LEVELS, Priority } from './priority-options.js';
export { PriorityScheduler } from './priority-scheduler.js';
