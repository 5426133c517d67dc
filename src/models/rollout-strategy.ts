/** The checks a deploy strategy passes before anything is loaded. */
import { InvalidArgumentError } from '../core/errors.js';
import { parseAnalysis } from './canary-analysis.js';
import type { DeployStrategy } from './model-update-manager-options.js';

function invalid(message: string): never {
  throw new InvalidArgumentError(`ModelUpdateManager.deploy(): ${message}`);
}

/** Checks a strategy before anything is loaded (`E_INVALID_ARGUMENT` / `E_INVALID_OPTIONS`). */
export function checkStrategy(strategy: DeployStrategy): void {
  const type = (strategy as { type?: unknown } | undefined)?.type;
  if (type === 'replace') return;
  if (type === 'canary') {
    const steps = (strategy as { steps?: unknown }).steps;
    if (!Array.isArray(steps) || steps.length === 0)
      invalid(
        `a canary needs steps, such as [{ weight: 10 }, { weight: 50 }], received ${JSON.stringify(steps)}`,
      );
    for (const [i, step] of steps.entries()) {
      const weight = (step as { weight?: unknown })?.weight;
      if (typeof weight !== 'number' || !(weight >= 0 && weight <= 100))
        invalid(
          `expected steps[${i}].weight to be a percentage from 0 to 100, received ${JSON.stringify(weight)}`,
        );
      if (step.analysis) parseAnalysis(step.analysis);
      const pauseMs = (step as { pauseMs?: unknown }).pauseMs;
      if (pauseMs !== undefined && !(typeof pauseMs === 'number' && pauseMs >= 0))
        invalid(
          `expected steps[${i}].pauseMs to be a number of ms ≥ 0, received ${JSON.stringify(pauseMs)}`,
        );
    }
    const canary = strategy as Extract<DeployStrategy, { type: 'canary' }>;
    if (canary.analysis) parseAnalysis(canary.analysis);
    if (canary.onInconclusive !== undefined && !['pause', 'abort'].includes(canary.onInconclusive))
      invalid(
        `expected onInconclusive to be 'pause' or 'abort', received ${JSON.stringify(canary.onInconclusive)}`,
      );
    return;
  }
  if (type === 'shadow') {
    const shadow = strategy as Extract<DeployStrategy, { type: 'shadow' }>;
    if (!(typeof shadow.durationMs === 'number' && shadow.durationMs > 0))
      invalid(`a shadow needs durationMs > 0, received ${JSON.stringify(shadow.durationMs)}`);
    const at = shadow.promoteAtAgreement;
    if (at !== undefined && !(typeof at === 'number' && at >= 0 && at <= 1))
      invalid(
        `expected promoteAtAgreement to be a share from 0 to 1, received ${JSON.stringify(at)}`,
      );
    const min = shadow.minSamples;
    if (min !== undefined && !(Number.isSafeInteger(min) && min >= 1))
      invalid(`expected minSamples to be an integer ≥ 1, received ${JSON.stringify(min)}`);
    return;
  }
  invalid(
    `expected a strategy of type 'replace', 'canary' or 'shadow', received ${JSON.stringify(type)}`,
  );
}

/** Mirrored requests a shadow needs before it may promote, unless `minSamples` says. */
export const DEFAULT_SHADOW_MIN_SAMPLES = 100;
