/**
 * Validated, zero-downtime model updates for one registered model, served through
 * GPUOptimizers: `validate` scores a version offline against gates, `deploy` rolls it out
 * (`replace`, `canary` with analysis, `shadow`), `rollback` returns to the previous champion,
 * and `watch` follows promotions made by other processes. The registry's champion alias is the
 * truth: it moves (compare-and-set) only once the new version serves here, and a failure
 * after that point swaps back. The rollout strategies live in `rollouts.ts`, the alias moves
 * and the following of other processes in `model-aliases.ts`, offline scoring in
 * `model-validation.ts`; this file keeps what serves and serialises the operations that change
 * it (one deploy, rollback or sync at a time).
 */
import { EventEmitter } from 'node:events';
import { type Clock, systemClock } from '../core/clock.js';
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
import { parseThresholds } from './metric-gates.js';
import { ModelAliases } from './model-aliases.js';
import type { ModelVersion } from './model-registry.js';
import { ModelServing } from './model-serving.js';
import {
  type DeployOptions,
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
  startVersion,
  validateVersion,
  versionRuntime,
} from './model-validation.js';
import { checkStrategy } from './rollout-strategy.js';
import { type Rollout, runRollout } from './rollouts.js';

export class ModelUpdateManager<Item = unknown> extends EventEmitter<{
  event: [ModelUpdateEvent];
}> {
  readonly #o: ReturnType<typeof parseManagerOptions<Item>>;
  readonly #thresholds;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #serving: ModelServing | undefined;
  /** The start() in progress, which concurrent calls share. */
  #starting: Promise<ModelVersion> | undefined;
  #rollout: Rollout | undefined;
  /** What deploy() or rollback() is doing, set before their first await. */
  #busy: string | undefined;
  #stopFollowing: (() => Promise<void>) | undefined;
  readonly #aliases: ModelAliases;
  #closed = false;

  constructor(options: ModelUpdateManagerOptions<Item>) {
    super();
    this.#o = parseManagerOptions(options);
    this.#thresholds = options.validation && parseThresholds(options.validation.thresholds);
    this.#clock = this.#o.clock ?? systemClock;
    this.#logger = componentLogger(this.#o.logger, 'ModelUpdateManager');
    this.#aliases = new ModelAliases({ ...this.#o, logger: this.#logger });
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

  /**
   * Loads the version the champion alias names and starts serving it. Concurrent calls share
   * one load; a close() meanwhile unloads it and makes start() `E_CLOSED`.
   */
  async start(): Promise<ModelVersion> {
    if (this.#closed) throw new ClosedError('ModelUpdateManager.start(): the manager is closed');
    if (this.#serving) return this.#serving.champion.version;
    this.#starting ??= this.#load().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #load(): Promise<ModelVersion> {
    const champion = await this.#aliases.champion();
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
    if (this.#closed) {
      await optimizer.close({ drain: false });
      throw new ClosedError('ModelUpdateManager.start(): the manager was closed while starting');
    }
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
    const candidate = await this.#o.registry.resolve(this.#o.name, ref);
    const report = await validateVersion(candidate, {
      registry: this.#o.registry,
      runtime: this.#o.runtime,
      settings: validation.optimizer ?? this.#o.optimizer,
      evaluate: validation.evaluate,
      dataset: validation.dataset,
      thresholds,
      champion: () => this.#aliases.champion(),
      now: () => this.#clock.now(),
    });
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
    try {
      const candidate = await this.#o.registry.resolve(this.#o.name, ref);
      const previous = serving.champion.version.version;
      if (candidate.version === previous)
        throw new ConflictError(
          `ModelUpdateManager.deploy(): version ${candidate.version} of ${this.#o.name} is the champion already`,
        );
      const rollout: Rollout = { candidate, controller: new AbortController(), resume: undefined };
      this.#rollout = rollout;
      const version = candidate.version;
      const base = { name: this.#o.name, version, strategy: strategy.type, previous };
      const report = (result: Omit<DeployReport, keyof typeof base | 'durationMs'>) => ({
        ...base,
        ...result,
        durationMs: this.#clock.now() - started,
      });
      this.#emit({ type: 'deploying', version, strategy: strategy.type });
      let validation: ValidationReport | undefined;
      if (options.validate ?? this.#o.validation !== undefined) {
        validation = await this.validate(version);
        if (!validation.passed) {
          this.#emit({ type: 'rejected', version, failures: validation.failures });
          return report({ outcome: 'rejected', validation });
        }
      }
      const result = await runRollout(strategy, rollout, {
        serving,
        clock: this.#clock,
        emit: (event) => this.#emit(event),
        start: (v) => startVersion(this.#o.registry, v, this.#o.runtime, this.#o.optimizer),
        replace: (v) => this.#replace(v),
        promote: (v) => this.#aliases.promote(v, previous, options.reason ?? strategy.type),
        challenger: (v) => this.#aliases.challenger(v),
      });
      if (result.outcome === 'promoted') this.#emit({ type: 'promoted', version, previous });
      return report({ ...result, ...(validation ? { validation } : {}) });
    } catch (error) {
      if (this.#rollout)
        this.#emit({
          type: 'failed',
          version: this.#rollout.candidate.version,
          error: error as Error,
        });
      throw error;
    } finally {
      this.#busy = undefined;
      this.#rollout = undefined;
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
    resume();
  }

  /**
   * Stops the running rollout: weight back to 0, the candidate unloaded, the champion serving.
   * Honoured at the rollout's next step, pause or alias move; once the alias has moved the
   * candidate is the champion and the deploy reports `promoted`.
   */
  abort(reason = 'aborted by the caller'): void {
    const rollout = this.#rollout;
    if (!rollout) throw new ConflictError('ModelUpdateManager.abort(): no rollout is running');
    rollout.controller.abort(new Error(reason));
  }

  /**
   * Serves the previous champion again (the version the champion alias pointed to before the
   * current one) and moves the alias back.
   */
  async rollback(options: { reason?: string } = {}): Promise<RollbackReport> {
    const serving = this.#started('rollback');
    this.#claim('rollback', `the rollback of ${this.#o.name}`);
    const started = this.#clock.now();
    const current = serving.champion.version.version;
    let previous: ModelVersion;
    try {
      previous = await this.#aliases.previousChampion(current);
      const champion = serving.champion.version;
      await this.#replace(previous);
      try {
        await this.#aliases.promote(previous, current, options.reason ?? 'rollback');
      } catch (error) {
        await this.#replace(champion);
        throw error;
      }
    } finally {
      this.#busy = undefined;
    }
    this.#emit({ type: 'rolled-back', from: current, to: previous.version });
    return {
      name: this.#o.name,
      from: current,
      to: previous.version,
      durationMs: this.#clock.now() - started,
    };
  }

  /**
   * Follows promotions made elsewhere: checks the champion alias every `intervalMs` and on
   * every notification, and swaps to the version it names.
   */
  async watch(options: { intervalMs?: number } = {}): Promise<void> {
    this.#started('watch');
    if (this.#stopFollowing) return;
    this.#stopFollowing = await this.#aliases.follow(
      this.#clock,
      options.intervalMs ?? 5000,
      () => void this.sync(),
    );
  }

  /** Swaps to the version the champion alias names, if another process moved it. */
  async sync(): Promise<boolean> {
    const serving = this.#serving;
    if (!serving || this.#busy || this.#closed) return false;
    this.#busy = `following the ${this.#o.championAlias} alias of ${this.#o.name}`;
    try {
      const champion = await this.#aliases.champion();
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
    await this.#starting?.catch(() => {});
    await this.#stopFollowing?.();
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
