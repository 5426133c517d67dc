/**
 * Validated, zero-downtime model updates for one registered model, served through
 * GPUOptimizers: `validate` scores a version offline against gates, `deploy` rolls it out
 * (`replace`, `canary` with analysis, `shadow`), `rollback` returns to the previous champion,
 * and `watch` follows promotions made by other processes. The registry's champion alias is the
 * truth: it moves (compare-and-set) only once the new version serves here, and a failure
 * after that point swaps back. The rollout strategies themselves live in `rollouts.ts`.
 */
import { EventEmitter } from 'node:events';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import {
  BackendUnavailableError,
  ClosedError,
  ConflictError,
  InvalidOptionsError,
  NotFoundError,
} from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import type { InferOptions, InferResult } from '../gpu/gpu-optimizer-types.js';
import type { Tensor } from '../gpu/tensor.js';
import { checkThresholds, describeGate, parseThresholds } from './metric-gates.js';
import type { ModelVersion } from './model-registry.js';
import { ModelServing } from './model-serving.js';
import {
  type DeployReport,
  type DeployStrategy,
  type ModelUpdateEvent,
  type ModelUpdateManagerOptions,
  parseManagerOptions,
  type RollbackReport,
  type ValidationReport,
} from './model-update-manager-options.js';
import {
  artifactError,
  evaluateVersion,
  startVersion,
  versionRuntime,
} from './model-validation.js';
import { checkStrategy, type Rollout, runRollout } from './rollouts.js';

export interface DeployOptions {
  /** Run {@link ModelUpdateManager.validate} first. @default true when `validation` is set */
  readonly validate?: boolean;
  /** Recorded with the alias move. */
  readonly reason?: string;
}

export class ModelUpdateManager<Item = unknown> extends EventEmitter<{
  event: [ModelUpdateEvent];
}> {
  readonly #o: ReturnType<typeof parseManagerOptions<Item>>;
  readonly #thresholds;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #serving: ModelServing | undefined;
  #rollout: Rollout | undefined;
  /** What deploy() or rollback() is doing, set before their first await. */
  #busy: string | undefined;
  #watchTimer: TimerHandle | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(options: ModelUpdateManagerOptions<Item>) {
    super();
    this.#o = parseManagerOptions(options);
    this.#thresholds = options.validation && parseThresholds(options.validation.thresholds);
    this.#clock = this.#o.clock ?? systemClock;
    this.#logger = componentLogger(this.#o.logger, 'ModelUpdateManager');
  }

  get name(): string {
    return this.#o.name;
  }

  /** What serves now: the champion, and during a rollout the candidate and its weight (%). */
  get serving(): { champion: ModelVersion; candidate?: ModelVersion; weight: number } {
    const serving = this.#started('serving');
    const candidate = serving.candidate?.version;
    return {
      champion: serving.champion.version,
      ...(candidate ? { candidate } : {}),
      weight: serving.weight,
    };
  }

  /**
   * What serves, plus how many items each version has run here since start() (mirrored
   * shadow requests included),
   * counted from the optimizers' batches (so a replace, which swaps runtimes under running
   * traffic, is counted exactly: a batch runs wholly on the old or the new version).
   */
  stats(): {
    champion: number;
    candidate?: number;
    weight: number;
    answered: Readonly<Record<number, number>>;
  } {
    const serving = this.#started('stats');
    const candidate = serving.candidate?.version.version;
    return {
      champion: serving.champion.version.version,
      ...(candidate === undefined ? {} : { candidate }),
      weight: serving.weight,
      answered: serving.answered(),
    };
  }

  /** Loads the version the champion alias names and starts serving it. */
  async start(): Promise<ModelVersion> {
    if (this.#serving) return this.#serving.champion.version;
    const champion = await this.#champion();
    if (!champion)
      throw new NotFoundError(
        `ModelUpdateManager.start(): model ${this.#o.name} has no '${this.#o.championAlias}' alias; point it at a version first (registry.setAlias(${JSON.stringify(this.#o.name)}, ${JSON.stringify(this.#o.championAlias)}, version))`,
        { context: { name: this.#o.name, alias: this.#o.championAlias } },
      );
    const { optimizer } = await startVersion(
      this.#o.registry,
      champion,
      this.#o.runtime,
      this.#o.optimizer,
    );
    this.#serving = new ModelServing(
      { version: champion, optimizer },
      () => this.#clock.now(),
      this.#o.random,
    );
    return champion;
  }

  /** Runs one item on the champion, or on the candidate for its share of a canary. */
  async infer(
    input: Tensor | Record<string, Tensor>,
    options?: InferOptions,
  ): Promise<InferResult> {
    return this.#started('infer').infer(input, options);
  }

  /**
   * Scores `ref` (a version number, `'latest'` or an alias) on the validation set in an
   * optimizer of its own, measures its speed, and checks the gates; the champion is scored too
   * when a change gate needs it. The metrics are recorded on the version in the registry.
   */
  async validate(ref: number | string): Promise<ValidationReport> {
    const validation = this.#o.validation;
    const thresholds = this.#thresholds;
    if (!validation || !thresholds)
      throw new InvalidOptionsError(
        'ModelUpdateManager.validate() needs the validation option (dataset, evaluate, thresholds)',
      );
    const started = this.#clock.now();
    const { registry, name } = this.#o;
    const candidate = await registry.resolve(name, ref);
    const settings = validation.optimizer ?? this.#o.optimizer;
    const evaluate = (version: ModelVersion) =>
      evaluateVersion(
        registry,
        version,
        this.#o.runtime,
        settings,
        validation.evaluate,
        validation.dataset,
      );
    const metrics = await evaluate(candidate);
    let baseline: ValidationReport['baseline'];
    const needsBaseline = Object.values(thresholds).some(
      (t) => t.minAbsoluteChange !== undefined || t.minRelativeChange !== undefined,
    );
    const champion = needsBaseline ? await this.#champion() : undefined;
    if (champion && champion.version !== candidate.version)
      baseline = { version: champion.version, metrics: await evaluate(champion) };
    const gates = checkThresholds(thresholds, metrics, baseline?.metrics);
    await registry.setMetrics(name, candidate.version, metrics);
    const report: ValidationReport = {
      name,
      version: candidate.version,
      passed: gates.every((g) => g.passed),
      metrics,
      ...(baseline ? { baseline } : {}),
      gates,
      failures: gates.filter((g) => !g.passed).map(describeGate),
      durationMs: this.#clock.now() - started,
    };
    this.#emit({ type: 'validated', report });
    return report;
  }

  /**
   * Rolls `ref` out with `strategy` (default `replace`), after validation when configured. A
   * rejected or aborted rollout leaves the champion serving and resolves with its report; an
   * error (an artifact that does not load, an alias moved meanwhile) is thrown after
   * everything it changed has been put back.
   */
  async deploy(
    ref: number | string,
    strategy: DeployStrategy = { type: 'replace' },
    options: DeployOptions = {},
  ): Promise<DeployReport> {
    const serving = this.#started('deploy');
    checkStrategy(strategy);
    this.#claim('deploy', `the rollout of ${this.#o.name} ${JSON.stringify(ref)}`);
    const started = this.#clock.now();
    let rollout: Rollout | undefined;
    try {
      const candidate = await this.#o.registry.resolve(this.#o.name, ref);
      const previous = serving.champion.version.version;
      if (candidate.version === previous)
        throw new ConflictError(
          `ModelUpdateManager.deploy(): version ${candidate.version} of ${this.#o.name} is the champion already`,
        );
      rollout = { candidate, controller: new AbortController(), resume: undefined };
      this.#rollout = rollout;
      return await this.#deploy(serving, rollout, strategy, options, previous, started);
    } finally {
      this.#busy = undefined;
      this.#rollout = undefined;
    }
  }

  async #deploy(
    serving: ModelServing,
    rollout: Rollout,
    strategy: DeployStrategy,
    options: DeployOptions,
    previous: number,
    started: number,
  ): Promise<DeployReport> {
    const { candidate } = rollout;
    const base = {
      name: this.#o.name,
      version: candidate.version,
      strategy: strategy.type,
      previous,
    };
    try {
      this.#emit({ type: 'deploying', version: candidate.version, strategy: strategy.type });
      let validation: ValidationReport | undefined;
      if (options.validate ?? this.#o.validation !== undefined) {
        validation = await this.validate(candidate.version);
        if (!validation.passed) {
          this.#emit({
            type: 'rejected',
            version: candidate.version,
            failures: validation.failures,
          });
          return {
            ...base,
            outcome: 'rejected',
            validation,
            durationMs: this.#clock.now() - started,
          };
        }
      }
      const result = await runRollout(strategy, rollout, {
        serving,
        clock: this.#clock,
        emit: (event) => this.#emit(event),
        start: (version) =>
          startVersion(this.#o.registry, version, this.#o.runtime, this.#o.optimizer),
        replace: (version) => this.#replace(version),
        promote: (version) =>
          this.#moveChampion(version, previous, options.reason ?? strategy.type),
        challenger: (version) => this.#challenger(version),
      });
      if (result.outcome === 'promoted')
        this.#emit({ type: 'promoted', version: candidate.version, previous });
      return {
        ...base,
        ...result,
        ...(validation ? { validation } : {}),
        durationMs: this.#clock.now() - started,
      };
    } catch (error) {
      this.#emit({ type: 'failed', version: candidate.version, error: error as Error });
      throw error;
    }
  }

  #claim(method: string, what: string) {
    if (this.#busy)
      throw new ConflictError(
        `ModelUpdateManager.${method}(): ${this.#busy} is in progress; wait for it, or abort() a rollout`,
      );
    this.#busy = what;
  }

  /** Continues a canary paused on an inconclusive analysis. */
  resume(): void {
    const resume = this.#rollout?.resume;
    if (!resume) throw new ConflictError('ModelUpdateManager.resume(): no rollout is paused');
    resume('resume');
  }

  /** Stops the running rollout: weight back to 0, the candidate unloaded, the champion serving. */
  abort(reason = 'aborted by the caller'): void {
    const rollout = this.#rollout;
    if (!rollout) throw new ConflictError('ModelUpdateManager.abort(): no rollout is running');
    if (rollout.resume) rollout.resume('abort');
    else rollout.controller.abort(new Error(reason));
  }

  /**
   * Serves the previous champion again (the version the champion alias pointed to before the
   * current one) and moves the alias back.
   */
  async rollback(options: { reason?: string } = {}): Promise<RollbackReport> {
    const serving = this.#started('rollback');
    this.#claim('rollback', `the rollback of ${this.#o.name}`);
    const started = this.#clock.now();
    const { registry, name, championAlias } = this.#o;
    const current = serving.champion.version.version;
    let previous: ModelVersion;
    try {
      const moves = await registry.aliasHistory(name, championAlias);
      const last = [...moves]
        .reverse()
        .find((m) => m.to === current && m.from !== undefined && m.from !== current);
      if (!last || last.from === undefined)
        throw new NotFoundError(
          `ModelUpdateManager.rollback(): model ${name} has no previous champion: alias '${championAlias}' never pointed anywhere before version ${current}`,
          { context: { name, version: current } },
        );
      previous = await registry.getVersion(name, last.from);
      const champion = serving.champion.version;
      await this.#replace(previous);
      try {
        await this.#moveChampion(previous, current, options.reason ?? 'rollback');
      } catch (error) {
        await this.#replace(champion);
        throw error;
      }
    } finally {
      this.#busy = undefined;
    }
    this.#emit({ type: 'rolled-back', from: current, to: previous.version });
    return { name, from: current, to: previous.version, durationMs: this.#clock.now() - started };
  }

  /**
   * Follows promotions made elsewhere: checks the champion alias every `intervalMs` and on
   * every notification, and swaps to the version it names.
   */
  async watch(options: { intervalMs?: number } = {}): Promise<void> {
    this.#started('watch');
    const intervalMs = options.intervalMs ?? 5000;
    if (!Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new InvalidOptionsError(
        `ModelUpdateManager.watch(): expected intervalMs to be a positive number, received ${String(intervalMs)}`,
      );
    if (this.#watchTimer) return;
    this.#watchTimer = this.#clock.setInterval(() => void this.sync(), intervalMs).unref();
    this.#unsubscribe = await this.#o.notifier?.subscribe(this.#o.name, () => void this.sync());
  }

  /** Swaps to the version the champion alias names, if another process moved it. */
  async sync(): Promise<boolean> {
    const serving = this.#serving;
    if (!serving || this.#busy || this.#closed) return false;
    this.#busy = `following the ${this.#o.championAlias} alias of ${this.#o.name}`;
    try {
      const champion = await this.#champion();
      const from = serving.champion.version.version;
      if (!champion || champion.version === from) return false;
      await this.#replace(champion);
      this.#emit({ type: 'adopted', from, to: champion.version });
      return true;
    } catch (error) {
      this.#logger.warn({ err: error }, `could not follow the ${this.#o.championAlias} alias`);
      return false;
    } finally {
      this.#busy = undefined;
    }
  }

  /** Stops watching, aborts a rollout, and closes the optimizers after their queued work. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchTimer) this.#clock.clearTimer(this.#watchTimer);
    await this.#unsubscribe?.();
    if (this.#rollout) this.abort('the manager is closing');
    const serving = this.#serving;
    const candidate = await serving?.detach();
    await Promise.all([candidate?.optimizer.close(), serving?.champion.optimizer.close()]);
  }

  /** Swaps the champion's optimizer to `version` in place: no request fails. */
  async #replace(version: ModelVersion): Promise<void> {
    const serving = this.#started('deploy');
    const { bytes } = await this.#o.registry.loadArtifact(version.name, version.version);
    try {
      await serving.champion.optimizer.swapRuntime(versionRuntime(this.#o.runtime, bytes, version));
    } catch (error) {
      throw artifactError(version, error);
    }
    serving.replaceChampion({ version, optimizer: serving.champion.optimizer });
  }

  async #moveChampion(version: ModelVersion, expected: number, reason: string): Promise<void> {
    const { registry, name, championAlias, actor } = this.#o;
    await registry.setAlias(name, championAlias, version.version, { actor, reason, expected });
    await this.#o.notifier
      ?.publish({ name, version: version.version })
      .catch((error: unknown) =>
        this.#logger.warn({ err: error }, 'could not publish the promotion'),
      );
  }

  async #challenger(version: ModelVersion | undefined): Promise<void> {
    const { registry, name, challengerAlias, actor } = this.#o;
    if (version) await registry.setAlias(name, challengerAlias, version.version, { actor });
    else await registry.deleteAlias(name, challengerAlias, { actor }).catch(() => {});
  }

  async #champion(): Promise<ModelVersion | undefined> {
    const { registry, name, championAlias } = this.#o;
    const aliases = await registry.aliases(name).catch(() => ({}) as Record<string, number>);
    const version = aliases[championAlias];
    return version === undefined ? undefined : registry.getVersion(name, version);
  }

  #started(method: string): ModelServing {
    if (this.#closed)
      throw new ClosedError(`ModelUpdateManager.${method}(): the manager is closed`);
    if (!this.#serving)
      throw new BackendUnavailableError(
        `ModelUpdateManager.${method}(): call start() first; nothing is serving ${this.#o.name} yet`,
      );
    return this.#serving;
  }

  #emit(event: ModelUpdateEvent) {
    this.#logger.info({ ...event, name: this.#o.name }, `model ${this.#o.name}: ${event.type}`);
    this.emit('event', event);
  }
}
