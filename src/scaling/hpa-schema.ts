import { z } from 'zod';
import type { HpaScalingPolicy } from './hpa-types.js';

/** The controller's default tolerance (`--horizontal-pod-autoscaler-tolerance`). */
export const DEFAULT_TOLERANCE = 0.1;
/** The default scale-down stabilisation window, seconds. */
export const DEFAULT_SCALE_DOWN_WINDOW_SECONDS = 300;

const DEFAULT_SCALE_UP_POLICIES: readonly HpaScalingPolicy[] = [
  { type: 'Percent', value: 100, periodSeconds: 15 },
  { type: 'Pods', value: 4, periodSeconds: 15 },
];
const DEFAULT_SCALE_DOWN_POLICIES: readonly HpaScalingPolicy[] = [
  { type: 'Percent', value: 100, periodSeconds: 15 },
];

const count = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const tolerance = z.number().min(0).max(1);

const policySchema = z
  .object({
    type: z.enum(['Pods', 'Percent']),
    value: z.number().int().positive(),
    periodSeconds: z.number().int().min(1).max(1800),
  })
  .strict();

const rulesSchema = z
  .object({
    stabilizationWindowSeconds: z.number().int().min(0).max(3600).optional(),
    selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
    policies: z.array(policySchema).min(1).optional(),
    tolerance: tolerance.optional(),
  })
  .strict();

/** `spec.behavior`, with the API's bounds (windows 0–3600 s, periods 1–1800 s). */
export const behaviorSchema = z
  .object({ scaleUp: rulesSchema.optional(), scaleDown: rulesSchema.optional() })
  .strict();

const podSample = z
  .object({ value: z.number().min(0).finite().optional(), ready: z.boolean().optional() })
  .strict();
/** The readings of a per-pod metric (`Resource`, `Pods`): one sample per pod. */
export const podReadingsSchema = z.array(podSample);
/** The reading of an `External` metric. */
export const externalReadingSchema = z.number().min(0).finite();
const podSamples = podReadingsSchema.optional();
const positive = z.number().positive().finite();
/** `averageUtilization` is an int32 percentage in the API. */
const percent = z
  .number()
  .int()
  .positive()
  .max(2 ** 31 - 1);

/** One metric spec, without its reading. */
export const metricSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('Resource'), name: z.string().min(1), averageUtilization: percent }),
  z.object({ type: z.literal('Pods'), name: z.string().min(1), averageValue: positive }),
  z.object({ type: z.literal('External'), name: z.string().min(1), averageValue: positive }),
]);

const metricSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('Resource'),
      name: z.string().min(1),
      averageUtilization: percent,
      pods: podSamples,
    })
    .strict(),
  z
    .object({
      type: z.literal('Pods'),
      name: z.string().min(1),
      averageValue: positive,
      pods: podSamples,
    })
    .strict(),
  z
    .object({
      type: z.literal('External'),
      name: z.string().min(1),
      averageValue: positive,
      value: externalReadingSchema.optional(),
    })
    .strict(),
]);

const timed = z.object({ atMs: z.number().finite(), replicas: count });

/** The history a decision hands to the next. */
export const historySchema = z
  .object({
    recommendations: z.array(timed),
    scaleUpEvents: z.array(timed),
    scaleDownEvents: z.array(timed),
  })
  .strict();

/** Validates {@link HpaInput} on every call of `desiredReplicas`. */
export const hpaInputSchema = z
  .object({
    currentReplicas: count,
    minReplicas: count.min(1).default(1),
    maxReplicas: count.min(1),
    metrics: z.array(metricSchema).min(1),
    tolerance: tolerance.default(DEFAULT_TOLERANCE),
    behavior: behaviorSchema.optional(),
    history: historySchema.optional(),
    nowMs: z.number().finite(),
  })
  .strict()
  .superRefine(replicaBounds);

/** Refines an object schema with `minReplicas` and `maxReplicas`: max may not be below min. */
export function replicaBounds(
  o: { minReplicas: number; maxReplicas: number },
  ctx: z.RefinementCtx,
): void {
  if (o.maxReplicas < o.minReplicas)
    ctx.addIssue({
      code: 'custom',
      path: ['maxReplicas'],
      input: o.maxReplicas,
      message: 'an integer >= minReplicas',
    });
}

/** One direction's rules with every default filled in. */
export interface ResolvedRules {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: 'Max' | 'Min' | 'Disabled';
  readonly policies: readonly HpaScalingPolicy[];
  readonly tolerance: number;
}

/**
 * Merges a partial behaviour with the defaults, field by field, as the API server's
 * defaulting does for `autoscaling/v2`.
 */
export function resolveBehavior(
  behavior: z.output<typeof behaviorSchema> | undefined,
  defaultTolerance: number,
): { readonly scaleUp: ResolvedRules; readonly scaleDown: ResolvedRules } {
  const up = behavior?.scaleUp;
  const down = behavior?.scaleDown;
  return {
    scaleUp: {
      stabilizationWindowSeconds: up?.stabilizationWindowSeconds ?? 0,
      selectPolicy: up?.selectPolicy ?? 'Max',
      policies: up?.policies ?? DEFAULT_SCALE_UP_POLICIES,
      tolerance: up?.tolerance ?? defaultTolerance,
    },
    scaleDown: {
      stabilizationWindowSeconds:
        down?.stabilizationWindowSeconds ?? DEFAULT_SCALE_DOWN_WINDOW_SECONDS,
      selectPolicy: down?.selectPolicy ?? 'Max',
      policies: down?.policies ?? DEFAULT_SCALE_DOWN_POLICIES,
      tolerance: down?.tolerance ?? defaultTolerance,
    },
  };
}
