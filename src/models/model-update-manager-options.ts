/**
 * Options, strategies and reports of {@link ModelUpdateManager}: what a caller passes and what
 * comes back, kept apart from the orchestration.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas, parseOptions } from '../core/options.js';
import type { AnalysisResult, CanaryAnalysis } from './canary-analysis.js';
import type { GateResult, MetricThreshold } from './metric-gates.js';
import { ALIAS_NAME_PATTERN, MODEL_NAME_PATTERN, RESERVED_ALIAS } from './model-arguments.js';
import type { ModelNotifier } from './model-notifier.js';
import type { ModelRegistry } from './model-registry.js';
import type { AgreementCheck } from './model-serving.js';
import type { Evaluator, OptimizerSettings, RuntimeFromArtifact } from './model-validation.js';

/** The offline check a candidate passes before it serves. */
export interface ValidationOptions<Item = unknown> {
  /** Labelled items the evaluator scores a model on. */
  readonly dataset: readonly Item[];
  readonly evaluate: Evaluator<Item>;
  /**
   * Gates by metric name, including the measured `latencyP95Ms` and `throughputPerS`. Change
   * gates compare with the champion, which is then evaluated on the same set.
   */
  readonly thresholds: Readonly<Record<string, MetricThreshold>>;
  /** Settings of the optimizers models are evaluated in. @default the serving settings */
  readonly optimizer?: OptimizerSettings;
}

export interface ModelUpdateManagerOptions<Item = unknown> {
  readonly registry: ModelRegistry;
  /** The registered model this manager serves. */
  readonly name: string;
  /** Makes a runtime from a version's artifact, e.g. `(bytes) => onnxRuntime({ model: bytes })`. */
  readonly runtime: RuntimeFromArtifact;
  /** Settings of the serving GPUOptimizers (all but the runtime). @default {} */
  readonly optimizer?: OptimizerSettings;
  readonly validation?: ValidationOptions<Item>;
  /**
   * The alias naming the version that serves: an alias name the registry accepts (not
   * `latest` or `v<number>`). @default 'champion'
   */
  readonly championAlias?: string;
  /**
   * The alias a canary or shadow candidate holds while it runs; must differ from
   * `championAlias`. @default 'challenger'
   */
  readonly challengerAlias?: string;
  /** Recorded as the actor of the alias moves this manager makes. @default 'ModelUpdateManager' */
  readonly actor?: string;
  /** Tells other processes about promotions at once (they poll otherwise). */
  readonly notifier?: ModelNotifier;
  /** Random numbers in [0, 1) for canary routing. @default Math.random */
  readonly random?: () => number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface DeployOptions {
  /** Run `ModelUpdateManager.validate` first. @default true when `validation` is set */
  readonly validate?: boolean;
  /** Recorded with the alias move. */
  readonly reason?: string;
}

/** One canary step: route `weight` % to the candidate, then analyse or wait. */
export interface CanaryStep {
  /** 0–100. */
  readonly weight: number;
  /** Analysis at this step. @default the strategy's `analysis` */
  readonly analysis?: CanaryAnalysis;
  /** Time to hold the step after its analysis (or instead of one), in ms. @default 0 */
  readonly pauseMs?: number;
}

export type DeployStrategy =
  | { readonly type: 'replace' }
  | {
      readonly type: 'canary';
      readonly steps: readonly CanaryStep[];
      /** Analysis of every step that has none of its own. */
      readonly analysis?: CanaryAnalysis;
      /** An inconclusive analysis pauses (resume() or abort()) or aborts. @default 'pause' */
      readonly onInconclusive?: 'pause' | 'abort';
    }
  | {
      readonly type: 'shadow';
      /** How long to mirror traffic, in ms. */
      readonly durationMs: number;
      /** @default every output tensor equal within 1e-4 absolute + 1e-3 relative */
      readonly agree?: AgreementCheck;
      /** Promote afterwards when at least this share of mirrored answers agreed (0–1). */
      readonly promoteAtAgreement?: number;
      /**
       * Mirrored requests (those the candidate answered or failed; skipped ones do not count)
       * needed before `promoteAtAgreement` may promote; with fewer the outcome is `shadowed`.
       * @default 100
       */
      readonly minSamples?: number;
    };

/** What {@link ModelUpdateManager.validate} found. */
export interface ValidationReport {
  readonly name: string;
  readonly version: number;
  readonly passed: boolean;
  readonly metrics: Readonly<Record<string, number>>;
  /** The champion's metrics on the same set, when a change gate needed them. */
  readonly baseline?: {
    readonly version: number;
    readonly metrics: Readonly<Record<string, number>>;
  };
  readonly gates: readonly GateResult[];
  /** One sentence per failed gate. */
  readonly failures: readonly string[];
  readonly durationMs: number;
}

export interface CanaryStepReport {
  readonly weight: number;
  readonly analysis?: AnalysisResult;
  readonly paused?: boolean;
}

export interface ShadowReport {
  readonly mirrored: number;
  readonly agreed: number;
  /** `agreed / mirrored`; undefined when nothing was mirrored. */
  readonly agreement: number | undefined;
  readonly candidateErrors: number;
  /** Requests answered but not mirrored while the candidate lagged behind. */
  readonly skipped: number;
}

/** What {@link ModelUpdateManager.deploy} did. */
export interface DeployReport {
  readonly name: string;
  readonly version: number;
  readonly strategy: DeployStrategy['type'];
  /**
   * `promoted`: the candidate is the champion; `rejected`: validation failed; `aborted`: a canary
   * analysis failed or abort() was called; `shadowed`: shadow traffic ran, nothing changed
   * (agreement below `promoteAtAgreement`, or fewer than `minSamples` mirrored answers);
   * `failed`: an error, rolled back (see `error`).
   */
  readonly outcome: 'promoted' | 'rejected' | 'aborted' | 'shadowed' | 'failed';
  readonly previous: number | undefined;
  readonly validation?: ValidationReport;
  readonly steps?: readonly CanaryStepReport[];
  readonly shadow?: ShadowReport;
  readonly error?: Error;
  readonly durationMs: number;
}

export interface RollbackReport {
  readonly name: string;
  readonly from: number;
  readonly to: number;
  readonly durationMs: number;
}

/** Every step, as it happens. */
export type ModelUpdateEvent =
  | { readonly type: 'validated'; readonly report: ValidationReport }
  | {
      readonly type: 'deploying';
      readonly version: number;
      readonly strategy: DeployStrategy['type'];
    }
  | { readonly type: 'canary-step'; readonly version: number; readonly weight: number }
  | {
      readonly type: 'analysis';
      readonly version: number;
      readonly weight: number;
      readonly result: AnalysisResult;
    }
  | { readonly type: 'paused'; readonly version: number; readonly weight: number }
  | { readonly type: 'resumed'; readonly version: number; readonly weight: number }
  | { readonly type: 'promoted'; readonly version: number; readonly previous: number | undefined }
  | { readonly type: 'aborted'; readonly version: number; readonly reason: string }
  | { readonly type: 'rejected'; readonly version: number; readonly failures: readonly string[] }
  | { readonly type: 'failed'; readonly version: number; readonly error: Error }
  | { readonly type: 'rolled-back'; readonly from: number; readonly to: number }
  | { readonly type: 'adopted'; readonly from: number | undefined; readonly to: number };

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
  message: 'a function',
});
const aliasName = z
  .string()
  .regex(
    ALIAS_NAME_PATTERN,
    'an alias name: 1–64 letters, digits, "_" or "-" starting with a letter',
  )
  .refine((alias) => !RESERVED_ALIAS.test(alias), {
    message: 'an alias name other than "latest" and "v<number>" (reserved for version references)',
  });
const optionsSchema = z
  .object({
    registry: z.custom<ModelRegistry>((v) => typeof v === 'object' && v !== null, {
      message: 'a ModelRegistry',
    }),
    name: z
      .string()
      .regex(
        MODEL_NAME_PATTERN,
        'a model name: 1–128 letters, digits, ".", "_" or "-" starting with a letter or digit',
      ),
    runtime: fn,
    optimizer: z.record(z.string(), z.unknown()).default({}),
    validation: z
      .strictObject({
        dataset: z.array(z.unknown()).min(1),
        evaluate: fn,
        thresholds: z.record(z.string(), z.unknown()),
        optimizer: z.record(z.string(), z.unknown()).optional(),
      })
      .optional(),
    championAlias: aliasName.default('champion'),
    challengerAlias: aliasName.default('challenger'),
    actor: z.string().min(1).default('ModelUpdateManager'),
    notifier: z.custom<ModelNotifier>((v) => typeof v === 'object' && v !== null).optional(),
    random: fn.default(() => Math.random),
    clock: commonOptionSchemas.clock.optional(),
    logger: commonOptionSchemas.logger.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.championAlias === o.challengerAlias)
      ctx.addIssue({
        code: 'custom',
        path: ['challengerAlias'],
        input: o.challengerAlias,
        message: `an alias other than championAlias ("${o.championAlias}"): a rollout that fails deletes the challenger alias`,
      });
  });

/** Validates the manager's options once (`E_INVALID_OPTIONS`). */
export function parseManagerOptions<Item>(options: ModelUpdateManagerOptions<Item>) {
  return parseOptions('ModelUpdateManager', optionsSchema, options) as z.output<
    typeof optionsSchema
  > &
    Pick<ModelUpdateManagerOptions<Item>, 'validation' | 'optimizer' | 'runtime'> & {
      optimizer: OptimizerSettings;
      random: () => number;
    };
}
