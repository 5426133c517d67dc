import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import {
  behaviorSchema,
  DEFAULT_TOLERANCE,
  metricSpecSchema,
  replicaBounds,
} from './hpa-schema.js';
import type { HpaBehavior, HpaDecision, HpaMetricSpec, HpaReason, PodSample } from './hpa-types.js';

/**
 * Each metric's current reading, by metric name: one sample per pod for `Resource` and `Pods`
 * metrics, a number for `External` ones. A metric left out (or `undefined`) counts as
 * unavailable this period.
 */
export type MetricReadings = Readonly<Record<string, readonly PodSample[] | number | undefined>>;

/**
 * What an {@link Autoscaler} scales: a Deployment through the Kubernetes API, a pool of
 * worker processes, the instances behind a {@link LoadBalancer}.
 */
export interface ScaleTarget {
  /** The replica count now (the count last set, even while new replicas are starting). */
  replicas(): Promise<number> | number;
  /** Sets the replica count; resolves once the change is accepted, not once replicas are ready. */
  scale(replicas: number): Promise<void> | void;
  /** Reads every metric the autoscaler scales on; see {@link MetricReadings}. */
  metrics(): Promise<MetricReadings> | MetricReadings;
}

/** Options of {@link Autoscaler}; the scaling fields are those of an HPA's `spec`. */
export interface AutoscalerOptions {
  target: ScaleTarget;
  /** What to scale on, at least one; the metric asking for the most replicas wins. */
  metrics: readonly HpaMetricSpec[];
  /** >= 1. @default 1 */
  minReplicas?: number;
  /** >= minReplicas. */
  maxReplicas: number;
  /** No change while current/target is within 1 ± tolerance. @default 0.1 */
  tolerance?: number;
  /**
   * `spec.behavior`: stabilisation windows and rate policies per direction.
   * @default scale-up: no window, 100 % or 4 pods per 15 s (the larger); scale-down: a 300 s
   * window, 100 % per 15 s
   */
  behavior?: HpaBehavior;
  /** How often the autoscaler runs, in ms (the controller's `--horizontal-pod-autoscaler-sync-period`). @default 15000 */
  syncPeriodMs?: number;
  /** Names the autoscaler in logs, errors and the `autoscaler` metric attribute. @default 'default' */
  name?: string;
  /** Time source for the sync loop and the windows. @default systemClock */
  clock?: Clock;
  /** A pino-compatible logger; scale changes at `info`, failures at `warn`. @default silent */
  logger?: Logger;
  /** Where metrics go. @default the global OpenTelemetry MeterProvider */
  meterProvider?: MeterProvider;
}

/** Validates {@link AutoscalerOptions} once, at construction. */
export const autoscalerOptionsSchema = z
  .object({
    target: z.custom<ScaleTarget>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['replicas', 'scale', 'metrics'].every(
          (m) => typeof (v as Record<string, unknown>)[m] === 'function',
        ),
      { message: 'a ScaleTarget (replicas, scale, metrics)' },
    ),
    metrics: z
      .array(metricSpecSchema)
      .min(1)
      .refine((specs) => new Set(specs.map((s) => s.name)).size === specs.length, {
        message: 'metrics with distinct names',
      }),
    minReplicas: z.number().int().min(1).default(1),
    maxReplicas: z.number().int().min(1),
    tolerance: z.number().min(0).max(1).default(DEFAULT_TOLERANCE),
    behavior: behaviorSchema.optional(),
    syncPeriodMs: z
      .number()
      .int()
      .positive()
      .max(2 ** 31 - 1)
      .default(15_000),
    name: z.string().min(1).default('default'),
    clock: commonOptionSchemas.clock.optional(),
    logger: commonOptionSchemas.logger.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict()
  .superRefine(replicaBounds);

/** Payload of the `scale` event. */
export interface ScaleEvent {
  readonly from: number;
  readonly to: number;
  readonly decision: HpaDecision;
}

/** Events an {@link Autoscaler} emits. */
export interface AutoscalerEvents {
  /** After every sync, with its decision, whether or not it changed anything. */
  sync: [HpaDecision];
  /** After the target accepted a new replica count. */
  scale: [ScaleEvent];
  /** A sync failed: the target's `replicas()`, `metrics()` or `scale()` threw. */
  'sync:error': [Error];
}

/** A snapshot from {@link Autoscaler.stats}. */
export interface AutoscalerStats {
  /** The target's count at the last sync. */
  readonly replicas: number | undefined;
  /** The count the last sync decided on. */
  readonly desiredReplicas: number | undefined;
  readonly lastReason: HpaReason | undefined;
  /** When the last sync ran, ms since the epoch. */
  readonly lastSyncAtMs: number | undefined;
  readonly syncs: number;
  readonly scaleUps: number;
  readonly scaleDowns: number;
  readonly errors: number;
}
