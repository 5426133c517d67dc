import { sql } from 'kysely';
import { ManualClock } from 'salama';
import { RetentionManager } from 'salama/retention';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type TestDatabase } from '../support/databases.js';
import { DAY, NOW } from './alerts-fixture.js';

/** Logs one a day for 60 days, the time stored as `encode(date)` in a column of `type`. */
async function logs(database: TestDatabase, type: string, encode: (d: Date) => unknown) {
  await sql
    .raw(`create table logs (id integer primary key, at ${type} not null)`)
    .execute(database.db);
  await database.db
    .insertInto('logs')
    .values(
      Array.from({ length: 60 }, (_, i) => ({
        id: i + 1,
        at: encode(new Date(NOW - (i + 0.5) * DAY)),
      })),
    )
    .execute();
}

const policy = (extra: Record<string, unknown> = {}) => ({
  name: 'logs',
  table: 'logs',
  timestampColumn: 'at',
  maxAge: '30d',
  ...extra,
});

describe('timestamp columns on SQLite', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await openDatabase('sqlite');
  });
  afterEach(async () => {
    await database.close();
  });

  const run = (extra?: Record<string, unknown>) =>
    new RetentionManager({
      db: database.db,
      clock: new ManualClock(NOW),
      pauseMs: 0,
      policies: [policy(extra)],
    }).run();
  const left = async () =>
    Number(
      (await sql<{ n: number }>`select count(*) as n from logs`.execute(database.db)).rows[0]?.n,
    );

  it.each([
    ['DATETIME holding ISO 8601 text', 'datetime', (d: Date) => d.toISOString(), {}],
    [
      'TEXT with timestampFormat iso',
      'text',
      (d: Date) => d.toISOString(),
      { timestampFormat: 'iso' },
    ],
    [
      "TEXT holding CURRENT_TIMESTAMP's format",
      'text',
      (d: Date) => d.toISOString().slice(0, 19).replace('T', ' '),
      { timestampFormat: 'sqlite-datetime' },
    ],
    ['INTEGER milliseconds', 'integer', (d: Date) => d.getTime(), {}],
    [
      'INTEGER seconds',
      'integer',
      (d: Date) => Math.floor(d.getTime() / 1000),
      { timestampFormat: 'epoch-s' },
    ],
  ])('expires rows stored as %s', async (_label, type, encode, extra) => {
    await logs(database, type, encode);
    const report = await run(extra);
    expect(report.policies[0]).toMatchObject({
      deleted: 30,
      oldest: new Date(NOW - 59.5 * DAY),
      newest: new Date(NOW - 30.5 * DAY),
    });
    expect(await left()).toBe(30);
  });

  it('refuses seconds read as milliseconds, saying which format to set', async () => {
    await logs(database, 'integer', (d) => Math.floor(d.getTime() / 1000));
    await expect(run()).rejects.toThrow(
      /expected column "at" to hold epoch-ms timestamps, received the value "\d+" \(it looks like seconds: set timestampFormat: 'epoch-s'\)/,
    );
    expect(await left()).toBe(60);
  });

  it('refuses a TEXT column without a format, and a format the column cannot hold', async () => {
    await logs(database, 'text', (d) => d.toISOString());
    await expect(run()).rejects.toThrow(
      /expected an INTEGER \(epoch\), DATETIME or TIMESTAMP column, or a TEXT column with timestampFormat 'iso' or 'sqlite-datetime' as timestamp column, received column "at" of type text/,
    );
    await expect(run({ timestampFormat: 'epoch-ms' })).rejects.toMatchObject({
      code: 'E_INVALID_OPTIONS',
    });
    expect(await left()).toBe(60);
  });
});

describe('timestamps on the cutoff date', () => {
  const now = Date.parse('2024-03-10T18:00:00Z'); // 30 days earlier: 2024-02-09T18:00:00Z
  const stored = [
    ['2024-01-01T00:00:00Z', 'expired'],
    ['2024-02-09T12:00:00Z', 'expired'],
    ['2024-02-09T20:00:00Z', 'kept'],
    ['2024-02-09T23:59:00Z', 'kept'],
    ['2024-03-01T00:00:00Z', 'kept'],
  ] as const;
  const kept = stored.flatMap(([, fate], i) => (fate === 'kept' ? [i + 1] : []));

  async function expire(database: TestDatabase, type: string, encode: (iso: string) => unknown) {
    await sql.raw(`create table logs (id integer primary key, at ${type})`).execute(database.db);
    await database.db
      .insertInto('logs')
      .values(stored.map(([iso], i) => ({ id: i + 1, at: encode(iso) })))
      .execute();
    const report = await new RetentionManager({
      db: database.db,
      clock: new ManualClock(now),
      pauseMs: 0,
      policies: [policy()],
    }).run();
    const left = await database.db.selectFrom('logs').select('id').orderBy('id').execute();
    return { report, left: left.map((r) => Number(r.id)) };
  }

  it("keeps SQLite DATETIME rows in CURRENT_TIMESTAMP's format that are younger than maxAge", async () => {
    const database = await openDatabase('sqlite');
    try {
      const { report, left } = await expire(
        database,
        'datetime not null default current_timestamp',
        (iso) => iso.slice(0, 19).replace('T', ' '),
      );
      expect(left).toEqual(kept);
      expect(report.policies[0]).toMatchObject({
        deleted: 2,
        oldest: new Date('2024-01-01T00:00:00Z'),
        newest: new Date('2024-02-09T12:00:00Z'),
      });
    } finally {
      await database.close();
    }
  });

  it('expires a SQLite DATETIME column holding both text layouts, right on the cutoff date', async () => {
    const database = await openDatabase('sqlite');
    try {
      // Old rows written by CURRENT_TIMESTAMP, newer ones by toISOString(), mixed on the cutoff date.
      const layouts = ['sqlite', 'iso', 'sqlite', 'iso', 'iso'];
      let row = 0;
      const mixed = (iso: string) =>
        layouts[row++] === 'iso' ? new Date(iso).toISOString() : iso.replace('T', ' ').slice(0, 19);
      const { report, left } = await expire(database, 'datetime', mixed);
      expect(left).toEqual(kept);
      expect(report.policies[0]).toMatchObject({
        status: 'ok',
        deleted: 2,
        oldest: new Date('2024-01-01T00:00:00Z'),
        newest: new Date('2024-02-09T12:00:00Z'),
      });
    } finally {
      await database.close();
    }
  });

  it('refuses SQLite text times it cannot read, which would never expire, and deletes nothing', async () => {
    const database = await openDatabase('sqlite');
    try {
      // An offset without a colon: JavaScript reads it, SQLite's date functions do not.
      await expect(
        expire(database, 'datetime', (iso) => iso.slice(0, 19).concat('+0000')),
      ).rejects.toMatchObject({
        code: 'E_INVALID_OPTIONS',
        message: expect.stringContaining('SQLite can read'),
      });
      const left = await database.db.selectFrom('logs').select('id').execute();
      expect(left).toHaveLength(5);
    } finally {
      await database.close();
    }
  });

  it.each(['Asia/Tokyo', 'America/New_York'])(
    'compares a PostgreSQL timestamp without time zone as UTC wall time in a process on %s',
    async (zone) => {
      const database = await openDatabase('postgres');
      const saved = process.env.TZ;
      process.env.TZ = zone;
      try {
        const { report, left } = await expire(database, 'timestamp not null', (iso) =>
          iso.slice(0, 19).replace('T', ' '),
        );
        expect(left).toEqual(kept);
        expect(report.policies[0]).toMatchObject({
          cutoff: new Date('2024-02-09T18:00:00Z'),
          oldest: new Date('2024-01-01T00:00:00Z'),
          newest: new Date('2024-02-09T12:00:00Z'),
        });
      } finally {
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
        await database.close();
      }
    },
  );
});
