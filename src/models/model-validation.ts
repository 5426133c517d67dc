/**
 * Evaluating one model version offline: its artifact is loaded from the registry (hash checked)
 * into a GPUOptimizer of its own, the caller's evaluator runs the labelled validation set
 * through it, and the manager times every call, adding `latencyP95Ms` and `throughputPerS` to
 * the evaluator's metrics. Serving traffic is not touched, and the speed figures are not skewed
 * by it.
 */
import { InvalidInputError, SalamaError } from '../core/errors.js';
import { GPUOptimizer } from '../gpu/gpu-optimizer.js';
import type { GPUOptimizerOptions } from '../gpu/gpu-optimizer-options.js';
import type { InferOptions, InferResult } from '../gpu/gpu-optimizer-types.js';
import type { RuntimeSource } from '../gpu/runtime.js';
import type { Tensor } from '../gpu/tensor.js';
import { checkThresholds, describeGate, type MetricThreshold } from './metric-gates.js';
import type { ModelRegistry, ModelVersion } from './model-registry.js';
import type { ValidationReport } from './model-update-manager-options.js';

/** What an evaluator gets: the version under test and a way to run it. */
export interface EvaluationTarget {
  readonly version: ModelVersion;
  infer(input: Tensor | Record<string, Tensor>, options?: InferOptions): Promise<InferResult>;
}

/**
 * Scores a model on the validation set: resolves with metrics by name (accuracy,
 * false-positive rate, anything). Run items concurrently to let the optimizer batch them.
 */
export type Evaluator<Item> = (
  target: EvaluationTarget,
  dataset: readonly Item[],
) => Promise<Record<string, number>>;

/** Makes the runtime that serves a version from its artifact's bytes. */
export type RuntimeFromArtifact = (artifact: Uint8Array, version: ModelVersion) => RuntimeSource;

/** Options of the GPUOptimizers the manager creates, all but the runtime. */
export type OptimizerSettings = Omit<GPUOptimizerOptions, 'runtime'>;

/** Names of the speed metrics the manager measures itself during evaluation. */
export const SPEED_METRICS = ['latencyP95Ms', 'throughputPerS'] as const;

/**
 * The runtime for a version, labelled `name@version` whatever the factory called it: the
 * label names the version in GPUOptimizer stats, logs and batch events, which is how
 * answers are counted per version.
 */
export function versionRuntime(
  runtimeFor: RuntimeFromArtifact,
  bytes: Uint8Array,
  version: ModelVersion,
): RuntimeSource {
  return { ...runtimeFor(bytes, version), label: versionLabel(version) };
}

export const versionLabel = (version: Pick<ModelVersion, 'name' | 'version'>) =>
  `${version.name}@${version.version}`;

/**
 * Loads `version`'s artifact and starts a GPUOptimizer on it. An artifact that does not load
 * as a model is `E_INVALID_INPUT` naming the version, with the runtime's error as `cause`.
 */
export async function startVersion(
  registry: ModelRegistry,
  version: ModelVersion,
  runtimeFor: RuntimeFromArtifact,
  settings: OptimizerSettings,
): Promise<{ optimizer: GPUOptimizer; runtime: RuntimeSource }> {
  const { bytes } = await registry.loadArtifact(version.name, version.version);
  let runtime: RuntimeSource;
  let optimizer: GPUOptimizer;
  try {
    runtime = versionRuntime(runtimeFor, bytes, version);
    optimizer = new GPUOptimizer({ ...settings, runtime });
  } catch (error) {
    throw artifactError(version, error);
  }
  try {
    await optimizer.ready();
  } catch (error) {
    await optimizer.close({ drain: false }).catch(() => {});
    throw artifactError(version, error);
  }
  return { optimizer, runtime };
}

/** The error for a version whose artifact did not load (other salama errors pass through). */
export function artifactError(version: ModelVersion, error: unknown): Error {
  if (SalamaError.is(error) && error.code !== 'E_BACKEND_FAILED' && error.code !== 'E_INTERNAL')
    return error;
  return new InvalidInputError(
    `Model ${version.name} version ${version.version}: the artifact (sha256 ${version.sha256.slice(0, 12)}…, ${version.size} bytes) did not load as a model: ${(error as Error).message}`,
    { cause: error, context: { name: version.name, version: version.version } },
  );
}

/**
 * Runs `evaluate` on `version` in an optimizer of its own and returns its metrics plus the
 * measured speed. The optimizer is closed afterwards whatever happens.
 */
export async function evaluateVersion<Item>(
  registry: ModelRegistry,
  version: ModelVersion,
  runtimeFor: RuntimeFromArtifact,
  settings: OptimizerSettings,
  evaluate: Evaluator<Item>,
  dataset: readonly Item[],
): Promise<Record<string, number>> {
  const { optimizer } = await startVersion(registry, version, runtimeFor, settings);
  const latencies: number[] = [];
  const target: EvaluationTarget = {
    version,
    async infer(input, options) {
      const start = performance.now();
      const result = await optimizer.infer(input, options);
      latencies.push(performance.now() - start);
      return result;
    },
  };
  try {
    const started = performance.now();
    const metrics = await evaluate(target, dataset);
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const p95 = latencies[Math.min(latencies.length - 1, Math.floor(0.95 * latencies.length))];
    return {
      ...metrics,
      ...(p95 === undefined ? {} : { latencyP95Ms: p95 }),
      ...(latencies.length > 0 && seconds > 0
        ? { throughputPerS: latencies.length / seconds }
        : {}),
    };
  } finally {
    await optimizer.close({ drain: false });
  }
}

/** What {@link validateVersion} needs beyond the candidate. */
export interface ValidationContext<Item> {
  readonly registry: ModelRegistry;
  readonly runtime: RuntimeFromArtifact;
  readonly settings: OptimizerSettings;
  readonly evaluate: Evaluator<Item>;
  readonly dataset: readonly Item[];
  readonly thresholds: Readonly<Record<string, MetricThreshold>>;
  /** The champion, looked up only when a change gate needs a baseline. */
  readonly champion: () => Promise<ModelVersion | undefined>;
  readonly now: () => number;
}

/**
 * Scores `candidate` (and the champion, when a change gate needs it) and checks the gates;
 * records the candidate's metrics on its version in the registry.
 */
export async function validateVersion<Item>(
  candidate: ModelVersion,
  ctx: ValidationContext<Item>,
): Promise<ValidationReport> {
  const started = ctx.now();
  const evaluate = (version: ModelVersion) =>
    evaluateVersion(ctx.registry, version, ctx.runtime, ctx.settings, ctx.evaluate, ctx.dataset);
  const metrics = await evaluate(candidate);
  const needsBaseline = Object.values(ctx.thresholds).some(
    (t) => t.minAbsoluteChange !== undefined || t.minRelativeChange !== undefined,
  );
  const champion = needsBaseline ? await ctx.champion() : undefined;
  const baseline =
    champion && champion.version !== candidate.version
      ? { version: champion.version, metrics: await evaluate(champion) }
      : undefined;
  const gates = checkThresholds(ctx.thresholds, metrics, baseline?.metrics);
  await ctx.registry.setMetrics(candidate.name, candidate.version, metrics);
  return {
    name: candidate.name,
    version: candidate.version,
    passed: gates.every((g) => g.passed),
    metrics,
    ...(baseline ? { baseline } : {}),
    gates,
    failures: gates.filter((g) => !g.passed).map(describeGate),
    durationMs: ctx.now() - started,
  };
}
