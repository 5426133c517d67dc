/**
 * `salama/ops`: maintenance windows, performance monitoring with alert rules, a benchmark
 * harness, and the technical-debt register. Prometheus export is `salama/ops/prometheus`.
 */
export {
  type AlertComparison,
  type AlertEvent,
  type AlertRule,
  AlertRuleGroup,
  type AlertRuleGroupEvents,
  type AlertRuleGroupOptions,
  type AlertSeverity,
  type AlertState,
  type AlertStatus,
} from './alert-rules.js';
export type { MaintenanceSchedulerOptions } from './maintenance-options.js';
export { MaintenanceScheduler } from './maintenance-scheduler.js';
export {
  type CompletedTask,
  type FailedTask,
  MAINTENANCE_PRIORITIES,
  type MaintenanceEvent,
  type MaintenanceOccurrence,
  type MaintenancePriority,
  type MaintenanceReport,
  type MaintenanceTask,
  type MaintenanceTaskContext,
  type MaintenanceWindow,
  type MaintenanceWindowInput,
  type Notifier,
  type StatusCheckResult,
} from './maintenance-types.js';
export {
  type ConsoleNotifierOptions,
  consoleNotifier,
  describeEvent,
  type WebhookNotifierOptions,
  webhookNotifier,
} from './notifiers.js';
export {
  type PerformanceAlertName,
  type PerformanceAlertRuleOptions,
  performanceAlertRules,
} from './performance-alert-rules.js';
export type { LatencySummary, OperationStats } from './performance-latency.js';
export { OPERATION_DURATION_BUCKETS_MS } from './performance-metrics.js';
export { OTHER_OPERATION, PerformanceMonitor } from './performance-monitor.js';
export type {
  CpuStats,
  EventLoopDelayStats,
  EventLoopStats,
  GcKind,
  GcPauseStats,
  GcStats,
  MemoryStats,
  PerformanceMonitorOptions,
  PerformanceSnapshot,
  RecordOptions,
} from './performance-types.js';
export {
  type BenchmarkCase,
  type BenchmarkOptions,
  type BenchmarkProgress,
  type BenchmarkResult,
  runBenchmark,
} from './run-benchmark.js';
export {
  DEBT_PRIORITY_WEIGHTS,
  type DebtPriority,
  debtScore,
  type ScoredDebt,
  TechDebtRegister,
  type TechDebtRegisterOptions,
  type TechnicalDebt,
  type TechnicalDebtInput,
} from './tech-debt.js';
