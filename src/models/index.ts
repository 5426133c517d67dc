/**
 * `salama/models`: the model registry (versions, artifacts, aliases) and model updates.
 */

export type {
  AnalysisPhase,
  AnalysisResult,
  CanaryAnalysis,
  CanaryMetric,
  Measurement,
  MetricResult,
} from './canary-analysis.js';
export {
  checkThresholds,
  describeGate,
  type GateResult,
  type MetricThreshold,
} from './metric-gates.js';
export {
  type ModelChange,
  type ModelNotifier,
  type RedisNotifierOptions,
  redisNotifier,
} from './model-notifier.js';
export {
  type AliasMove,
  type AliasOptions,
  ModelRegistry,
  type ModelRegistryOptions,
  type ModelVersion,
  type RegisterOptions,
} from './model-registry.js';
export type { AgreementCheck, ShadowTally } from './model-serving.js';
export { ModelUpdateManager } from './model-update-manager.js';
export type {
  CanaryStep,
  CanaryStepReport,
  DeployOptions,
  DeployReport,
  DeployStrategy,
  ModelUpdateEvent,
  ModelUpdateManagerOptions,
  RollbackReport,
  ShadowReport,
  ValidationOptions,
  ValidationReport,
} from './model-update-manager-options.js';
export type {
  EvaluationTarget,
  Evaluator,
  OptimizerSettings,
  RuntimeFromArtifact,
} from './model-validation.js';
export { outputsAgree } from './rollouts.js';
export type { ArmStats, TrafficWindow } from './traffic-window.js';
