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
