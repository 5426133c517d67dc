/**
 * The three rollout strategies of {@link ModelUpdateManager.deploy}:
 * - `replace`: the champion's optimizer swaps its runtime (in-flight batches finish on the old
 *   sessions, new ones run on the new), then the champion alias moves;
 * - `canary`: the candidate gets an optimizer of its own and a growing share of traffic, with
 *   Argo-style analysis at each step; a failed analysis (or abort()) sends the weight back to 0
 *   and unloads it; after the last step it becomes the champion;
 * - `shadow`: every request is mirrored to the candidate, which answers nobody; the report says
 *   how often it agreed with the champion, and it may be promoted on that once `minSamples`
 *   answers were compared.
 * Promotion swaps which optimizer is the champion and closes the old one after its queued
 * requests, so no request fails. Any error puts back what the rollout changed, then throws.
 */
import { type Clock, sleep } from '../core/clock.js';
import type { GPUOptimizer } from '../gpu/gpu-optimizer.js';
import type { InferResult } from '../gpu/gpu-optimizer-types.js';
import { type AnalysisResult, parseAnalysis, runAnalysis } from './canary-analysis.js';
import type { ModelVersion } from './model-registry.js';
import type { AgreementCheck, ModelServing, Served } from './model-serving.js';
import type {
  CanaryStepReport,
  DeployReport,
  DeployStrategy,
  ModelUpdateEvent,
} from './model-update-manager-options.js';
import { DEFAULT_SHADOW_MIN_SAMPLES } from './rollout-strategy.js';

/** A rollout in progress: what abort() and resume() reach. */
export interface Rollout {
  readonly candidate: ModelVersion;
  /** abort() aborts it; every strategy checks it before each step and before promoting. */
  readonly controller: AbortController;
  /** Set while a canary is paused on an inconclusive analysis; cleared when it is called. */
  resume: (() => void) | undefined;
}

/** What the strategies need from the manager. */
export interface RolloutContext {
  readonly serving: ModelServing;
  readonly clock: Clock;
  emit(event: ModelUpdateEvent): void;
  /** Loads a version into an optimizer of its own. */
  start(version: ModelVersion): Promise<{ optimizer: GPUOptimizer }>;
  /** Swaps the champion's optimizer to `version`. */
  replace(version: ModelVersion): Promise<void>;
  /** Moves the champion alias to `version` (compare-and-set). */
  promote(version: ModelVersion): Promise<void>;
  /** Points the challenger alias at `version`, or removes it. */
  challenger(version: ModelVersion | undefined): Promise<void>;
}

export type RolloutResult = Pick<DeployReport, 'outcome' | 'steps' | 'shadow'>;

/** Every output tensor of both answers equal within 1e-4 absolute plus 1e-3 relative. */
export const outputsAgree: AgreementCheck = (a: InferResult, b: InferResult) => {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) {
    const x = a[name];
    const y = b[name];
    if (!x || !y || x.data.length !== y.data.length) return false;
    if (x.dims.length !== y.dims.length || x.dims.some((d, i) => d !== y.dims[i])) return false;
    for (let i = 0; i < x.data.length; i++) {
      const p = Number(x.data[i]);
      const q = Number(y.data[i]);
      if (Math.abs(p - q) > 1e-4 + 1e-3 * Math.abs(p)) return false;
    }
  }
  return true;
};

export async function runRollout(
  strategy: DeployStrategy,
  rollout: Rollout,
  ctx: RolloutContext,
): Promise<RolloutResult> {
  const signal = rollout.controller.signal;
  if (signal.aborted) return aborted(ctx, rollout, {});
  if (strategy.type === 'replace') {
    const champion = ctx.serving.champion.version;
    await ctx.replace(rollout.candidate);
    if (signal.aborted) {
      await ctx.replace(champion);
      return aborted(ctx, rollout, {});
    }
    try {
      await ctx.promote(rollout.candidate);
    } catch (error) {
      await ctx.replace(champion);
      throw error;
    }
    return { outcome: 'promoted' };
  }
  const served: Served = {
    version: rollout.candidate,
    optimizer: (await ctx.start(rollout.candidate)).optimizer,
  };
  ctx.serving.attach(served);
  try {
    await ctx.challenger(rollout.candidate);
    return strategy.type === 'canary'
      ? await canary(strategy, rollout, ctx, served)
      : await shadow(strategy, rollout, ctx, served);
  } catch (error) {
    if (ctx.serving.candidate === served) await ctx.serving.detach();
    await served.optimizer.close();
    await ctx.challenger(undefined);
    throw error;
  }
}

async function canary(
  strategy: Extract<DeployStrategy, { type: 'canary' }>,
  rollout: Rollout,
  ctx: RolloutContext,
  served: Served,
): Promise<RolloutResult> {
  const { serving, clock } = ctx;
  const version = rollout.candidate.version;
  const signal = rollout.controller.signal;
  const steps: CanaryStepReport[] = [];
  const abort = async (reason: string) => {
    await serving.detach();
    await served.optimizer.close();
    await ctx.challenger(undefined);
    ctx.emit({ type: 'aborted', version, reason });
    return { outcome: 'aborted', steps } as const;
  };
  try {
    for (const step of strategy.steps) {
      signal.throwIfAborted();
      serving.setWeight(step.weight);
      ctx.emit({ type: 'canary-step', version, weight: step.weight });
      const spec = step.analysis ?? strategy.analysis;
      let analysis: AnalysisResult | undefined;
      if (spec) {
        analysis = await runAnalysis(
          parseAnalysis(spec),
          () => serving.traffic.take(),
          clock,
          signal,
        );
        ctx.emit({ type: 'analysis', version, weight: step.weight, result: analysis });
        steps.push({ weight: step.weight, analysis });
        if (analysis.phase === 'failed' || analysis.phase === 'error')
          return await abort(
            `analysis ${analysis.phase} at ${step.weight} %: ${failedMetrics(analysis)}`,
          );
        if (analysis.phase === 'inconclusive') {
          if (strategy.onInconclusive === 'abort')
            return await abort(`analysis inconclusive at ${step.weight} %`);
          await paused(rollout, () => ctx.emit({ type: 'paused', version, weight: step.weight }));
          ctx.emit({ type: 'resumed', version, weight: step.weight });
        }
      } else steps.push({ weight: step.weight });
      if (step.pauseMs) await sleep(clock, step.pauseMs, signal);
    }
    signal.throwIfAborted();
  } catch (error) {
    if (signal.aborted) return abort(reasonOf(signal));
    throw error;
  }
  await promote(ctx, served);
  return { outcome: 'promoted', steps };
}

async function shadow(
  strategy: Extract<DeployStrategy, { type: 'shadow' }>,
  rollout: Rollout,
  ctx: RolloutContext,
  served: Served,
): Promise<RolloutResult> {
  const signal = rollout.controller.signal;
  const tally = ctx.serving.startShadow(strategy.agree ?? outputsAgree);
  try {
    await sleep(ctx.clock, strategy.durationMs, signal);
  } catch (error) {
    if (!signal.aborted) throw error;
  }
  await ctx.serving.detach();
  const report = {
    ...tally,
    agreement: tally.mirrored === 0 ? undefined : tally.agreed / tally.mirrored,
  };
  const at = strategy.promoteAtAgreement;
  const enough = tally.mirrored >= (strategy.minSamples ?? DEFAULT_SHADOW_MIN_SAMPLES);
  if (
    !signal.aborted &&
    at !== undefined &&
    enough &&
    report.agreement !== undefined &&
    report.agreement >= at
  ) {
    await promote(ctx, served);
    return { outcome: 'promoted', shadow: report };
  }
  await served.optimizer.close();
  await ctx.challenger(undefined);
  if (signal.aborted) return aborted(ctx, rollout, { shadow: report });
  return { outcome: 'shadowed', shadow: report };
}

/**
 * Waits while a canary is paused: resolves on resume(), rejects with the abort reason on
 * abort(). `announce` runs once resume() works, so a listener of the event may call it.
 */
function paused(rollout: Rollout, announce: () => void): Promise<void> {
  const signal = rollout.controller.signal;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      rollout.resume = undefined;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    rollout.resume = () => {
      rollout.resume = undefined;
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    announce();
  });
}

const reasonOf = (signal: AbortSignal) => (signal.reason as Error).message;

/** Reports an aborted rollout that has nothing (more) to put back. */
function aborted(
  ctx: RolloutContext,
  rollout: Rollout,
  result: Omit<RolloutResult, 'outcome'>,
): RolloutResult {
  const reason = reasonOf(rollout.controller.signal);
  ctx.emit({ type: 'aborted', version: rollout.candidate.version, reason });
  return { outcome: 'aborted', ...result };
}

/** Moves the alias, then makes `served` the champion and drains the old one. */
async function promote(ctx: RolloutContext, served: Served): Promise<void> {
  await ctx.promote(served.version);
  // The alias has moved: from here on nothing may throw, or the caller would unload the
  // champion. The old optimizer answers what it holds before it closes.
  const old = ctx.serving.replaceChampion(served);
  if (ctx.serving.candidate) await ctx.serving.detach();
  await old.optimizer.close().catch(() => {});
  await ctx.challenger(undefined).catch(() => {});
}

const failedMetrics = (analysis: AnalysisResult) =>
  analysis.metrics
    .filter((m) => m.phase !== 'successful')
    .map(
      (m) =>
        `${m.name} ${m.phase} (${m.measurements.map((x) => x.value ?? x.error ?? 'no data').join(', ')})`,
    )
    .join('; ');
