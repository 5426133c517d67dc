/**
 * Real databases for the data-module suites: a SQLite file through better-sqlite3, a fresh
 * schema on the PostgreSQL server at 127.0.0.1:5432 through `pg`, and an in-memory PGlite.
 * Each `open()` gives an isolated database; `close()` removes everything it made.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';

// biome-ignore lint/suspicious/noExplicitAny: the suites create their own tables
export type TestDb = Kysely<any>;

export type DialectName = 'sqlite' | 'postgres' | 'pglite';

export interface TestDatabase {
  readonly name: DialectName;
  readonly db: TestDb;
  /** SQLite: the database file. PostgreSQL: the schema. PGlite: undefined. */
  readonly location: string | undefined;
  /** Another Kysely on the same database (a second "process"); closed by `close()`. */
  another(): Promise<TestDb>;
  close(): Promise<void>;
}

export const PG_URL = process.env.SALAMA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function openSqlite(): Promise<TestDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'salama-sqlite-'));
  const file = join(dir, 'test.db');
  const extra: TestDb[] = [];
  const connect = () => {
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    return new Kysely({ dialect: new SqliteDialect({ database }) });
  };
  const db = connect();
  return {
    name: 'sqlite',
    db,
    location: file,
    async another() {
      const other = connect();
      extra.push(other);
      return other;
    },
    async close() {
      for (const other of extra) await other.destroy();
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A pool whose connections all use `schema` as their search path. */
export function schemaPool(schema: string, max = 4): pg.Pool {
  return new pg.Pool({ connectionString: PG_URL, max, options: `-c search_path=${schema}` });
}

async function openPostgres(): Promise<TestDatabase> {
  const schema = `salama_t_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  await admin.query(`create schema ${schema}`);
  const extra: TestDb[] = [];
  const db = new Kysely({ dialect: new PostgresDialect({ pool: schemaPool(schema) }) });
  return {
    name: 'postgres',
    db,
    location: schema,
    async another() {
      const other = new Kysely({ dialect: new PostgresDialect({ pool: schemaPool(schema) }) });
      extra.push(other);
      return other;
    },
    async close() {
      for (const other of extra) await other.destroy();
      await db.destroy();
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    },
  };
}

async function openPglite(): Promise<TestDatabase> {
  const pglite = new PGlite();
  const db = new Kysely({ dialect: new PGliteDialect(pglite) });
  return {
    name: 'pglite',
    db,
    location: undefined,
    async another() {
      // PGlite is one connection in this process; a second Kysely shares it.
      return new Kysely({ dialect: new PGliteDialect(pglite) });
    },
    async close() {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}

export const openers: Record<DialectName, () => Promise<TestDatabase>> = {
  sqlite: openSqlite,
  postgres: openPostgres,
  pglite: openPglite,
};

/** Every dialect, for `describe.each`. */
export const allDialects: DialectName[] = ['sqlite', 'postgres', 'pglite'];
/** The dialects with PostgreSQL semantics. */
export const postgresDialects: DialectName[] = ['postgres', 'pglite'];

export function openDatabase(name: DialectName): Promise<TestDatabase> {
  return openers[name]();
}

/** Runs raw SQL (several statements allowed on PostgreSQL only through separate calls). */
export async function exec(db: TestDb, statement: string): Promise<void> {
  await sql.raw(statement).execute(db);
}
