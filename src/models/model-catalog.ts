/**
 * The SQL behind {@link ModelRegistry}: reads and compare-and-set writes on the catalogue
 * tables (see `model-catalog-schema.ts`). Every write is one statement or one transaction
 * that states what it expects to find, so several processes can share the tables without
 * locks: a writer that loses a race sees zero rows changed and reads again.
 */
import { BackendFailedError, ConflictError, SalamaError } from '../core/errors.js';
import type { AnyKysely } from '../retention/sql.js';
import {
  type CatalogRow,
  type CatalogTables,
  isUniqueViolation,
  optional,
  toMove,
  toVersion,
} from './model-catalog-schema.js';
import type { AliasMove, ModelVersion } from './model-registry-options.js';

/** How often a write that lost a race to another writer is tried again. */
const MAX_ATTEMPTS = 64;

/** A version as it is inserted: everything but the number the catalogue assigns. */
export type NewVersion = Omit<ModelVersion, 'version'>;

/** One alias move to apply, stamped in ms: `from` must still be current for it to happen. */
export type PlannedMove = Omit<AliasMove, 'at'> & { readonly at: number };

/** The catalogue tables of one prefix, read and written through the caller's Kysely. */
export class ModelCatalog {
  readonly #db: AnyKysely;
  readonly #t: CatalogTables;

  constructor(db: AnyKysely, tables: CatalogTables) {
    this.#db = db;
    this.#t = tables;
  }

  /**
   * Inserts the version under the next free number and returns it. Two writers that pick
   * the same number collide on the primary key; the loser reads the new highest and retries.
   */
  insertVersion(entry: NewVersion): Promise<ModelVersion> {
    return this.#run(`register a version of model "${entry.name}"`, async () => {
      for (let attempt = 1; ; attempt++) {
        const version = ((await this.latestNumber(entry.name)) ?? 0) + 1;
        try {
          await this.#db
            .insertInto(this.#t.versions)
            .values({
              name: entry.name,
              version,
              sha256: entry.sha256,
              size: entry.size,
              format: entry.format ?? null,
              description: entry.description ?? null,
              metadata: JSON.stringify(entry.metadata),
              metrics: JSON.stringify(entry.metrics),
              tags: JSON.stringify(entry.tags),
              created_at: entry.createdAt.getTime(),
              created_by: entry.createdBy ?? null,
            })
            .execute();
          return toVersion((await this.#versionRow(entry.name, version)) ?? {});
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
          if (attempt >= MAX_ATTEMPTS)
            throw new ConflictError(
              `Could not register a version of model "${entry.name}": ${MAX_ATTEMPTS} attempts each lost the version number to another writer`,
              { cause: error, context: { name: entry.name, attempts: attempt } },
            );
        }
      }
    });
  }

  version(name: string, version: number): Promise<ModelVersion | undefined> {
    return this.#run(`read model "${name}" version ${version}`, async () => {
      const row = await this.#versionRow(name, version);
      return row && toVersion(row);
    });
  }

  /** The highest version number of the model, or `undefined` when it has none. */
  latestNumber(name: string): Promise<number | undefined> {
    return this.#run(`read the latest version of model "${name}"`, async () => {
      const row = await this.#db
        .selectFrom(this.#t.versions)
        .select((eb) => eb.fn.max('version').as('latest'))
        .where('name', '=', name)
        .executeTakeFirst();
      return optional(row?.latest, Number);
    });
  }

  versions(name: string): Promise<ModelVersion[]> {
    return this.#run(`list the versions of model "${name}"`, async () => {
      const rows = await this.#db
        .selectFrom(this.#t.versions)
        .selectAll()
        .where('name', '=', name)
        .orderBy('version')
        .execute();
      return rows.map(toVersion);
    });
  }

  models(): Promise<string[]> {
    return this.#run('list the models', async () => {
      const rows = await this.#db.selectFrom(this.#t.versions).select('name').distinct().execute();
      // Sorted here: PostgreSQL collations may order names differently from SQLite.
      return rows.map((r) => String(r.name)).sort();
    });
  }

  /**
   * Merges `patch` into the JSON object in `column`, retrying when another writer changed it
   * between the read and the write. `false` when the version does not exist.
   */
  mergeJson(
    name: string,
    version: number,
    column: 'metrics' | 'tags',
    patch: Record<string, unknown>,
  ): Promise<boolean> {
    return this.#run(`update the ${column} of model "${name}" version ${version}`, async () => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const row = await this.#versionRow(name, version);
        if (!row) return false;
        const before = String(row[column]);
        const after = JSON.stringify({ ...JSON.parse(before), ...patch });
        const result = await this.#db
          .updateTable(this.#t.versions)
          .set({ [column]: after })
          .where('name', '=', name)
          .where('version', '=', version)
          .where(column, '=', before)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) return true;
      }
      throw new ConflictError(
        `Could not update the ${column} of model "${name}" version ${version}: ${MAX_ATTEMPTS} attempts each raced another writer`,
        { context: { name, version, column } },
      );
    });
  }

  /** The version the alias points to, or `undefined` when it does not exist. */
  alias(name: string, alias: string): Promise<number | undefined> {
    return this.#run(`read alias "${alias}" of model "${name}"`, async () => {
      const row = await this.#db
        .selectFrom(this.#t.aliases)
        .select('version')
        .where('name', '=', name)
        .where('alias', '=', alias)
        .executeTakeFirst();
      return optional(row?.version, Number);
    });
  }

  aliases(name: string): Promise<Record<string, number>> {
    return this.#run(`list the aliases of model "${name}"`, async () => {
      const rows = await this.#db
        .selectFrom(this.#t.aliases)
        .select(['alias', 'version'])
        .where('name', '=', name)
        .execute();
      const entries = rows.map((r) => [String(r.alias), Number(r.version)] as const);
      return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    });
  }

  /**
   * Moves the alias from `move.from` to `move.to` (either may be undefined: create, delete)
   * and records the move, in one transaction. `false`, with nothing written, when the alias
   * no longer points where `from` says.
   */
  moveAlias(move: PlannedMove): Promise<boolean> {
    const { name, alias, from, to } = move;
    return this.#run(`move alias "${alias}" of model "${name}"`, () =>
      this.#db.transaction().execute(async (trx) => {
        const changed = await this.#setAliasRow(trx, move);
        if (changed === 0) return false;
        await trx
          .insertInto(this.#t.moves)
          .values({
            name,
            alias,
            from_version: from ?? null,
            to_version: to ?? null,
            actor: move.actor ?? null,
            reason: move.reason ?? null,
            at: move.at,
          })
          .execute();
        return true;
      }),
    );
  }

  /** The alias moves of a model (of one alias when given), oldest first. */
  history(name: string, alias: string | undefined): Promise<AliasMove[]> {
    return this.#run(`read the alias history of model "${name}"`, async () => {
      let query = this.#db.selectFrom(this.#t.moves).selectAll().where('name', '=', name);
      if (alias !== undefined) query = query.where('alias', '=', alias);
      const rows = await query.orderBy('id').execute();
      return rows.map(toMove);
    });
  }

  /** Applies the alias row change if `from` is still current; returns the rows changed. */
  async #setAliasRow(trx: AnyKysely, move: PlannedMove): Promise<number> {
    const { name, alias, from, to, at } = move;
    if (from === undefined) {
      const result = await trx
        .insertInto(this.#t.aliases)
        .values({ name, alias, version: to, updated_at: at })
        .onConflict((oc) => oc.columns(['name', 'alias']).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0);
    }
    if (to === undefined) {
      const result = await trx
        .deleteFrom(this.#t.aliases)
        .where('name', '=', name)
        .where('alias', '=', alias)
        .where('version', '=', from)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    }
    const result = await trx
      .updateTable(this.#t.aliases)
      .set({ version: to, updated_at: at })
      .where('name', '=', name)
      .where('alias', '=', alias)
      .where('version', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  #versionRow(name: string, version: number): Promise<CatalogRow | undefined> {
    return this.#db
      .selectFrom(this.#t.versions)
      .selectAll()
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
  }

  /** Runs a catalogue operation; a database error becomes `E_BACKEND_FAILED` saying what failed. */
  async #run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof SalamaError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new BackendFailedError(`ModelRegistry could not ${what}: ${message}`, {
        cause: error,
        context: { tables: this.#t },
      });
    }
  }
}
