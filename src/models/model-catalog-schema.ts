/**
 * The registry's three tables, created when missing on SQLite and PostgreSQL (PGlite too):
 *
 * - `<prefix>_versions`: one row per model version, keyed by (name, version). The artifact
 *   columns never change; `metrics` and `tags` are JSON text merged in place.
 * - `<prefix>_aliases`: one row per alias, keyed by (name, alias), naming its one version.
 * - `<prefix>_alias_moves`: every set and delete of an alias, in insertion order (`id`).
 *
 * Timestamps are integer milliseconds since the epoch on both dialects; JSON is text. The
 * row readers at the end turn driver values (numbers, numeric strings, bigints) back into
 * the registry's frozen records.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { AnyKysely, SqlDialect } from '../retention/sql.js';
import type { AliasMove, ModelVersion } from './model-registry-options.js';

/** The names of the registry's tables for one prefix. */
export interface CatalogTables {
  readonly versions: string;
  readonly aliases: string;
  readonly moves: string;
}

/** The table names for `prefix` (`salama_model` → `salama_model_versions`, ...). */
export function catalogTables(prefix: string): CatalogTables {
  return {
    versions: `${prefix}_versions`,
    aliases: `${prefix}_aliases`,
    moves: `${prefix}_alias_moves`,
  };
}

/**
 * Creates the tables and the history index when missing. On PostgreSQL two processes racing
 * through `create table if not exists` can both try to create the table (and one fails on the
 * catalogue's unique index), so the statements run under a transaction-scoped advisory lock
 * named by the prefix. SQLite serialises schema changes itself.
 */
export async function createCatalogTables(
  db: AnyKysely,
  dialect: SqlDialect,
  tables: CatalogTables,
): Promise<void> {
  if (dialect === 'sqlite') {
    await createTables(db, dialect, tables);
    return;
  }
  const lockKey = createHash('sha256').update(`salama:models:${tables.versions}`).digest();
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(cast(${lockKey.readIntBE(0, 6)} as bigint))`.execute(
      trx,
    );
    await createTables(trx, dialect, tables);
  });
}

async function createTables(db: AnyKysely, dialect: SqlDialect, tables: CatalogTables) {
  await db.schema
    .createTable(tables.versions)
    .ifNotExists()
    .addColumn('name', 'varchar(128)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('format', 'text')
    .addColumn('description', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('metrics', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addPrimaryKeyConstraint(`${tables.versions}_pkey`, ['name', 'version'])
    .execute();
  await db.schema
    .createTable(tables.aliases)
    .ifNotExists()
    .addColumn('name', 'varchar(128)', (c) => c.notNull())
    .addColumn('alias', 'varchar(64)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint(`${tables.aliases}_pkey`, ['name', 'alias'])
    .execute();
  await db.schema
    .createTable(tables.moves)
    .ifNotExists()
    .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigserial', (c) =>
      dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn('name', 'varchar(128)', (c) => c.notNull())
    .addColumn('alias', 'varchar(64)', (c) => c.notNull())
    .addColumn('from_version', 'integer')
    .addColumn('to_version', 'integer')
    .addColumn('actor', 'text')
    .addColumn('reason', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex(`${tables.moves}_by_alias`)
    .ifNotExists()
    .on(tables.moves)
    .columns(['name', 'alias', 'id'])
    .execute();
}

/** True for a unique or primary-key violation on PostgreSQL, PGlite or SQLite. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

/** A row as the driver returns it: numbers may come back as strings or bigints. */
export type CatalogRow = Record<string, unknown>;

/** `undefined` for SQL NULL, else the value converted. */
export const optional = <T>(value: unknown, as: (v: unknown) => T): T | undefined =>
  value === null || value === undefined ? undefined : as(value);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** A `<prefix>_versions` row as a frozen {@link ModelVersion}. */
export function toVersion(row: CatalogRow): ModelVersion {
  return Object.freeze({
    name: String(row.name),
    version: Number(row.version),
    sha256: String(row.sha256),
    size: Number(row.size),
    format: optional(row.format, String),
    description: optional(row.description, String),
    metadata: deepFreeze(JSON.parse(String(row.metadata))),
    metrics: deepFreeze(JSON.parse(String(row.metrics))),
    tags: deepFreeze(JSON.parse(String(row.tags))),
    createdAt: new Date(Number(row.created_at)),
    createdBy: optional(row.created_by, String),
  });
}

/** A `<prefix>_alias_moves` row as a frozen {@link AliasMove}. */
export function toMove(row: CatalogRow): AliasMove {
  return Object.freeze({
    name: String(row.name),
    alias: String(row.alias),
    from: optional(row.from_version, Number),
    to: optional(row.to_version, Number),
    actor: optional(row.actor, String),
    reason: optional(row.reason, String),
    at: new Date(Number(row.at)),
  });
}
