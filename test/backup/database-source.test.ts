import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { BackupService, databaseSource, restoreDatabase } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookedBlobStore } from '../support/blob-hooks.js';
import {
  allDialects,
  type DialectName,
  exec,
  openDatabase,
  type TestDatabase,
} from '../support/databases.js';
import { until } from '../support/until.js';

const chunker = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, seed: 11 };

async function accessLog(database: TestDatabase, name: DialectName, rows: number) {
  const time = name === 'sqlite' ? 'integer' : 'timestamptz';
  const blob = name === 'sqlite' ? 'blob' : 'bytea';
  await sql
    .raw(
      `create table access_log (id integer primary key, at ${time} not null, plate text, confidence real, crop ${blob})`,
    )
    .execute(database.db);
  await sql.raw('create table cameras (name text, zone text)').execute(database.db); // no primary key
  for (let i = 0; i < rows; i += 500)
    await database.db
      .insertInto('access_log')
      .values(
        Array.from({ length: Math.min(500, rows - i) }, (_, j) => ({
          id: i + j + 1,
          at:
            name === 'sqlite' ? 1_700_000_000_000 + (i + j) : new Date(1_700_000_000_000 + (i + j)),
          plate: `AB-${String(i + j).padStart(5, '0')}`,
          confidence: 0.5,
          crop: Buffer.from([i % 256, j % 256, 0, 255]),
        })),
      )
      .execute();
  await database.db
    .insertInto('cameras')
    .values([
      { name: 'gate', zone: 'north' },
      { name: 'lobby', zone: null },
    ])
    .execute();
}

describe.each(allDialects)('databaseSource on %s', (name) => {
  let database: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    database = await openDatabase(name);
    dir = await mkdtemp(join(tmpdir(), 'salama-dbsource-'));
  });
  afterEach(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up a consistent snapshot table by table and restores it into an empty database', async () => {
    await accessLog(database, name, 12_000);
    const store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    const backup = await BackupService.init(store, { passphrase: 'p', chunker });
    const report = await backup.backup([databaseSource(database.db, { batchSize: 1000 })]);
    expect(report.snapshot.tree.map((e) => e.path)).toEqual([
      'database',
      'database/access_log.jsonl',
      'database/cameras.jsonl',
    ]);

    const target = await openDatabase(name);
    try {
      const restored = await restoreDatabase(backup, 'latest', target.db);
      expect(restored.tables).toEqual([
        { table: 'access_log', rows: 12_000, created: true },
        { table: 'cameras', rows: 2, created: true },
      ]);
      const row = await target.db
        .selectFrom('access_log')
        .selectAll()
        .where('id', '=', 4321)
        .executeTakeFirstOrThrow();
      const original = await database.db
        .selectFrom('access_log')
        .selectAll()
        .where('id', '=', 4321)
        .executeTakeFirstOrThrow();
      expect(row).toEqual(original);
      await expect(restoreDatabase(backup, 'latest', target.db)).rejects.toMatchObject({
        code: 'E_CONFLICT',
      });
      await target.db.deleteFrom('cameras').execute();
      const again = await restoreDatabase(backup, 'latest', target.db, { ifExists: 'replace' });
      expect(again.tables.map((t) => t.rows)).toEqual([12_000, 2]);
    } finally {
      await target.close();
    }
    await store.close();
  });

  it.skipIf(name === 'pglite')('sees one moment while another connection writes', async () => {
    await accessLog(database, name, 3000);
    const store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    const backup = await BackupService.init(store, { chunker });
    const other = await database.another();
    let wrote = false;
    const source = databaseSource(database.db, { batchSize: 500 });
    // Insert rows between the snapshot's start and the reading of the table.
    const wrapped = {
      name: source.name,
      async *entries() {
        for await (const entry of source.entries()) {
          if (!wrote && entry.type === 'table') {
            await other
              .insertInto('access_log')
              .values({ id: 999_999, at: name === 'sqlite' ? 1 : new Date(1), plate: 'LATE' })
              .execute();
            wrote = true;
          }
          yield entry;
        }
      },
    };
    await backup.backup([wrapped]);
    const target = await openDatabase(name);
    try {
      const restored = await restoreDatabase(backup, 'latest', target.db, {
        tables: ['access_log'],
      });
      expect(restored.tables).toEqual([{ table: 'access_log', rows: 3000, created: true }]);
    } finally {
      await target.close();
    }
    expect(wrote).toBe(true);
    await store.close();
  });
});

describe('databaseSource on the PostgreSQL server, in a time zone east of UTC', () => {
  let database: TestDatabase;
  let dir: string;
  const tz = process.env.TZ;
  beforeEach(async () => {
    process.env.TZ = 'Europe/Berlin'; // node-pg would read `timestamp` as local time
    database = await openDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'salama-dbsource-pg-'));
  });
  afterEach(async () => {
    process.env.TZ = tz;
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  const columns: [string, string, string[]][] = [
    ['ts_local', 'timestamp', [`'2024-01-01 12:00:00'`, `'2024-07-01 23:30:00.5'`]],
    ['ts_us', 'timestamptz', [`'2024-01-01 12:00:00.123456+00'`]],
    ['doc', 'jsonb', [`'[1,2,3]'`, `'"hello"'`, `'{"a":[null,true]}'`]],
    ['amount', 'numeric', [`'12345678901234567890.123456789'`]],
    ['crop', 'bytea', [`'\\x00ff10'`]],
    ['plates', 'text[]', [`'{AB-1,"C D"}'`]],
  ];
  const dump = async (table: string, column: string) =>
    (
      await sql
        .raw<{ v: string | null }>(`select ${column}::text as v from ${table} order by 1`)
        .execute(database.db)
    ).rows.map((r) => r.v);

  const backUp = async (batchSize: number) => {
    const store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    const backup = await BackupService.init(store, { chunker });
    const report = await backup.backup([databaseSource(database.db, { batchSize })]);
    return { store, backup, id: report.snapshot.id };
  };

  it('round-trips every column type exactly', async () => {
    for (const [column, type, values] of columns) {
      await exec(
        database.db,
        `create table t_${column} (id serial primary key, ${column} ${type})`,
      );
      for (const value of values)
        await exec(database.db, `insert into t_${column} (${column}) values (${value})`);
      await exec(database.db, `insert into t_${column} (${column}) values (null)`);
    }
    const { store, backup, id } = await backUp(1000);
    const before = new Map<string, (string | null)[]>();
    for (const [column] of columns) before.set(column, await dump(`t_${column}`, column));
    await restoreDatabase(backup, id, database.db, { ifExists: 'replace' });
    for (const [column] of columns)
      expect({ column, values: await dump(`t_${column}`, column) }).toEqual({
        column,
        values: before.get(column),
      });
    await store.close();
  });

  it('pages through a microsecond timestamp key, several rows per millisecond', async () => {
    await exec(database.db, 'create table readings (at timestamptz primary key, note text)');
    await exec(
      database.db,
      `insert into readings values ('2024-01-01 12:00:00.100+00', 'a'),
        ('2024-01-01 12:00:00.123456+00', 'b'), ('2024-01-01 12:00:00.123457+00', 'c'),
        ('2024-01-01 12:00:00.123999+00', 'd'), ('2024-01-01 12:00:00.200+00', 'e')`,
    );
    const before = await dump('readings', 'at');
    const { store, backup, id } = await backUp(1);
    const restored = await restoreDatabase(backup, id, database.db, { ifExists: 'replace' });
    expect(restored.tables).toEqual([{ table: 'readings', rows: 5, created: false }]);
    expect(await dump('readings', 'at')).toEqual(before);
    await store.close();
  }, 10_000);

  it('a restore the database refuses is E_BACKEND_FAILED naming the table; nothing is kept', async () => {
    await exec(database.db, `create table doc (id integer primary key, body jsonb)`);
    await exec(database.db, `insert into doc values (1, '"hello"')`);
    const store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    const backup = await BackupService.init(store, { chunker });
    await backup.backup([databaseSource(database.db)]);
    await exec(database.db, 'drop table doc');
    await exec(database.db, 'create table doc (id integer primary key, body integer)');
    await expect(
      restoreDatabase(backup, 'latest', database.db, { ifExists: 'append' }),
    ).rejects.toMatchObject({
      code: 'E_BACKEND_FAILED',
      message: expect.stringContaining('table doc'),
    });
    expect(await dump('doc', 'body')).toEqual([]);
    await store.close();
  });

  it('a database restore holds a shared lock: forget and prune cannot delete what it reads', async () => {
    await exec(database.db, 'create table t (id integer primary key, v text)');
    await exec(database.db, `insert into t select i, md5(i::text) from generate_series(1, 5000) i`);
    const store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    const writer = await BackupService.init(store, { chunker });
    const first = await writer.backup([databaseSource(database.db)]);
    await exec(database.db, 'update t set v = md5(v)'); // the second snapshot shares no chunk
    await writer.backup([databaseSource(database.db)]);

    let reading = false;
    let resume: () => void = () => {};
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const slow = new HookedBlobStore(store, {
      async beforeGet(key) {
        if (!key.startsWith('data/')) return;
        reading = true;
        await paused; // a remote store: the restore is still reading packs
      },
    });
    const target = await openDatabase('postgres');
    const restoring = restoreDatabase(await BackupService.open(slow), first.snapshot.id, target.db);
    try {
      await until(() => reading);
      const maintenance = await BackupService.open(store);
      await expect(maintenance.forget({ keepLast: 1 })).rejects.toMatchObject({ code: 'E_LOCKED' });
      await expect(maintenance.prune()).rejects.toMatchObject({ code: 'E_LOCKED' });
      resume();
      expect((await restoring).tables).toEqual([{ table: 't', rows: 5000, created: true }]);
      expect((await maintenance.forget({ keepLast: 1 })).removed).toHaveLength(1);
    } finally {
      resume();
      await restoring.catch(() => {}); // it holds a connection of the target's pool
      await target.close();
    }
    await store.close();
  });
});
