/**
 * Every read the service answers, one row each: when, which image (by SHA-256), what it read,
 * whether the cache answered, how long it took. SQLite in the data directory by default,
 * PostgreSQL when `DATABASE_URL` is set; retention and backups work on this table.
 */
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';

export interface AccessLogTable {
  id: number | null;
  at: number;
  image_sha256: string;
  plates: string;
  cache_hit: number;
  latency_ms: number;
  status: number;
}

export interface LprDatabase {
  access_log: AccessLogTable;
}

export type LprDb = Kysely<LprDatabase>;

/** Opens the access log and creates its table if missing. */
export async function openAccessLog(dataDir: string, databaseUrl?: string): Promise<LprDb> {
  const db = databaseUrl
    ? new Kysely<LprDatabase>({
        dialect: new PostgresDialect({
          pool: new pg.Pool({ connectionString: databaseUrl, max: 4 }),
        }),
      })
    : new Kysely<LprDatabase>({
        dialect: new SqliteDialect({
          database: (() => {
            const database = new SQLite(join(dataDir, 'access-log.db'));
            database.pragma('journal_mode = WAL');
            database.pragma('busy_timeout = 5000');
            return database;
          })(),
        }),
      });
  const id = databaseUrl ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
  await sql`create table if not exists access_log (
    id ${id},
    at bigint not null,
    image_sha256 text not null,
    plates text not null,
    cache_hit integer not null,
    latency_ms double precision not null,
    status integer not null
  )`.execute(db);
  await sql`create index if not exists access_log_at on access_log (at)`.execute(db);
  return db;
}
