import type { AlertRule } from './alert-rules.js';
import type { PerformanceSnapshot } from './performance-types.js';

/** Names of the rules {@link performanceAlertRules} returns. */
export type PerformanceAlertName =
  | 'HighOCRProcessingTime'
  | 'HighCPUUsage'
  | 'HighResponseTime'
  | 'HighErrorRate'
  | 'HighMemoryUsage'
  | 'HighEventLoopDelay';

/** Options of {@link performanceAlertRules}. */
export interface PerformanceAlertRuleOptions {
  /** The operation `HighOCRProcessingTime` watches the average of. @default 'ocr.recognize' */
  ocrOperation?: string;
  /**
   * The operation `HighResponseTime` watches the p95 of and `HighErrorRate` the error rate of.
   * @default 'http.request'
   */
  requestOperation?: string;
  /** How long each condition must hold before its alert fires, in ms. @default 300000 (5 min) */
  forMs?: number;
  /** Per rule, a threshold replacing the default (in the rule's unit). */
  thresholds?: Partial<Record<PerformanceAlertName, number>>;
}

/**
 * The seeds' Prometheus alerting rules over a {@link PerformanceSnapshot}, ready for an
 * {@link AlertRuleGroup}. Thresholds and `for: 5m` as the seeds set them:
 *
 * | rule | fires when | default | severity |
 * | --- | --- | --- | --- |
 * | `HighOCRProcessingTime` | average OCR time (ms) | > 500 | warning |
 * | `HighCPUUsage` | CPU, % of all cores | > 90 | critical |
 * | `HighResponseTime` | request p95 (ms) | > 200 | warning |
 * | `HighErrorRate` | failed fraction of recent requests | > 0.01 | warning |
 * | `HighMemoryUsage` | RSS / memory limit | > 0.9 | warning |
 * | `HighEventLoopDelay` | event-loop delay p99 (ms) | > 100 | warning |
 *
 * `HighEventLoopDelay` is salama's own: a blocked loop delays every request at once. The
 * seeds' database-pool and CPU-throttling rules watch figures outside this process and are
 * left to the exporters that see them. An operation with no calls yet never fires.
 */
export function performanceAlertRules(
  options: PerformanceAlertRuleOptions = {},
): AlertRule<PerformanceSnapshot>[] {
  const {
    ocrOperation = 'ocr.recognize',
    requestOperation = 'http.request',
    forMs = 300_000,
    thresholds = {},
  } = options;
  const rule = (
    name: PerformanceAlertName,
    threshold: number,
    rest: Omit<AlertRule<PerformanceSnapshot>, 'name' | 'threshold' | 'op' | 'forMs'>,
  ): AlertRule<PerformanceSnapshot> => ({
    name,
    op: '>',
    threshold: thresholds[name] ?? threshold,
    forMs,
    ...rest,
  });
  return [
    rule('HighOCRProcessingTime', 500, {
      metric: (s) => s.operations[ocrOperation]?.avgMs,
      severity: 'warning',
      summary: `High OCR processing time: ${ocrOperation} takes {{ $value }} ms on average`,
    }),
    rule('HighCPUUsage', 90, {
      metric: (s) => s.cpu.percentOfAllCores,
      severity: 'critical',
      summary: 'High CPU usage: {{ $value }} % of all cores',
    }),
    rule('HighResponseTime', 200, {
      metric: (s) => s.operations[requestOperation]?.p95Ms,
      severity: 'warning',
      summary: `${requestOperation} p95 response time is {{ $value }} ms`,
    }),
    rule('HighErrorRate', 0.01, {
      metric: (s) => s.operations[requestOperation]?.errorRate,
      severity: 'warning',
      summary: `${requestOperation} error rate is {{ $value }}`,
    }),
    rule('HighMemoryUsage', 0.9, {
      metric: (s) => s.memory.rssBytes / s.memory.limitBytes,
      severity: 'warning',
      summary: 'Memory usage is {{ $value }} of the limit',
    }),
    rule('HighEventLoopDelay', 100, {
      metric: (s) => s.eventLoop.delay.p99Ms,
      severity: 'warning',
      summary: 'Event-loop delay p99 is {{ $value }} ms',
    }),
  ];
}
