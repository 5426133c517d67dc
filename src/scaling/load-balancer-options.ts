import type { MeterProvider } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import { DEFAULT_VIRTUAL_NODES } from './balancers/consistent-hash.js';
import { type OutlierDetectionOptions, outlierDetectionSchema } from './outlier-detection.js';

/**
 * How {@link LoadBalancer} chooses a target:
 * - `'round-robin'`: each target in turn, weights ignored.
 * - `'weighted-round-robin'`: NGINX's smooth weighted round-robin.
 * - `'least-connections'`: NGINX's `least_conn`, lowest active/weight, ties by weighted round-robin.
 * - `'two-choices'`: Envoy's least-request, the better of two random targets.
 * - `'consistent-hash'`: a ketama ring; `pick(key)` sends a key to the same target every time.
 */
export type BalancingStrategy =
  | 'round-robin'
  | 'weighted-round-robin'
  | 'least-connections'
  | 'two-choices'
  | 'consistent-hash';

/** One target of a {@link LoadBalancer}. */
export interface TargetSpec<T> {
  /** Names the target in leases, stats, events and metrics; unique within the balancer. */
  id: string;
  /** What `pick()` hands out: a GPUOptimizer, a KServe endpoint URL, a client. */
  target: T;
  /** Relative share of requests, a finite number > 0. @default 1 */
  weight?: number;
}

/** Options of {@link LoadBalancer}. */
export interface LoadBalancerOptions<T> {
  /** The targets to start with, at least one; more can be added with `add()`. */
  targets: readonly TargetSpec<T>[];
  /** How targets are chosen. @default 'weighted-round-robin' (NGINX's default) */
  strategy?: BalancingStrategy;
  /**
   * Ring points per unit of weight for `'consistent-hash'`: more points spread keys more
   * evenly and cost memory (8 bytes a point) and ring rebuild time on `add`/`remove`.
   * @default 160
   */
  virtualNodes?: number;
  /**
   * Ejects targets that fail repeatedly (Envoy's consecutive-error outlier detection); `{}`
   * turns it on with Envoy's defaults. Off when absent, as in Envoy.
   * @default off
   */
  outlierDetection?: OutlierDetectionOptions;
  /** Uniform random numbers in [0, 1) for `'two-choices'`. @default Math.random */
  random?: () => number;
  /** Names the balancer in errors, logs and the `balancer` metric attribute. @default 'default' */
  name?: string;
  /** Time source for ejections. @default systemClock */
  clock?: Clock;
  /** A pino-compatible logger; ejections are logged at `warn`. @default silent */
  logger?: Logger;
  /** Where metrics go. @default the global OpenTelemetry MeterProvider */
  meterProvider?: MeterProvider;
}

/** Schema of one {@link TargetSpec}. */
export const targetSpecSchema = z
  .object({
    id: z.string().min(1),
    target: z.custom<unknown>((v) => v !== undefined, { message: 'a target (any value)' }),
    weight: z.number().positive().finite().default(1),
  })
  .strict();

/** Validates {@link LoadBalancerOptions} once, at construction. */
export const loadBalancerOptionsSchema = z
  .object({
    targets: z
      .array(targetSpecSchema)
      .min(1)
      .superRefine((targets, ctx) => {
        const seen = new Set<string>();
        targets.forEach((t, i) => {
          if (seen.has(t.id)) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'id'],
              input: t.id,
              message: 'an id not used by another target',
            });
          }
          seen.add(t.id);
        });
      }),
    strategy: z
      .enum([
        'round-robin',
        'weighted-round-robin',
        'least-connections',
        'two-choices',
        'consistent-hash',
      ])
      .default('weighted-round-robin'),
    virtualNodes: z.number().int().positive().max(10_000).default(DEFAULT_VIRTUAL_NODES),
    outlierDetection: outlierDetectionSchema.optional(),
    random: z
      .custom<() => number>((v) => typeof v === 'function', {
        message: 'a function returning numbers in [0, 1)',
      })
      .default(() => Math.random),
    name: z.string().min(1).default('default'),
    clock: commonOptionSchemas.clock.optional(),
    logger: commonOptionSchemas.logger.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .strict();
