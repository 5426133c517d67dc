import { statSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { SalamaError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import {
  DatabaseMaintenance,
  type MaintenanceProgress,
  type MaintenanceStep,
} from '../../src/retention/database-maintenance.js';
import {
  allDialects,
  type DialectName,
  exec,
  openDatabase,
  PG_URL,
  schemaPool,
  type TestDatabase,
  type TestDb,
} from '../support/databases.js';

/** Opens a database of `name`, runs `body` on it and always closes it. */
async function withDatabase(name: DialectName, body: (database: TestDatabase) => Promise<void>) {
  const database = await openDatabase(name);
  try {
    await body(database);
  } finally {
    await database.close();
  }
}

/** A table of plates with an index on `plate` and `rows` rows; the same SQL on every dialect. */
async function plates(db: TestDb, table: string, rows = 500): Promise<void> {
  await exec(db, `create table ${table} (id integer primary key, plate text not null)`);
  await exec(db, `create index ${table}_plate on ${table} (plate)`);
  await exec(
    db,
    `insert into ${table} (id, plate) with recursive s(n) as
       (select 1 union all select n + 1 from s where n < ${rows})
     select n, 'KA-' || n from s`,
  );
}

const brief = ({ table, operation, status }: MaintenanceStep) => `${table} ${operation} ${status}`;

async function rows<T>(db: TestDb, query: string): Promise<T[]> {
  return (await sql.raw<T>(query).execute(db)).rows;
}

/** Index names and OIDs of a PostgreSQL table, with their validity. */
function pgIndexes(db: TestDb, table: string) {
  return rows<{ name: string; oid: number; valid: boolean }>(
    db,
    `select c.relname as name, c.oid::int as oid, i.indisvalid as valid
     from pg_index i join pg_class c on c.oid = i.indexrelid
     where i.indrelid = '${table}'::regclass order by c.relname`,
  );
}

async function expectRejects(promise: Promise<unknown>, code: string, ...messages: RegExp[]) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(SalamaError.is(error, code as 'E_NOT_FOUND')).toBe(true);
  for (const message of messages) expect((error as Error).message).toMatch(message);
  return error as SalamaError;
}

describe.each(allDialects)('DatabaseMaintenance on %s', (name) => {
  const postgres = name !== 'sqlite';

  it('maintains every user table with the dialect default operations and shows it in the catalog', async () => {
    await withDatabase(name, async ({ db }) => {
      await plates(db, 'alerts');
      await plates(db, 'plates', 300);
      const before = postgres ? await pgIndexes(db, 'alerts') : [];
      const progress: MaintenanceProgress[] = [];

      const report = await new DatabaseMaintenance({ db }).run({
        onProgress: (p) => progress.push(p),
      });

      expect(report.steps.map(brief)).toEqual(
        postgres
          ? ['alerts vacuum ok', 'alerts reindex ok', 'plates vacuum ok', 'plates reindex ok']
          : [
              'alerts reindex ok',
              'alerts analyze ok',
              'plates reindex ok',
              'plates analyze ok',
              '* vacuum ok',
              '* optimize ok',
            ],
      );
      expect(report).toMatchObject({
        dialect: postgres ? 'postgres' : 'sqlite',
        ok: true,
        aborted: false,
        totals: { ok: report.steps.length, failed: 0, skipped: 0 },
      });
      expect(progress.map((p) => [p.done, p.total])).toEqual(
        report.steps.map((_, i) => [i + 1, report.steps.length]),
      );
      for (const step of report.steps) expect(step.durationMs).toBeGreaterThanOrEqual(0);

      if (postgres) {
        expect(report.steps[0]?.statement).toMatch(/^vacuum \(analyze\) "[^"]+"\."alerts"$/);
        expect(report.steps[1]).toMatchObject({ concurrently: true });
        const stats = await rows<{ relname: string; vacuumed: boolean; analyzed: boolean }>(
          db,
          `select relname, last_vacuum is not null as vacuumed, last_analyze is not null as analyzed
           from pg_stat_user_tables where schemaname = current_schema() order by relname`,
        );
        expect(stats).toEqual([
          { relname: 'alerts', vacuumed: true, analyzed: true },
          { relname: 'plates', vacuumed: true, analyzed: true },
        ]);
        const tuples = await rows<{ reltuples: number }>(
          db,
          `select reltuples from pg_class where oid = 'alerts'::regclass`,
        );
        expect(tuples[0]?.reltuples).toBe(500);
        const after = await pgIndexes(db, 'alerts');
        expect(after.map((i) => [i.name, i.valid])).toEqual(before.map((i) => [i.name, true]));
        for (const [i, index] of after.entries()) expect(index.oid).not.toBe(before[i]?.oid);
      } else {
        expect(report.steps[0]?.statement).toBe('reindex "main"."alerts"');
        const stat1 = await rows<{ tbl: string; idx: string; stat: string }>(
          db,
          'select tbl, idx, stat from sqlite_stat1 order by tbl',
        );
        expect(stat1).toEqual([
          { tbl: 'alerts', idx: 'alerts_plate', stat: '500 1' },
          { tbl: 'plates', idx: 'plates_plate', stat: '300 1' },
        ]);
        // sqlite_stat1 now exists; a second run must not treat it as a user table.
        const again = await new DatabaseMaintenance({ db, operations: ['analyze'] }).run();
        expect(again.steps.map((s) => s.table)).toEqual(['alerts', 'plates']);
      }
    });
  });

  it('runs only the given tables and operations; an abort skips the steps not started', async () => {
    await withDatabase(name, async ({ db }) => {
      for (const table of ['a', 'b', 'c', 'untouched']) await plates(db, table, 50);
      const clock = new ManualClock(1_700_000_000_000);
      const controller = new AbortController();
      const maintenance = new DatabaseMaintenance({
        db,
        tables: ['a', 'b', 'c'],
        operations: ['analyze', 'reindex'],
        clock,
      });

      const report = await maintenance.run({
        signal: controller.signal,
        onProgress: ({ table, operation }) => {
          clock.advance(25);
          if (table === 'a' && operation === 'analyze') controller.abort();
        },
      });

      expect(report.steps.map(brief)).toEqual([
        'a reindex ok',
        'a analyze ok',
        'b reindex skipped',
        'b analyze skipped',
        'c reindex skipped',
        'c analyze skipped',
      ]);
      expect(report).toMatchObject({
        ok: false,
        aborted: true,
        totals: { ok: 2, failed: 0, skipped: 4 },
        startedAt: new Date(1_700_000_000_000),
        durationMs: 50,
      });
      expect(report.steps.map((s) => s.durationMs)).toEqual([0, 0, 0, 0, 0, 0]);
      const analyzed = postgres
        ? await rows<{ relname: string }>(
            db,
            `select relname from pg_stat_user_tables
             where schemaname = current_schema() and last_analyze is not null`,
          )
        : await rows<{ relname: string }>(db, 'select distinct tbl as relname from sqlite_stat1');
      expect(analyzed.map((r) => r.relname)).toEqual(['a']);
    });
  });

  it('names every missing table before running anything, and refuses a second concurrent run', async () => {
    await withDatabase(name, async ({ db }) => {
      await plates(db, 'alerts', 50);
      const missing = new DatabaseMaintenance({ db, tables: ['alerts', 'nope', 'gone'] });
      const error = await expectRejects(
        missing.run(),
        'E_NOT_FOUND',
        /tables "nope", "gone" do not exist; nothing was run/,
      );
      expect(error.context).toEqual({ tables: ['nope', 'gone'] });
      const analyzed = postgres
        ? await rows(
            db,
            `select 1 from pg_stat_user_tables where last_analyze is not null
             and schemaname = current_schema()`,
          )
        : await rows(db, `select 1 from sqlite_schema where name = 'sqlite_stat1'`);
      expect(analyzed).toEqual([]);

      const maintenance = new DatabaseMaintenance({ db, operations: ['analyze'] });
      const first = maintenance.run();
      await expectRejects(maintenance.run(), 'E_LOCKED', /a run of this instance is in progress/);
      expect((await first).ok).toBe(true);
      expect((await maintenance.run()).ok).toBe(true);
    });
  });
});

describe('DatabaseMaintenance options', () => {
  const sqlite = () =>
    new Kysely({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });

  it('says what was expected and what came for each bad option', async () => {
    const db = sqlite();
    try {
      const invalid = (options: unknown, ...messages: RegExp[]) => {
        let error: unknown;
        try {
          new DatabaseMaintenance(options as never);
        } catch (e) {
          error = e;
        }
        expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
        for (const message of messages) expect((error as Error).message).toMatch(message);
      };
      invalid({ db: {} }, /db: expected a Kysely instance, received object Object/);
      invalid({ db: new pg.Pool() }, /db: expected a Kysely instance, received object/);
      invalid(
        { db, operations: ['vacuum', 'defrag'] },
        /operations\.1: expected one of "vacuum", "analyze", "reindex", "optimize", received string "defrag"/,
      );
      invalid(
        { db, operations: [] },
        /operations: expected array of length >= 1, received array of length 0/,
      );
      invalid({ db, tables: 'alerts' }, /tables: expected array, received string "alerts"/);
      invalid({ db, lockTimeoutMs: -1 }, /lockTimeoutMs: expected number > 0, received number -1/);
      invalid(
        { db, schedule: '@daily' },
        /schedule: expected no such option \(valid options: db, tables, operations, lockTimeoutMs, clock, logger\), received string "@daily"/,
      );
      await db.transaction().execute(async (trx) => {
        invalid({ db: trx }, /db: expected a Kysely instance outside a transaction/);
      });
    } finally {
      await db.destroy();
    }
  });

  it("refuses SQLite's optimize on PostgreSQL", async () => {
    // Constructing a pool does not connect; the check needs only the dialect.
    const db: TestDb = new Kysely({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL }) }),
    });
    try {
      expect(() => new DatabaseMaintenance({ db, operations: ['analyze', 'optimize'] })).toThrow(
        /operations\.1: expected one of "vacuum", "reindex", "analyze" on postgres, received string "optimize"/,
      );
      expect(new DatabaseMaintenance({ db }).dialect).toBe('postgres');
    } finally {
      await db.destroy();
    }
  });
});

describe('DatabaseMaintenance on sqlite only', () => {
  it('VACUUM gives the pages of deleted rows back to the file system, WAL included', async () => {
    await withDatabase('sqlite', async ({ db, location }) => {
      await plates(db, 'frames', 20_000);
      await exec(db, 'delete from frames where id > 500');
      const file = location as string;
      const onDisk = () =>
        statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
      const pragma = async (p: string) =>
        Object.values((await rows<object>(db, `pragma ${p}`))[0] ?? {})[0];
      expect(await pragma('freelist_count')).toBeGreaterThan(100);
      const pagesBefore = (await pragma('page_count')) as number;
      const bytesBefore = onDisk();

      const report = await new DatabaseMaintenance({ db, operations: ['vacuum'] }).run();

      expect(report.steps).toMatchObject([
        {
          table: '*',
          operation: 'vacuum',
          status: 'ok',
          statement: 'vacuum; pragma wal_checkpoint(truncate)',
        },
      ]);
      expect(await pragma('freelist_count')).toBe(0);
      expect(await pragma('page_count')).toBeLessThan(pagesBefore / 10);
      expect(onDisk()).toBeLessThan(bytesBefore / 10);
    });
  });

  it('VACUUM runs beside a reader in WAL mode; the checkpoint waits at most lockTimeoutMs', async () => {
    await withDatabase('sqlite', async ({ db, location }) => {
      await plates(db, 'frames', 5_000);
      await exec(db, 'delete from frames where id > 100');
      const reader = new SQLite(location as string);
      try {
        reader.exec('begin');
        reader.prepare('select count(*) from frames').get();
        const report = await new DatabaseMaintenance({
          db,
          operations: ['vacuum'],
          lockTimeoutMs: 100,
        }).run();
        expect(report.steps.map(brief)).toEqual(['* vacuum ok']);
        expect(report.steps[0]?.durationMs).toBeLessThan(1_000);
        expect(await rows(db, 'pragma freelist_count')).toEqual([{ freelist_count: 0 }]);
        // The reader goes on reading in its transaction.
        expect(reader.prepare('select count(*) as n from frames').get()).toEqual({ n: 100 });
      } finally {
        reader.close();
      }
    });
  });

  it('PRAGMA optimize analyzes an indexed table that was never analyzed', async () => {
    await withDatabase('sqlite', async ({ db }) => {
      await plates(db, 'alerts', 2_000);
      const report = await new DatabaseMaintenance({ db, operations: ['optimize'] }).run();
      expect(report.steps).toMatchObject([
        { table: '*', operation: 'optimize', status: 'ok', statement: 'pragma optimize' },
      ]);
      expect(await rows(db, 'select tbl, idx, stat from sqlite_stat1')).toEqual([
        { tbl: 'alerts', idx: 'alerts_plate', stat: '2000 1' },
      ]);
    });
  });

  it('REINDEX rebuilds a stale index, and an index that cannot be rebuilt fails only its table', async () => {
    await withDatabase('sqlite', async ({ location }) => {
      // An expression index over a function whose result changed since the index was built is
      // what a collation or ICU upgrade does to a real database: stale, or now non-unique.
      let plateKey = (plate: string) => plate;
      const database = new SQLite(location as string);
      database.function('plate_key', { deterministic: true }, (p) => plateKey(String(p)));
      const db: TestDb = new Kysely({ dialect: new SqliteDialect({ database }) });
      try {
        for (const table of ['a', 'b', 'c']) await plates(db, table, 100);
        await exec(db, 'create index a_key on a (plate_key(plate))');
        await exec(db, 'create unique index b_key on b (plate_key(plate))');
        await exec(db, 'create index c_key on c (plate_key(plate))');
        plateKey = (plate) => (plate.endsWith('7') ? 'KA-7' : plate.toLowerCase());
        const integrity = () => database.pragma('integrity_check') as { integrity_check: string }[];
        expect(integrity().length).toBeGreaterThan(1);
        const warnings: unknown[] = [];
        const logger = recordingLogger(warnings);

        const report = await new DatabaseMaintenance({
          db,
          operations: ['reindex', 'analyze'],
          logger,
        }).run();

        expect(report.steps.map(brief)).toEqual([
          'a reindex ok',
          'a analyze ok',
          'b reindex failed',
          'b analyze ok',
          'c reindex ok',
          'c analyze ok',
        ]);
        expect(report.steps[2]?.error).toEqual({
          code: 'SQLITE_CONSTRAINT_UNIQUE',
          message: "UNIQUE constraint failed: index 'b_key'",
        });
        expect(report).toMatchObject({ ok: false, totals: { ok: 5, failed: 1, skipped: 0 } });
        expect(integrity().every((r) => r.integrity_check.includes('b_key'))).toBe(true);
        expect(warnings).toMatchObject([{ table: 'b', operation: 'reindex' }]);
      } finally {
        await db.destroy();
      }
    });
  });

  it('a step that cannot get the write lock within lockTimeoutMs fails; the others go on', async () => {
    await withDatabase('sqlite', async ({ db, location }) => {
      for (const table of ['a', 'b', 'c']) await plates(db, table, 100);
      const writer = new SQLite(location as string);
      try {
        const report = await new DatabaseMaintenance({ db, lockTimeoutMs: 100 }).run({
          // Another process writes (BEGIN IMMEDIATE) exactly while b is maintained.
          onProgress: ({ table, operation }) => {
            if (table === 'a' && operation === 'analyze') writer.exec('begin immediate');
            if (table === 'b' && operation === 'analyze') writer.exec('commit');
          },
        });

        expect(report.steps.map(brief)).toEqual([
          'a reindex ok',
          'a analyze ok',
          'b reindex failed',
          'b analyze failed',
          'c reindex ok',
          'c analyze ok',
          '* vacuum ok',
          '* optimize ok',
        ]);
        for (const step of report.steps.filter((s) => s.status === 'failed')) {
          expect(step.error).toEqual({ code: 'SQLITE_BUSY', message: 'database is locked' });
          expect(step.durationMs).toBeGreaterThanOrEqual(90);
        }
        // The connection's own busy_timeout (5000 in the test setup) is back.
        expect(await rows(db, 'pragma busy_timeout')).toEqual([{ timeout: 5000 }]);
      } finally {
        writer.close();
      }
    });
  });
  it('an exception from onProgress ends the run with it; a closed database is E_BACKEND_FAILED', async () => {
    await withDatabase('sqlite', async ({ db }) => {
      await plates(db, 'alerts', 10);
      const maintenance = new DatabaseMaintenance({ db, lockTimeoutMs: 100 });
      const thrown = new Error('progress bar crashed');
      await expect(
        maintenance.run({
          onProgress: () => {
            throw thrown;
          },
        }),
      ).rejects.toBe(thrown);
      expect(await rows(db, 'pragma busy_timeout')).toEqual([{ timeout: 5000 }]);
      expect((await maintenance.run()).ok).toBe(true);

      const database = new SQLite(':memory:');
      const closed: TestDb = new Kysely({ dialect: new SqliteDialect({ database }) });
      database.close();
      await expectRejects(
        new DatabaseMaintenance({ db: closed }).run(),
        'E_BACKEND_FAILED',
        /DatabaseMaintenance\.run\(\): could not read the tables: The database connection is not open/,
      );
      await closed.destroy();
    });
  });
});

describe('DatabaseMaintenance on pglite only', () => {
  it('falls back to a plain REINDEX where CONCURRENTLY is refused, and says so', async () => {
    await withDatabase('pglite', async ({ db }) => {
      await plates(db, 'alerts', 50);
      // PGlite (PostgreSQL 17 in one process) reindexes user tables concurrently; a system
      // catalog is what every PostgreSQL refuses to reindex concurrently (SQLSTATE 0A000).
      const report = await new DatabaseMaintenance({
        db,
        tables: ['alerts', 'pg_catalog.pg_description'],
        operations: ['reindex'],
      }).run();

      expect(report.steps).toMatchObject([
        {
          table: 'alerts',
          status: 'ok',
          concurrently: true,
          statement: 'reindex table concurrently "public"."alerts"',
        },
        {
          table: 'pg_catalog.pg_description',
          status: 'ok',
          concurrently: false,
          statement: 'reindex table "pg_catalog"."pg_description"',
        },
      ]);
      const invalid = await rows(db, 'select 1 from pg_index where not indisvalid');
      expect(invalid).toEqual([]);
    });
  });
});

describe('DatabaseMaintenance on postgres only', () => {
  /** A second connection that holds a transaction open until `release()`. */
  async function holdTransaction(schema: string, ...statements: string[]) {
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    await client.query('begin');
    for (const statement of statements) await client.query(statement);
    return {
      async release() {
        await client.query('rollback');
        await client.end();
      },
    };
  }

  /** A Kysely whose one pooled connection sets its own lock_timeout when it connects. */
  function poolWithLockTimeout(schema: string) {
    const pool = schemaPool(schema, 1);
    pool.on('connect', (client) => void client.query(`set lock_timeout = '7s'`));
    const db: TestDb = new Kysely({ dialect: new PostgresDialect({ pool }) });
    return db;
  }

  it('a locked table fails after lockTimeoutMs, the others are maintained, and lock_timeout does not leak', async () => {
    await withDatabase('postgres', async ({ db, location }) => {
      for (const table of ['a', 'b', 'c']) await plates(db, table, 200);
      // No reindex here: REINDEX CONCURRENTLY also waits for every open snapshot in the
      // database, which on a shared server other suites may hold; the test after this covers it.
      const schema = location as string;
      const locker = await holdTransaction(schema, 'lock table b in access exclusive mode');
      const pooled = poolWithLockTimeout(schema);
      try {
        const started = Date.now();
        const report = await new DatabaseMaintenance({
          db: pooled,
          operations: ['vacuum', 'analyze'],
          lockTimeoutMs: 200,
        }).run();

        expect(Date.now() - started).toBeLessThan(5_000);
        expect(report.steps.map(brief)).toEqual(['a vacuum ok', 'b vacuum failed', 'c vacuum ok']);
        expect(report.steps[1]?.error).toEqual({
          code: '55P03',
          message: 'canceling statement due to lock timeout',
        });
        expect(report.steps[1]?.durationMs).toBeGreaterThanOrEqual(180);
        expect(report).toMatchObject({ ok: false, totals: { ok: 2, failed: 1, skipped: 0 } });
        // The same (only) pooled connection is back to the lock_timeout it had set itself.
        expect(await rows(pooled, 'show lock_timeout')).toEqual([{ lock_timeout: '7s' }]);
      } finally {
        await locker.release();
        await pooled.destroy();
      }
      const stats = await rows<{ relname: string; vacuumed: boolean }>(
        db,
        `select relname, last_vacuum is not null as vacuumed from pg_stat_user_tables
         where schemaname = current_schema() order by relname`,
      );
      expect(stats.map((s) => [s.relname, s.vacuumed])).toEqual([
        ['a', true],
        ['b', false],
        ['c', true],
      ]);
    });
  });

  it('a concurrent reindex that times out part way drops the invalid indexes it made', async () => {
    await withDatabase('postgres', async ({ db, location }) => {
      await plates(db, 'alerts', 200);
      const before = await pgIndexes(db, 'alerts');
      // An open snapshot anywhere in the database makes REINDEX CONCURRENTLY wait after it has
      // built its new indexes; with a short lock timeout it gives up and leaves them invalid.
      const snapshot = await holdTransaction(
        location as string,
        'set transaction isolation level repeatable read',
        'select 1',
      );
      try {
        const report = await new DatabaseMaintenance({
          db,
          operations: ['reindex'],
          lockTimeoutMs: 300,
        }).run();

        expect(report.steps).toMatchObject([
          {
            table: 'alerts',
            operation: 'reindex',
            status: 'failed',
            concurrently: true,
            droppedIndexes: ['alerts_pkey_ccnew', 'alerts_plate_ccnew'],
            error: { code: '55P03', message: 'canceling statement due to lock timeout' },
          },
        ]);
      } finally {
        await snapshot.release();
      }
      expect(await pgIndexes(db, 'alerts')).toEqual(before);
    });
  });
});

function recordingLogger(warnings: unknown[]): Logger {
  const ignore = () => {};
  return {
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: (obj: object | string) => void warnings.push(obj),
    error: ignore,
  };
}
