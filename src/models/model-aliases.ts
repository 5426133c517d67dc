/**
 * The registry side of a {@link ModelUpdateManager}: the champion and challenger aliases of one
 * model, moved with the manager's actor, promotions announced to other processes, the previous
 * champion found in the alias history, and promotions made elsewhere followed by polling and
 * notification.
 */
import type { Clock } from '../core/clock.js';
import { InvalidOptionsError, NotFoundError, SalamaError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ModelNotifier } from './model-notifier.js';
import type { ModelRegistry, ModelVersion } from './model-registry.js';

export interface ModelAliasesOptions {
  readonly registry: ModelRegistry;
  readonly name: string;
  readonly championAlias: string;
  readonly challengerAlias: string;
  readonly actor: string;
  readonly notifier?: ModelNotifier | undefined;
  readonly logger: Logger;
}

export class ModelAliases {
  readonly #o: ModelAliasesOptions;

  constructor(options: ModelAliasesOptions) {
    this.#o = options;
  }

  /**
   * The version the champion alias names; undefined when the model or the alias does not
   * exist. A registry that cannot be read is `E_BACKEND_FAILED`, never "no champion": a change
   * gate would otherwise pass for want of a baseline.
   */
  async champion(): Promise<ModelVersion | undefined> {
    const { registry, name, championAlias } = this.#o;
    try {
      const version = (await registry.aliases(name))[championAlias];
      return version === undefined ? undefined : await registry.getVersion(name, version);
    } catch (error) {
      // The registry wraps database errors as E_BACKEND_FAILED; those must reach the caller.
      if (SalamaError.is(error, 'E_NOT_FOUND')) return undefined;
      throw error;
    }
  }

  /** Moves the champion alias to `version` if it still names `expected`, then tells others. */
  async promote(version: ModelVersion, expected: number, reason: string): Promise<void> {
    const { registry, name, championAlias, actor, notifier } = this.#o;
    await registry.setAlias(name, championAlias, version.version, { actor, reason, expected });
    await notifier
      ?.publish({ name, version: version.version })
      .catch((error: unknown) =>
        this.#o.logger.warn({ err: error }, 'could not publish the promotion'),
      );
  }

  /** Points the challenger alias at `version`, or removes it. */
  async challenger(version: ModelVersion | undefined): Promise<void> {
    const { registry, name, challengerAlias, actor } = this.#o;
    if (version) await registry.setAlias(name, challengerAlias, version.version, { actor });
    else await registry.deleteAlias(name, challengerAlias, { actor }).catch(() => {});
  }

  /** The version the champion alias named before it moved to `current` (`E_NOT_FOUND` if none). */
  async previousChampion(current: number): Promise<ModelVersion> {
    const { registry, name, championAlias } = this.#o;
    const moves = await registry.aliasHistory(name, championAlias);
    const last = [...moves]
      .reverse()
      .find((m) => m.to === current && m.from !== undefined && m.from !== current);
    if (!last || last.from === undefined)
      throw new NotFoundError(
        `ModelUpdateManager.rollback(): model ${name} has no previous champion: alias '${championAlias}' never pointed anywhere before version ${current}`,
        { context: { name, version: current } },
      );
    return registry.getVersion(name, last.from);
  }

  /**
   * Calls `check` every `intervalMs` on `clock` and on every notification about this model;
   * resolves with a function that stops both.
   */
  async follow(clock: Clock, intervalMs: number, check: () => void): Promise<() => Promise<void>> {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new InvalidOptionsError(
        `ModelUpdateManager.watch(): expected intervalMs to be a positive number, received ${String(intervalMs)}`,
      );
    const timer = clock.setInterval(check, intervalMs).unref();
    const unsubscribe = await this.#o.notifier?.subscribe(this.#o.name, check);
    return async () => {
      clock.clearTimer(timer);
      await unsubscribe?.();
    };
  }
}
