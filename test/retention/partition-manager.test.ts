import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { SalamaError } from '../../src/core/errors.js';
import { PartitionManager } from '../../src/retention/partition-manager.js';
import type {
  PartitionManagerOptions,
  PartitionRunReport,
} from '../../src/retention/partition-options.js';
import { maintenanceLockKey } from '../../src/retention/partition-statements.js';
import {
  type DialectName,
  exec,
  openDatabase,
  PG_URL,
  postgresDialects,
  type TestDatabase,
  type TestDb,
} from '../support/databases.js';
import { until } from '../support/until.js';

const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);

async function withDatabase(
  name: DialectName,
  test: (database: TestDatabase) => Promise<void>,
): Promise<void> {
  const database = await openDatabase(name);
  try {
    await test(database);
  } finally {
    await database.close();
  }
}

async function createAlerts(db: TestDb, table = 'alerts', type = 'timestamptz'): Promise<void> {
  await exec(
    db,
    `create table ${table} (id bigserial, detected_at ${type} not null, camera text,
       primary key (id, detected_at)) partition by range (detected_at)`,
  );
}

function manager(
  db: TestDb,
  clock: ManualClock,
  options: Partial<PartitionManagerOptions> = {},
): PartitionManager {
  return new PartitionManager({
    db,
    table: 'alerts',
    column: 'detected_at',
    interval: 'day',
    premake: 2,
    clock,
    ...options,
  });
}

/** Partition names of `table` with their bounds as PostgreSQL prints them in UTC. */
async function partitions(db: TestDb, table = 'alerts'): Promise<Record<string, string>> {
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('TimeZone', 'UTC', true)`.execute(trx);
    const { rows } = await sql<{ name: string; bound: string }>`
      select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = ${table}::regclass order by c.relname`.execute(trx);
    return Object.fromEntries(rows.map((r) => [r.name, r.bound]));
  });
}

async function partitionNames(db: TestDb, table = 'alerts'): Promise<string[]> {
  return Object.keys(await partitions(db, table));
}

/** `FOR VALUES` of a timestamptz partition, as {@link partitions} prints it. */
function range(from: string, to: string): string {
  return `FOR VALUES FROM ('${from} 00:00:00+00') TO ('${to} 00:00:00+00')`;
}

/** Every table and partition in the current schema: to show that nothing changed. */
async function relations(db: TestDb): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind in ('r', 'p') order by 1`.execute(db);
  return rows.map((r) => r.name);
}

async function count(db: TestDb, table: string): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from ${sql.table(table)}`.execute(db);
  return rows[0]?.n ?? -1;
}

/** Which relation each row of `alerts` is stored in, by id. */
async function placement(db: TestDb): Promise<Record<string, string>> {
  const { rows } = await sql<{ id: string; place: string }>`
    select id::text as id, tableoid::regclass::text as place from alerts order by id`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.id, r.place]));
}

/** A Kysely on `database` whose sessions carry `name`, so a test can see what they wait for. */
function namedSessions(database: TestDatabase, name: string): TestDb {
  const pool = new pg.Pool({
    connectionString: PG_URL,
    max: 2,
    application_name: name,
    options: `-c search_path=${database.location}`,
  });
  return new Kysely({ dialect: new PostgresDialect({ pool }) });
}

/** True while a session named `name` waits on `wait_event` (`Lock` for any heavyweight lock). */
async function waiting(db: TestDb, name: string, event: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity
    where application_name = ${name} and (wait_event_type = ${event} or wait_event = ${event})`.execute(
    db,
  );
  return (rows[0]?.n ?? 0) > 0;
}

/** A promise and the function that settles it. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/**
 * An expired day ('gate') and a live one ('recent'), and a maintenance run whose archive copy
 * of the expired partition is paused: its filter waits for an advisory lock the test holds
 * until `resume()`. `end()` resumes (if needed) and closes the sessions.
 */
async function pausedArchiveCopy(
  database: TestDatabase,
  label: string,
  options: { lockTimeoutMs?: number; dropRetries?: number } = {},
) {
  const { db } = database;
  await createAlerts(db);
  const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
  await cleanRun(manager(db, clock, { retention: '2d' }));
  await exec(
    db,
    `insert into alerts (detected_at, camera) values
       ('2026-01-01T10:00:00Z', 'gate'), ('2026-01-03T10:00:00Z', 'recent')`,
  );
  clock.advance(3 * DAY);
  const session = `salama-${label}-${database.location}`;
  const maintaining = namedSessions(database, session);
  const holder = await database.another();
  const key = Math.floor(Math.random() * 2 ** 40);
  const held = gate();
  const go = gate();
  const lock = holder.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(cast(${key} as bigint))`.execute(trx);
    held.open();
    await go.opened;
  });
  await held.opened;
  const run = manager(maintaining, clock, {
    ...options,
    retention: '2d',
    archive: {
      table: 'alerts_archive',
      where: () => sql<boolean>`(select true from pg_advisory_xact_lock(cast(${key} as bigint)))`,
    },
  }).run();
  await until(() => waiting(db, session, 'advisory'), 10_000);
  return {
    run,
    resume: go.open,
    async end() {
      go.open();
      await lock;
      await run.catch(() => {});
      await maintaining.destroy();
    },
  };
}

/** Runs maintenance and checks nothing was left undone. */
async function cleanRun(partitions: PartitionManager): Promise<PartitionRunReport> {
  const report = await partitions.run();
  expect(report.failed).toEqual([]);
  return report;
}

async function expectError(promise: Promise<unknown>, code: string, message: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SalamaError);
  expect((error as SalamaError).code).toBe(code);
  expect((error as SalamaError).message).toMatch(message);
}

describe.each(postgresDialects)('PartitionManager on %s', (name) => {
  it('creates the default partition, the current one and premake ahead of now with no rows at all', async () => {
    await withDatabase(name, async ({ db }) => {
      await createAlerts(db);
      const clock = new ManualClock(at('2026-01-30T15:00:00Z'));
      const report = await cleanRun(manager(db, clock));

      expect(report.created).toEqual([
        'alerts_default',
        'alerts_p20260130',
        'alerts_p20260131',
        'alerts_p20260201',
      ]);
      expect(report).toMatchObject({ dropped: [], detached: [], movedFromDefault: [], failed: [] });
      expect(report.skipped).toBeUndefined();
      expect(report.durationMs).toBeGreaterThanOrEqual(0);
      expect(await partitions(db)).toEqual({
        alerts_default: 'DEFAULT',
        alerts_p20260130: range('2026-01-30', '2026-01-31'),
        alerts_p20260131: range('2026-01-31', '2026-02-01'),
        alerts_p20260201: range('2026-02-01', '2026-02-02'),
      });

      const again = await cleanRun(manager(db, clock));
      expect(again).toMatchObject({ created: [], failed: [] });
      expect(await partitionNames(db)).toHaveLength(4);
    });
  });

  it('follows the clock across ISO weeks, month ends and a leap-year February', async () => {
    await withDatabase(name, async ({ db }) => {
      for (const table of ['alerts_w', 'alerts_m', 'alerts_d']) await createAlerts(db, table);
      const clock = new ManualClock(at('2026-01-01T12:00:00Z')); // a Thursday
      const weekly = manager(db, clock, { table: 'alerts_w', interval: 'week', premake: 1 });
      expect((await cleanRun(weekly)).created).toEqual([
        'alerts_w_default',
        'alerts_w_p20251229',
        'alerts_w_p20260105',
      ]);
      expect((await partitions(db, 'alerts_w')).alerts_w_p20251229).toBe(
        range('2025-12-29', '2026-01-05'),
      );

      const monthly = manager(db, clock, { table: 'alerts_m', interval: 'month', premake: 1 });
      clock.advance(at('2026-01-31T23:00:00Z') - clock.now());
      expect((await cleanRun(monthly)).created).toEqual([
        'alerts_m_default',
        'alerts_m_p202601',
        'alerts_m_p202602',
      ]);
      clock.advance(at('2026-03-01T00:00:00Z') - clock.now());
      expect((await cleanRun(monthly)).created).toEqual(['alerts_m_p202603', 'alerts_m_p202604']);
      expect((await partitions(db, 'alerts_m')).alerts_m_p202602).toBe(
        range('2026-02-01', '2026-03-01'),
      );

      const daily = manager(db, clock, { table: 'alerts_d', premake: 1 });
      clock.advance(at('2028-02-28T12:00:00Z') - clock.now());
      expect((await cleanRun(daily)).created).toEqual([
        'alerts_d_default',
        'alerts_d_p20280228',
        'alerts_d_p20280229',
      ]);
      clock.advance(DAY);
      expect((await cleanRun(daily)).created).toEqual(['alerts_d_p20280301']);
      expect((await cleanRun(monthly)).created).toEqual(['alerts_m_p202802', 'alerts_m_p202803']);
      expect((await partitions(db, 'alerts_m')).alerts_m_p202802).toBe(
        range('2028-02-01', '2028-03-01'),
      );

      await exec(db, `insert into alerts_d (detected_at) values ('2028-02-29T23:59:59.999Z')`);
      await exec(db, `insert into alerts_m (detected_at) values ('2028-02-29T23:59:59.999Z')`);
      expect(await count(db, 'alerts_d_p20280229')).toBe(1);
      expect(await count(db, 'alerts_m_p202802')).toBe(1);
    });
  });

  it('moves rows out of the default partition into the partitions they need, which pg_partman cannot', async () => {
    await withDatabase(name, async ({ db }) => {
      // An identity key and a generated column: neither may be copied as-is into a partition.
      await exec(
        db,
        `create table alerts (id bigint generated always as identity, detected_at timestamptz not null,
           camera text, label text generated always as (upper(camera)) stored,
           primary key (id, detected_at)) partition by range (detected_at)`,
      );
      await exec(db, 'create table alerts_default partition of alerts default');
      await exec(
        db,
        `insert into alerts (detected_at, camera) values
           ('2026-01-10T01:00:00Z', 'gate'), ('2026-01-10T23:59:59Z', 'lobby'),
           ('2026-02-15T08:00:00Z', 'gate')`,
      );
      // The complaint: rows in the default partition block creating the partition they belong to.
      await expect(
        exec(
          db,
          `create table alerts_p20260110 partition of alerts
             for values from ('2026-01-10T00:00:00Z') to ('2026-01-11T00:00:00Z')`,
        ),
      ).rejects.toThrow(/default partition .* would be violated/);

      const clock = new ManualClock(at('2026-01-12T08:00:00Z'));
      const report = await cleanRun(manager(db, clock, { premake: 1 }));

      expect(report.created).toEqual([
        'alerts_p20260110',
        'alerts_p20260112',
        'alerts_p20260113',
        'alerts_p20260215',
      ]);
      expect(report.movedFromDefault).toEqual([
        { partition: 'alerts_p20260110', rows: 2, attached: true },
        { partition: 'alerts_p20260215', rows: 1, attached: true },
      ]);
      expect(await placement(db)).toEqual({
        '1': 'alerts_p20260110',
        '2': 'alerts_p20260110',
        '3': 'alerts_p20260215',
      });
      expect(await count(db, 'alerts_default')).toBe(0);
      // The new partitions are ordinary ones: the parent's identity numbers the next row.
      await exec(
        db,
        `insert into alerts (detected_at, camera) values ('2026-01-10T12:00:00Z', 'dock')`,
      );
      expect((await placement(db))['4']).toBe('alerts_p20260110');
      const { rows } = await sql<{ label: string }>`select label from alerts order by id`.execute(
        db,
      );
      expect(rows.map((r) => r.label)).toEqual(['GATE', 'LOBBY', 'GATE', 'DOCK']);
    });
  });

  it('drops expired partitions oldest first and deletes expired rows from the default partition', async () => {
    await withDatabase(name, async ({ db }) => {
      await createAlerts(db);
      const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
      const partitions = manager(db, clock, { retention: '3d' });
      await cleanRun(partitions);
      await exec(
        db,
        `insert into alerts (detected_at) values
           ('2026-01-01T10:00:00Z'), ('2026-01-03T10:00:00Z'),
           ('2025-12-01T10:00:00Z'), ('2026-01-06T10:00:00Z')`,
      );

      clock.advance(7 * DAY); // now 2026-01-08T06:00Z: intervals ending by 2026-01-05T06:00Z expire
      const report = await cleanRun(partitions);

      expect(report.created).toEqual([
        'alerts_p20260106',
        'alerts_p20260108',
        'alerts_p20260109',
        'alerts_p20260110',
      ]);
      expect(report.deletedFromDefault).toEqual([{ partition: 'alerts_p20251201', rows: 1 }]);
      expect(report.movedFromDefault).toEqual([
        { partition: 'alerts_p20260106', rows: 1, attached: true },
      ]);
      expect(report.dropped).toEqual(['alerts_p20260101', 'alerts_p20260102', 'alerts_p20260103']);
      expect(await partitionNames(db)).toEqual([
        'alerts_default',
        'alerts_p20260106',
        'alerts_p20260108',
        'alerts_p20260109',
        'alerts_p20260110',
      ]);
      expect(await relations(db)).not.toContain('alerts_p20260101');
      expect(Object.values(await placement(db))).toEqual(['alerts_p20260106']);
    });
  });

  it('archives the matching rows of expired partitions and default rows before they go, each once', async () => {
    await withDatabase(name, async ({ db }) => {
      await createAlerts(db);
      const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
      const partitions = manager(db, clock, {
        retention: '3d',
        archive: { table: 'alerts_archive', where: (eb) => eb('camera', '=', 'gate') },
      });
      await cleanRun(partitions);
      await exec(
        db,
        `insert into alerts (detected_at, camera) values
           ('2026-01-01T10:00:00Z', 'gate'), ('2026-01-01T11:00:00Z', 'lobby'),
           ('2026-01-02T10:00:00Z', 'gate'), ('2025-12-01T10:00:00Z', 'gate'),
           ('2025-12-01T11:00:00Z', 'lobby'), ('2026-01-06T10:00:00Z', 'gate')`,
      );
      clock.advance(7 * DAY);
      const report = await cleanRun(partitions);
      expect(report.archived).toBe(3);
      expect(report.dropped).toEqual(['alerts_p20260101', 'alerts_p20260102', 'alerts_p20260103']);
      const archived = await sql<{ detected_at: Date; camera: string }>`
        select detected_at, camera from alerts_archive order by detected_at`.execute(db);
      expect(archived.rows.map((r) => [r.detected_at.toISOString(), r.camera])).toEqual([
        ['2025-12-01T10:00:00.000Z', 'gate'],
        ['2026-01-01T10:00:00.000Z', 'gate'],
        ['2026-01-02T10:00:00.000Z', 'gate'],
      ]);
      // A second run finds nothing more to archive.
      expect((await cleanRun(partitions)).archived).toBe(0);
      expect(await sql`select count(*)::int as n from alerts_archive`.execute(db)).toMatchObject({
        rows: [{ n: 3 }],
      });
    });
  });

  it("detaches expired partitions in 'detach' mode and keeps expired default rows in a table of their own", async () => {
    await withDatabase(name, async ({ db }) => {
      await createAlerts(db);
      const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
      const partitions = manager(db, clock, {
        premake: 1,
        retention: '2d',
        retentionMode: 'detach',
      });
      await cleanRun(partitions);
      await exec(
        db,
        `insert into alerts (detected_at) values ('2026-01-01T10:00:00Z'), ('2025-12-20T10:00:00Z')`,
      );

      clock.advance(5 * DAY);
      const report = await cleanRun(partitions);
      expect(report.detached).toEqual(['alerts_p20260101', 'alerts_p20260102']);
      expect(report.dropped).toEqual([]);
      expect(report.movedFromDefault).toEqual([
        { partition: 'alerts_p20251220', rows: 1, attached: false },
      ]);
      expect(report.created).toEqual(['alerts_p20260106', 'alerts_p20260107']);

      const { rows } = await sql<{ name: string; kind: string; partition: boolean }>`
        select relname as name, relkind as kind, relispartition as partition from pg_class
        where relname in ('alerts_p20251220', 'alerts_p20260101', 'alerts_p20260102')
        order by 1`.execute(db);
      expect(rows).toEqual([
        { name: 'alerts_p20251220', kind: 'r', partition: false },
        { name: 'alerts_p20260101', kind: 'r', partition: false },
        { name: 'alerts_p20260102', kind: 'r', partition: false },
      ]);
      expect(await count(db, 'alerts_p20260101')).toBe(1);
      expect(await count(db, 'alerts_p20251220')).toBe(1);

      // A late row for a detached interval lands in the default partition, then joins its table.
      await exec(db, `insert into alerts (detected_at) values ('2026-01-01T11:00:00Z')`);
      const late = await cleanRun(partitions);
      expect(late.movedFromDefault).toEqual([
        { partition: 'alerts_p20260101', rows: 1, attached: false },
      ]);
      expect(await count(db, 'alerts_p20260101')).toBe(2);
      expect(await count(db, 'alerts_default')).toBe(0);
    });
  });

  it('keeps the last partition when every one has expired and reports a partition it could not create', async () => {
    await withDatabase(name, async ({ db }) => {
      await createAlerts(db);
      const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
      const partitions = manager(db, clock, { premake: 0, retention: '1d' });
      expect((await cleanRun(partitions)).created).toEqual(['alerts_default', 'alerts_p20260101']);

      await exec(db, 'create table alerts_p20260105 (note text)'); // someone took the name
      clock.advance(4 * DAY);
      const report = await partitions.run();

      expect(report.created).toEqual([]);
      expect(report.failed).toHaveLength(1);
      expect(report.failed[0]).toMatchObject({ partition: 'alerts_p20260105', action: 'create' });
      expect(report.failed[0]?.error.code).toBe('E_BACKEND_FAILED');
      expect(report.failed[0]?.error.message).toMatch(/already exists/);
      expect(report.dropped).toEqual([]);
      expect(await partitionNames(db)).toEqual(['alerts_default', 'alerts_p20260101']);
    });
  });

  it('respects partitions named otherwise and reads bounds right whatever the session TimeZone', async () => {
    await withDatabase(name, async (database) => {
      const { db } = database;
      await createAlerts(db);
      // The user's own partition, written with an offset, covers all of January.
      await exec(
        db,
        `create table alerts_january partition of alerts
           for values from ('2026-01-01 00:00:00+00') to ('2026-02-01 00:00:00+00')`,
      );
      const skewed = await sessionInTimeZone(database, 'Pacific/Kiritimati'); // UTC+14
      try {
        const clock = new ManualClock(at('2026-01-30T12:00:00Z'));
        const partitions = manager(skewed, clock, { premake: 3, retention: '1d' });
        const report = await cleanRun(partitions);
        expect(report.created).toEqual(['alerts_default', 'alerts_p20260201', 'alerts_p20260202']);

        clock.advance(10 * DAY); // January has expired, but the user's partition is theirs
        const later = await cleanRun(partitions);
        expect(later.dropped).toEqual(['alerts_p20260201', 'alerts_p20260202']);
        expect(await partitionNames(db)).toContain('alerts_january');
      } finally {
        if (skewed !== db) await skewed.destroy();
      }
    });
  });

  it('partitions a timestamp without time zone column by UTC calendar days', async () => {
    await withDatabase(name, async (database) => {
      const { db } = database;
      await createAlerts(db, 'alerts', 'timestamp');
      await exec(db, 'create table alerts_default partition of alerts default');
      await exec(db, `insert into alerts (detected_at) values ('2026-01-04 23:30:00')`);
      const skewed = await sessionInTimeZone(database, 'America/Los_Angeles');
      try {
        const clock = new ManualClock(at('2026-01-05T23:30:00Z'));
        const report = await cleanRun(manager(skewed, clock, { premake: 0 }));
        expect(report.created).toEqual(['alerts_p20260104', 'alerts_p20260105']);
        const bounds = await partitions(db);
        expect(bounds.alerts_p20260105).toBe(
          "FOR VALUES FROM ('2026-01-05 00:00:00') TO ('2026-01-06 00:00:00')",
        );
        await exec(db, `insert into alerts (detected_at) values ('2026-01-05 23:59:59')`);
        expect(Object.values(await placement(db))).toEqual([
          'alerts_p20260104',
          'alerts_p20260105',
        ]);
      } finally {
        if (skewed !== db) await skewed.destroy();
      }
    });
  });

  it('rejects bad options and tables it cannot partition with a code, before changing anything', async () => {
    await withDatabase(name, async ({ db }) => {
      await exec(db, 'create table plain (id bigint, detected_at timestamptz)');
      await createAlerts(db, 'by_other', 'timestamptz');
      await exec(
        db,
        `create table by_created (id bigint, detected_at timestamptz, created_at timestamptz)
           partition by range (created_at)`,
      );
      await exec(
        db,
        'create table by_list (region text, detected_at timestamptz) partition by list (region)',
      );
      await exec(
        db,
        'create table by_id (id bigint, detected_at timestamptz) partition by range (id)',
      );
      const before = await relations(db);
      const clock = new ManualClock(at('2026-01-01T00:00:00Z'));
      const run = (options: Partial<PartitionManagerOptions>) => manager(db, clock, options).run();

      await expectError(run({ table: 'missing' }), 'E_NOT_FOUND', /table "missing" does not exist/);
      await expectError(
        run({ table: 'plain' }),
        'E_INVALID_OPTIONS',
        /expected table "[^"]+"\."plain" to be partitioned by RANGE \(detected_at\) on a timestamp column, found a table that is not partitioned/,
      );
      await expectError(
        run({ table: 'by_created' }),
        'E_INVALID_OPTIONS',
        /partitioned by RANGE \(detected_at\).*found one partitioned by RANGE \(created_at\)/,
      );
      await expectError(
        run({ table: 'by_list' }),
        'E_INVALID_OPTIONS',
        /found one partitioned by LIST \(region\)/,
      );
      await expectError(
        run({ table: 'by_id', column: 'id' }),
        'E_INVALID_OPTIONS',
        /RANGE \(id\) on a timestamp column, found column "id" of type bigint/,
      );
      const construct = (options: Record<string, unknown>) => () =>
        manager(db, clock, options as Partial<PartitionManagerOptions>);
      expect(construct({ premake: -1 })).toThrow(
        /premake: expected number >= 0, received number -1/,
      );
      expect(construct({ retention: 0 })).toThrow(/retention: expected a positive duration/);
      expect(construct({ retentionMode: 'archive' })).toThrow(/retentionMode: expected one of/);
      expect(construct({ partitionBy: 'day' })).toThrow(/partitionBy: expected no such option/);
      for (const options of [{ premake: -1 }, { retention: 0 }, { partitionBy: 'day' }]) {
        const error = (() => {
          try {
            construct(options)();
          } catch (e) {
            return e;
          }
        })();
        expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
      }
      const aborted = AbortSignal.abort();
      await expectError(
        manager(db, clock, { table: 'by_other' }).run({ signal: aborted }),
        'E_ABORTED',
        /aborted/,
      );
      expect(await relations(db)).toEqual(before);
    });
  });

  it.runIf(name === 'postgres')(
    "returns skipped: 'locked' while another session holds the table's maintenance lock",
    async () => {
      await withDatabase(name, async (database) => {
        const { db } = database;
        await createAlerts(db);
        const other = await database.another();
        const key = maintenanceLockKey({ schema: database.location ?? '', name: 'alerts' });
        await other.connection().execute(async (session) => {
          await sql`select pg_advisory_lock(${key}::bigint)`.execute(session);
          const clock = new ManualClock(at('2026-01-01T00:00:00Z'));
          const report = await manager(db, clock).run();
          expect(report).toMatchObject({ skipped: 'locked', created: [] });
          expect(await partitionNames(db)).toEqual([]);
          await sql`select pg_advisory_unlock(${key}::bigint)`.execute(session);
          expect((await cleanRun(manager(db, clock))).created).toHaveLength(4);
        });
      });
    },
  );

  it.runIf(name === 'postgres')(
    'is safe when several processes run at once: one does the work, the others find it done',
    async () => {
      await withDatabase(name, async (database) => {
        const { db } = database;
        await createAlerts(db);
        await exec(db, 'create table alerts_default partition of alerts default');
        await exec(db, `insert into alerts (detected_at) values ('2025-12-24T00:00:00Z')`);
        const processes = [db, ...(await Promise.all([1, 2, 3, 4].map(() => database.another())))];
        const clock = new ManualClock(at('2026-01-01T00:00:00Z'));
        for (let round = 0; round < 3; round++) {
          const reports = await Promise.all(processes.map((p) => manager(p, clock).run()));
          expect(reports.flatMap((r) => r.failed)).toEqual([]);
          expect(reports.filter((r) => r.created.length > 0)).toHaveLength(1);
          for (const r of reports) if (r.created.length === 0) expect(r.dropped).toEqual([]);
          const created = reports.flatMap((r) => r.created);
          expect(new Set(created).size).toBe(created.length);
          clock.advance(DAY);
        }
        expect(await partitionNames(db)).toEqual([
          'alerts_default',
          'alerts_p20251224',
          'alerts_p20260101',
          'alerts_p20260102',
          'alerts_p20260103',
          'alerts_p20260104',
          'alerts_p20260105',
        ]);
        expect(await count(db, 'alerts_default')).toBe(0);
      });
    },
  );

  it.runIf(name === 'postgres')(
    'gives up on a partition locked by a long query within lockTimeoutMs × tries, then drops it once free',
    async () => {
      await withDatabase(name, async (database) => {
        const { db } = database;
        await createAlerts(db);
        const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
        const partitions = manager(db, clock, {
          retention: '1d',
          lockTimeoutMs: 100,
          dropRetries: 2,
        });
        await cleanRun(partitions);
        clock.advance(5 * DAY);

        const reader = await database.another();
        let release = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let holding = () => {};
        const held = new Promise<void>((resolve) => {
          holding = resolve;
        });
        const longQuery = reader.transaction().execute(async (trx) => {
          await sql`select count(*) from alerts_p20260102`.execute(trx);
          holding();
          await released;
        });
        await held;

        const started = performance.now();
        const report = await partitions.run().finally(release);
        const elapsed = performance.now() - started;
        await longQuery;

        expect(report.dropped).toEqual(['alerts_p20260101', 'alerts_p20260103']);
        expect(report.failed).toHaveLength(1);
        expect(report.failed[0]).toMatchObject({ partition: 'alerts_p20260102', action: 'drop' });
        expect(report.failed[0]?.error.code).toBe('E_LOCKED');
        expect(report.failed[0]?.error.context).toMatchObject({ tries: 3, lockTimeoutMs: 100 });
        // 3 tries of 100 ms plus pauses of 50 and 100 ms; far below a blocked DROP's forever.
        expect(elapsed).toBeGreaterThanOrEqual(300);
        expect(elapsed).toBeLessThan(3_000);

        const retry = await cleanRun(partitions);
        expect(retry.dropped).toEqual(['alerts_p20260102']);
        expect(retry.failed).toEqual([]);
      });
    },
  );

  it.runIf(name === 'postgres')(
    'archives a row committed into an expired partition while its drop waits for the lock',
    async () => {
      await withDatabase(name, async (database) => {
        const { db } = database;
        await createAlerts(db);
        const clock = new ManualClock(at('2026-01-01T06:00:00Z'));
        const options = { retention: '2d', archive: { table: 'alerts_archive' } };
        await cleanRun(manager(db, clock, options));
        await exec(
          db,
          `insert into alerts (detected_at, camera) values ('2026-01-01T10:00:00Z', 'gate')`,
        );
        clock.advance(3 * DAY);
        const session = `salama-drop-${database.location}`;
        const maintaining = namedSessions(database, session);
        const writer = await database.another();
        try {
          let commit = () => {};
          const committing = new Promise<void>((resolve) => {
            commit = resolve;
          });
          let inserted = () => {};
          const open = new Promise<void>((resolve) => {
            inserted = resolve;
          });
          // A late upload into the expired day, committed while maintenance waits for its lock.
          const late = writer.transaction().execute(async (trx) => {
            await sql`insert into alerts (detected_at, camera) values ('2026-01-01T11:00:00Z', 'late')`.execute(
              trx,
            );
            inserted();
            await committing;
          });
          await open;
          const run = manager(maintaining, clock, { ...options, lockTimeoutMs: 10_000 }).run();
          await until(() => waiting(db, session, 'Lock'), 10_000);
          commit();
          await late;
          const report = await run;
          expect(report.dropped).toContain('alerts_p20260101');
          const archived = await sql<{ camera: string }>`
            select camera from alerts_archive order by detected_at`.execute(db);
          expect(archived.rows.map((r) => r.camera)).toEqual(['gate', 'late']);
          expect(report.archived).toBe(2);
        } finally {
          await maintaining.destroy();
        }
      });
    },
  );

  it.runIf(name === 'postgres')(
    'waits the full lockTimeoutMs on the last try of a drop after an archive copy, so a long reader does not starve it',
    async () => {
      await withDatabase(name, async (database) => {
        const reader = await database.another();
        const copy = await pausedArchiveCopy(database, 'starve', {
          lockTimeoutMs: 10_000,
          dropRetries: 2,
        });
        try {
          const held = gate();
          // A report reading the whole table for a second and a half, from during the copy.
          const report = reader.transaction().execute(async (trx) => {
            await sql`select count(*) from alerts`.execute(trx);
            held.open();
            await new Promise((resolve) => setTimeout(resolve, 1_500));
          });
          await held.opened;
          copy.resume();
          const run = await copy.run;
          await report;
          expect(run.failed).toEqual([]);
          expect(run.dropped).toContain('alerts_p20260101');
          expect(run.archived).toBe(1);
        } finally {
          await copy.end();
        }
      });
    },
  );

  it.runIf(name === 'postgres')(
    'gives way, rather than deadlock, to a transaction that read the table and writes a late row during the copy',
    async () => {
      await withDatabase(name, async (database) => {
        const apps = `salama-app-${database.location}`;
        const app = namedSessions(database, apps);
        const copy = await pausedArchiveCopy(database, 'yield');
        try {
          const appRead = gate();
          const appGo = gate();
          // It reads every partition (the expired one too), then writes into the expired day.
          const appTx = app.transaction().execute(async (trx) => {
            await sql`select count(*) from alerts`.execute(trx);
            appRead.open();
            await appGo.opened;
            await sql`insert into alerts (detected_at, camera) values ('2026-01-01T12:00:00Z', 'late')`.execute(
              trx,
            );
          });
          await appRead.opened;
          appGo.open();
          await until(() => waiting(database.db, apps, 'Lock'), 10_000); // behind the copy's SHARE
          copy.resume(); // the copy ends; the drop now waits for the application's read lock
          await expect(appTx).resolves.toBeUndefined();
          const report = await copy.run;
          expect(report.dropped).toContain('alerts_p20260101');
          const archived = await sql<{ camera: string }>`
            select camera from alerts_archive order by detected_at`.execute(database.db);
          expect(archived.rows.map((r) => r.camera)).toEqual(['gate', 'late']);
        } finally {
          await copy.end();
          await app.destroy();
        }
      });
    },
  );

  it.runIf(name === 'postgres')(
    'lets queries read the table while an expired partition is being archived',
    async () => {
      await withDatabase(name, async (database) => {
        const readers = `salama-read-${database.location}`;
        const reader = namedSessions(database, readers);
        const copy = await pausedArchiveCopy(database, 'copy');
        try {
          // Not pruned by the partition key: it reads the partition being archived too.
          let read: string[] | undefined;
          const reading = sql<{ camera: string }>`
            select camera from alerts where camera <> 'gate'`
            .execute(reader)
            .then((result) => {
              read = result.rows.map((r) => r.camera);
            });
          await until(
            async () => read !== undefined || (await waiting(database.db, readers, 'Lock')),
            10_000,
          );
          expect(read).toEqual(['recent']);
          copy.resume();
          await reading;
          const report = await copy.run;
          expect(report.dropped).toContain('alerts_p20260101');
          expect(report.archived).toBe(1);
        } finally {
          await copy.end();
          await reader.destroy();
        }
      });
    },
  );

  it.runIf(name === 'postgres')(
    'deletes from the default partition exactly the rows it archived, though rows arrive meanwhile',
    async () => {
      await withDatabase(name, async (database) => {
        const { db } = database;
        await createAlerts(db);
        await exec(db, 'create table alerts_default partition of alerts default');
        await exec(
          db,
          `insert into alerts (detected_at, camera) values ('2025-12-01T10:00:00Z', 'gate')`,
        );
        const session = `salama-default-${database.location}`;
        const maintaining = namedSessions(database, session);
        const writer = await database.another();
        try {
          // The archive filter sleeps, so the test can write while maintenance is archiving.
          const run = manager(maintaining, new ManualClock(at('2026-01-04T12:00:00Z')), {
            retention: '2d',
            archive: {
              table: 'alerts_archive',
              where: () => sql<boolean>`(select true from pg_sleep(0.3))`,
            },
          }).run();
          await until(() => waiting(db, session, 'PgSleep'), 10_000);
          await exec(
            writer,
            `insert into alerts (detected_at, camera) values ('2025-12-01T11:00:00Z', 'late')`,
          );
          const report = await run;
          const archived = await sql<{ camera: string }>`
            select camera from alerts_archive order by detected_at`.execute(db);
          const left = await sql<{ camera: string }>`
            select camera from alerts order by detected_at`.execute(db);
          // Every row is still there or archived, never both, never neither.
          expect([...archived.rows, ...left.rows].map((r) => r.camera).sort()).toEqual([
            'gate',
            'late',
          ]);
          expect(report.archived).toBe(archived.rows.length);
          expect(report.deletedFromDefault.reduce((n, d) => n + d.rows, 0)).toBe(
            archived.rows.length,
          );
        } finally {
          await maintaining.destroy();
        }
      });
    },
  );
});

describe('PartitionManager on sqlite', () => {
  it('refuses a SQLite database: partitioning needs PostgreSQL', async () => {
    await withDatabase('sqlite', async ({ db }) => {
      const create = () =>
        new PartitionManager({ db, table: 'alerts', column: 'detected_at', interval: 'day' });
      expect(create).toThrow(SalamaError);
      expect(create).toThrow(/db: expected a PostgreSQL .*partitioning needs PostgreSQL.*SQLite/);
      try {
        create();
      } catch (error) {
        expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
      }
    });
  });
});

/**
 * A Kysely on the same database whose sessions use `timeZone`: a second pool on PostgreSQL,
 * the one shared session on PGlite.
 */
async function sessionInTimeZone(database: TestDatabase, timeZone: string): Promise<TestDb> {
  if (database.name !== 'postgres') {
    await exec(database.db, `set timezone = '${timeZone}'`);
    return database.db;
  }
  const pool = new pg.Pool({
    connectionString: PG_URL,
    max: 2,
    options: `-c search_path=${database.location} -c TimeZone=${timeZone}`,
  });
  return new Kysely({ dialect: new PostgresDialect({ pool }) });
}
