/**
 * `ModelRegistry`: an MLflow-style catalogue of models. A model has immutable, numbered
 * versions whose artifact bytes live in a {@link BlobStore} under their SHA-256 (checked on
 * every load), with metadata, metrics and tags; and aliases (`champion`, `challenger`, any
 * name) that each point to one version, with the history of every move.
 *
 * The catalogue is three tables in the caller's Kysely database (SQLite, PostgreSQL or
 * PGlite), so every service instance opening the same database and store sees the same
 * registry. Writes are compare-and-set (see `model-catalog.ts`), so no instance needs a lock.
 */
import { createHash } from 'node:crypto';
import { ConflictError, InvalidArgumentError, NotFoundError, SalamaError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { detectDialect } from '../retention/sql.js';
import {
  checkAliasName,
  checkAliasOptions,
  checkArtifactBytes,
  checkMetrics,
  checkModelName,
  checkRegisterOptions,
  checkTags,
  checkVersionNumber,
  parseRef,
} from './model-arguments.js';
import { fetchArtifact, storeArtifact } from './model-artifacts.js';
import { ModelCatalog } from './model-catalog.js';
import { catalogTables, createCatalogTables } from './model-catalog-schema.js';
import {
  type AliasMove,
  type AliasOptions,
  type ModelRegistryOptions,
  type ModelVersion,
  type ParsedRegistryOptions,
  type RegisterOptions,
  registryOptionsSchema,
} from './model-registry-options.js';

export type {
  AliasMove,
  AliasOptions,
  ModelRegistryOptions,
  ModelVersion,
  RegisterOptions,
} from './model-registry-options.js';

/**
 * An MLflow-style model registry shared through a database and a blob store; create one with
 * {@link ModelRegistry.open}. It holds no resources of its own, so it has no `close()`.
 */
export class ModelRegistry {
  readonly #options: ParsedRegistryOptions;
  readonly #catalog: ModelCatalog;

  private constructor(options: ParsedRegistryOptions) {
    this.#options = options;
    this.#catalog = new ModelCatalog(options.db, catalogTables(options.tablePrefix));
  }

  /**
   * Checks the options and creates the catalogue tables when they are missing; two processes
   * opening the same database at once is safe. `E_INVALID_OPTIONS` for bad options.
   */
  static async open(options: ModelRegistryOptions): Promise<ModelRegistry> {
    const parsed = parseOptions('ModelRegistry', registryOptionsSchema, options);
    const dialect = detectDialect(parsed.db);
    await createCatalogTables(parsed.db, dialect, catalogTables(parsed.tablePrefix));
    return new ModelRegistry(parsed);
  }

  /**
   * Stores the artifact (once per distinct content) and registers it as the model's next
   * version; creates the model with version 1 when it is new. Concurrent registrations of
   * one model, from any process, get distinct consecutive numbers. The bytes are copied
   * before anything else, so a caller may reuse its buffer at once.
   */
  async registerVersion(
    name: string,
    artifact: Uint8Array,
    options?: RegisterOptions,
  ): Promise<ModelVersion> {
    const call = `ModelRegistry.registerVersion(${JSON.stringify(name)})`;
    checkModelName(call, name);
    checkArtifactBytes(call, artifact);
    // What is checked, hashed and stored must be the same bytes, whatever the caller does with
    // its buffer meanwhile (Buffer#slice would not copy; the constructor does).
    const bytes = new Uint8Array(artifact);
    const checked = checkRegisterOptions(call, options);
    await this.#check(call, name, bytes, checked.format);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await storeArtifact(this.#options.store, this.#key(sha256), bytes, sha256);
    return this.#catalog.insertVersion({
      name,
      sha256,
      size: bytes.byteLength,
      format: checked.format,
      description: checked.description,
      metadata: checked.metadata,
      metrics: checked.metrics,
      tags: checked.tags,
      createdAt: new Date(this.#options.clock.now()),
      createdBy: checked.actor,
    });
  }

  /** One version. `E_NOT_FOUND` saying whether the model or only the version is missing. */
  async getVersion(name: string, version: number): Promise<ModelVersion> {
    const call = `ModelRegistry.getVersion(${JSON.stringify(name)}, ${String(version)})`;
    checkModelName(call, name);
    checkVersionNumber(call, version);
    return (await this.#catalog.version(name, version)) ?? this.#missingVersion(name, version);
  }

  /**
   * The version a reference names: a number (or `'v3'`) that version, `'latest'` the highest,
   * any other string an alias. `E_NOT_FOUND` when there is no such version or alias.
   */
  async resolve(name: string, ref: number | string): Promise<ModelVersion> {
    const call = `ModelRegistry.resolve(${JSON.stringify(name)}, ${JSON.stringify(ref)})`;
    checkModelName(call, name);
    const parsed = parseRef(call, ref);
    if (parsed.kind === 'version') return this.getVersion(name, parsed.version);
    const version =
      parsed.kind === 'latest'
        ? await this.#catalog.latestNumber(name)
        : await this.#catalog.alias(name, parsed.alias);
    if (version === undefined) {
      await this.#requireModel(name);
      const aliases = Object.keys(await this.#catalog.aliases(name));
      throw new NotFoundError(
        `Model "${name}" has no alias "${ref}" (its aliases: ${aliases.join(', ') || 'none'})`,
        { context: { name, alias: ref, aliases } },
      );
    }
    return this.getVersion(name, version);
  }

  /** Every version of the model, ascending. `E_NOT_FOUND` for an unknown model. */
  async versions(name: string): Promise<ModelVersion[]> {
    checkModelName(`ModelRegistry.versions(${JSON.stringify(name)})`, name);
    const versions = await this.#catalog.versions(name);
    if (versions.length === 0) await this.#requireModel(name);
    return versions;
  }

  /** The names of all registered models, sorted. */
  models(): Promise<string[]> {
    return this.#catalog.models();
  }

  /** Merges metrics (finite numbers) into the version's; returns the updated version. */
  async setMetrics(
    name: string,
    version: number,
    metrics: Record<string, number>,
  ): Promise<ModelVersion> {
    const call = `ModelRegistry.setMetrics(${JSON.stringify(name)}, ${String(version)})`;
    checkModelName(call, name);
    checkVersionNumber(call, version);
    const patch = checkMetrics(call, metrics);
    if (!(await this.#catalog.mergeJson(name, version, 'metrics', patch)))
      return this.#missingVersion(name, version);
    return this.getVersion(name, version);
  }

  /** Merges tags (strings) into the version's; returns the updated version. */
  async setTags(
    name: string,
    version: number,
    tags: Record<string, string>,
  ): Promise<ModelVersion> {
    const call = `ModelRegistry.setTags(${JSON.stringify(name)}, ${String(version)})`;
    checkModelName(call, name);
    checkVersionNumber(call, version);
    const patch = checkTags(call, tags);
    if (!(await this.#catalog.mergeJson(name, version, 'tags', patch)))
      return this.#missingVersion(name, version);
    return this.getVersion(name, version);
  }

  /**
   * Points the alias at the version (creating it when new) and records the move, in one
   * transaction. `E_NOT_FOUND` for a missing version and `E_CONFLICT` when `expected` does not
   * hold; in both cases the alias is left as it was. Pointing an alias at the version it
   * already names is recorded as a move too (`from` equals `to`).
   */
  async setAlias(
    name: string,
    alias: string,
    version: number,
    options?: AliasOptions,
  ): Promise<AliasMove> {
    const call = `ModelRegistry.setAlias(${JSON.stringify(name)}, ${JSON.stringify(alias)}, ${String(version)})`;
    checkModelName(call, name);
    checkAliasName(call, alias);
    checkVersionNumber(call, version);
    const checked = checkAliasOptions(call, options);
    await this.getVersion(name, version);
    return this.#move(call, name, alias, version, checked);
  }

  /** Deletes the alias and records it. `E_NOT_FOUND` when it does not exist. */
  async deleteAlias(name: string, alias: string, options?: AliasOptions): Promise<AliasMove> {
    const call = `ModelRegistry.deleteAlias(${JSON.stringify(name)}, ${JSON.stringify(alias)})`;
    checkModelName(call, name);
    checkAliasName(call, alias);
    return this.#move(call, name, alias, undefined, checkAliasOptions(call, options));
  }

  /** The model's aliases and their versions, by alias name. `E_NOT_FOUND` for an unknown model. */
  async aliases(name: string): Promise<Record<string, number>> {
    checkModelName(`ModelRegistry.aliases(${JSON.stringify(name)})`, name);
    await this.#requireModel(name);
    return this.#catalog.aliases(name);
  }

  /** Every move of the model's aliases (of one alias when given), oldest first. */
  async aliasHistory(name: string, alias?: string): Promise<AliasMove[]> {
    const call = `ModelRegistry.aliasHistory(${JSON.stringify(name)})`;
    checkModelName(call, name);
    if (alias !== undefined) checkAliasName(call, alias);
    await this.#requireModel(name);
    return this.#catalog.history(name, alias);
  }

  /**
   * The version a reference names (as {@link resolve}) and its artifact bytes, whose size and
   * SHA-256 are checked against the catalogue: `E_INTEGRITY` when the stored object changed
   * or is missing.
   */
  async loadArtifact(
    name: string,
    ref: number | string,
  ): Promise<{ version: ModelVersion; bytes: Uint8Array }> {
    const version = await this.resolve(name, ref);
    const bytes = await fetchArtifact(this.#options.store, this.#key(version.sha256), version);
    return { version, bytes };
  }

  async #move(
    call: string,
    name: string,
    alias: string,
    to: number | undefined,
    options: AliasOptions,
  ): Promise<AliasMove> {
    for (;;) {
      const from = await this.#catalog.alias(name, alias);
      if (options.expected !== undefined && from !== (options.expected ?? undefined)) {
        const now = from === undefined ? 'does not exist' : `points to version ${from}`;
        const wanted =
          options.expected === null ? 'not to exist' : `to point to version ${options.expected}`;
        throw new ConflictError(
          `${call}: expected alias "${alias}" ${wanted}, but it ${now}; nothing was changed`,
          { context: { name, alias, expected: options.expected, actual: from } },
        );
      }
      if (from === undefined && to === undefined) {
        await this.#requireModel(name);
        throw new NotFoundError(`${call}: model "${name}" has no alias "${alias}"`, {
          context: { name, alias },
        });
      }
      const move = { name, alias, from, to, actor: options.actor, reason: options.reason };
      const at = this.#options.clock.now();
      if (await this.#catalog.moveAlias({ ...move, at }))
        return Object.freeze({ ...move, at: new Date(at) });
    }
  }

  async #check(call: string, name: string, artifact: Uint8Array, format: string | undefined) {
    const check = this.#options.checkArtifact;
    if (!check) return;
    try {
      await check(artifact, { name, format });
    } catch (error) {
      if (error instanceof SalamaError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new InvalidArgumentError(
        `${call}: the artifact (${artifact.byteLength} bytes, format ${JSON.stringify(format ?? null)}) was refused by checkArtifact: ${reason}`,
        { cause: error, context: { name, format, size: artifact.byteLength } },
      );
    }
  }

  #key(sha256: string): string {
    return `${this.#options.artifactPrefix}${sha256}`;
  }

  /** The model's highest version number; `E_NOT_FOUND` when the model has none. */
  async #requireModel(name: string): Promise<number> {
    const latest = await this.#catalog.latestNumber(name);
    if (latest === undefined)
      throw new NotFoundError(`No model named "${name}" is registered`, {
        context: { name, modelExists: false },
      });
    return latest;
  }

  async #missingVersion(name: string, version: number): Promise<never> {
    const latest = await this.#requireModel(name);
    throw new NotFoundError(
      `Model "${name}" has no version ${version} (its versions are 1 to ${latest})`,
      { context: { name, version, modelExists: true, latest } },
    );
  }
}
