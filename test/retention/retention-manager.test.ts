import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { ManualClock } from 'salama';
import { LocalBlobStore } from 'salama/blob';
import { RetentionManager, type RetentionProgress, readArchive } from 'salama/retention';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookedBlobStore } from '../support/blob-hooks.js';
import {
  allDialects,
  type DialectName,
  openDatabase,
  PG_URL,
  type TestDatabase,
} from '../support/databases.js';
import { until } from '../support/until.js';
import {
  type Alert,
  alerts,
  createAlerts,
  DAY,
  expiredIds,
  NOW,
  remainingIds,
} from './alerts-fixture.js';
import { retentionPolicy } from './fixtures/crash-policy.js';

const resolved = (a: Alert) => a.status === 'resolved';
const critical = (a: Alert) => a.severity === 'critical';

describe.each(allDialects)('RetentionManager on %s', (dialect: DialectName) => {
  let database: TestDatabase;
  let dir: string;
  const rows = alerts(400); // 200 days, one alert every 12 hours
  const clock = () => new ManualClock(NOW);

  beforeEach(async () => {
    database = await openDatabase(dialect);
    dir = await mkdtemp(join(tmpdir(), 'salama-retention-'));
    await createAlerts(database.db, dialect, rows);
  });
  afterEach(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a dry run reports counts and the oldest and newest expired row, and changes nothing', async () => {
    const manager = new RetentionManager({
      db: database.db,
      clock: clock(),
      policies: [retentionPolicy('table')],
    });
    const report = await manager.dryRun();
    const cutoff = NOW - 90 * DAY;
    const expected = rows.filter((a) => a.detectedAt < cutoff && resolved(a));
    expect(report.dryRun).toBe(true);
    expect(report.policies[0]).toMatchObject({
      policy: 'alerts',
      kind: 'table',
      status: 'dry-run',
      cutoff: new Date(cutoff),
      matched: expected.length,
      deleted: 0,
      archived: expected.filter(critical).length,
      oldest: new Date(Math.min(...expected.map((a) => a.detectedAt))),
      newest: new Date(Math.max(...expected.map((a) => a.detectedAt))),
    });
    expect(await remainingIds(database.db)).toHaveLength(rows.length);
    const archive = await sql`select 1 from alerts_archive`.execute(database.db).catch((e) => e);
    expect(archive).toBeInstanceOf(Error); // a dry run creates no table
  });

  it('deletes exactly the expired rows the filter selects, in batches, with progress', async () => {
    const progress: RetentionProgress[] = [];
    const manager = new RetentionManager({
      db: database.db,
      clock: clock(),
      pauseMs: 0,
      batchSize: 25,
      onProgress: (p) => progress.push(p),
      policies: [
        {
          name: 'alerts',
          table: 'alerts',
          timestampColumn: 'detected_at',
          maxAge: 90 * DAY,
          where: (eb) => eb('status', '=', 'resolved'),
        },
      ],
    });
    const gone = expiredIds(rows, NOW - 90 * DAY, resolved);
    const report = await manager.run();
    expect(report).toMatchObject({ ok: true, dryRun: false, deleted: gone.length, archived: 0 });
    expect(report.policies[0]).toMatchObject({
      status: 'ok',
      deleted: gone.length,
      matched: gone.length,
    });
    expect(report.policies[0]?.batches).toBe(
      Math.ceil(gone.length / 25) + (gone.length % 25 === 0 ? 1 : 0),
    );
    const left = await remainingIds(database.db);
    expect(left).toEqual(rows.map((a) => a.id).filter((id) => !gone.includes(id)));
    expect(progress.map((p) => p.deleted)).toEqual(
      [...progress.map((p) => p.deleted)].sort((a, b) => a - b),
    );
    expect(progress.at(-1)).toMatchObject({
      policy: 'alerts',
      deleted: gone.length,
      matched: gone.length,
    });
    // Running again finds nothing more to do.
    expect((await manager.run()).deleted).toBe(0);
  });

  it('archives critical alerts to a table before deleting them, each exactly once', async () => {
    const manager = new RetentionManager({
      db: database.db,
      clock: clock(),
      pauseMs: 0,
      batchSize: 40,
      policies: [retentionPolicy('table')],
    });
    const cutoff = NOW - 90 * DAY;
    const gone = expiredIds(rows, cutoff, resolved);
    const archived = expiredIds(rows, cutoff, (a) => resolved(a) && critical(a));
    const report = await manager.run();
    expect(report).toMatchObject({ ok: true, deleted: gone.length, archived: archived.length });
    expect(await remainingIds(database.db, 'alerts_archive')).toEqual(archived);
    const copy = await database.db
      .selectFrom('alerts_archive')
      .selectAll()
      .where('id', '=', archived[0] as number)
      .executeTakeFirstOrThrow();
    expect(copy).toMatchObject({
      status: 'resolved',
      severity: 'critical',
      message: `alert ${archived[0]}`,
    });
    expect(await remainingIds(database.db)).toHaveLength(rows.length - gone.length);
  });

  it('archives to a blob store as compressed JSON lines, listed once committed', async () => {
    const store = new LocalBlobStore({ root: join(dir, 'archive') });
    const manager = new RetentionManager({
      db: database.db,
      clock: clock(),
      pauseMs: 0,
      batchSize: 30,
      policies: [retentionPolicy('blob', store, 'alerts/')],
    });
    const cutoff = NOW - 90 * DAY;
    const archived = expiredIds(rows, cutoff, (a) => resolved(a) && critical(a));
    const report = await manager.run();
    expect(report.archived).toBe(archived.length);
    const objects = await manager.archives('alerts');
    expect(objects.reduce((n, o) => n + o.rows, 0)).toBe(archived.length);
    const ids: number[] = [];
    for (const object of objects) {
      expect(object.key).toMatch(/^alerts\/alerts\/2026-11-01\/000000-[0-9a-f-]{36}\.jsonl\.gz$/);
      for (const row of await readArchive(store, object.key)) {
        expect(row).toMatchObject({ status: 'resolved', severity: 'critical' });
        ids.push(Number(row.id));
      }
    }
    expect(ids.sort((a, b) => a - b)).toEqual(archived);
    const listed: string[] = [];
    for await (const info of store.list({ prefix: 'alerts/' })) listed.push(info.key);
    expect(listed.sort()).toEqual(objects.map((o) => o.key).sort());
    await store.close();
  });

  it('refuses bad policies before deleting anything', async () => {
    const base = { name: 'p', table: 'alerts', timestampColumn: 'detected_at', maxAge: '90d' };
    const check = async (policy: Record<string, unknown>, code: string, message: RegExp) => {
      const manager = new RetentionManager({
        db: database.db,
        clock: clock(),
        policies: [policy as never],
      });
      const error = await manager.run().catch((e: unknown) => e);
      expect(error).toMatchObject({ code });
      expect((error as Error).message).toMatch(message);
    };
    await check({ ...base, table: 'nope' }, 'E_NOT_FOUND', /table "nope" does not exist/);
    await check(
      { ...base, timestampColumn: 'created' },
      'E_INVALID_OPTIONS',
      /expected timestampColumn "created" to be a column of alerts, received columns id, detected_at/,
    );
    await check(
      { ...base, timestampColumn: 'status' },
      'E_INVALID_OPTIONS',
      /expected .+ as timestamp column, received column "status" of type text/,
    );
    await check(
      { ...base, maxAge: 1 },
      'E_INVALID_OPTIONS',
      /expected a run to leave some rows of alerts, received a policy that matches all 400 rows; pass allowAll: true/,
    );
    await check(
      {
        ...base,
        where: (eb: never) => (eb as (...a: unknown[]) => never)('no_such_column', '=', 1),
      },
      'E_INVALID_OPTIONS',
      /the database refused the policy's query/,
    );
    expect(await remainingIds(database.db)).toHaveLength(rows.length);
    // allowAll makes emptying the table deliberate.
    const all = new RetentionManager({
      db: database.db,
      clock: clock(),
      pauseMs: 0,
      policies: [{ ...base, maxAge: 1, allowAll: true }],
    });
    expect((await all.run()).deleted).toBe(rows.length);
  });

  it('stops after the current batch when aborted, and the next run finishes the work', async () => {
    const controller = new AbortController();
    const manager = new RetentionManager({
      db: database.db,
      clock: clock(),
      pauseMs: 0,
      batchSize: 10,
      policies: [
        { name: 'alerts', table: 'alerts', timestampColumn: 'detected_at', maxAge: '30d' },
      ],
    });
    const gone = expiredIds(rows, NOW - 30 * DAY);
    const first = await manager.run({
      signal: controller.signal,
      onProgress: (p) => {
        if (p.batches === 3) controller.abort();
      },
    });
    expect(first.ok).toBe(false);
    expect(first.policies[0]).toMatchObject({ status: 'aborted', deleted: 30, batches: 3 });
    expect(first.policies[0]?.error).toMatchObject({ code: 'E_ABORTED' });
    const second = await manager.run();
    expect(second.deleted).toBe(gone.length - 30);
    expect(await remainingIds(database.db)).toHaveLength(rows.length - gone.length);
  });

  it.skipIf(dialect === 'pglite')(
    'a policy another process is running is skipped as locked, not run twice',
    async () => {
      // A blob policy whose second listing (the deleting one, under the lease) waits.
      const store = new LocalBlobStore({ root: join(dir, 'gated') });
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let leaseHeld: () => void = () => {};
      const holding = new Promise<void>((resolve) => {
        leaseHeld = resolve;
      });
      const gated = new HookedBlobStore(store, {
        beforeList: async (count) => {
          if (count === 2) {
            leaseHeld();
            await gate;
          }
        },
      });
      const policy = {
        kind: 'blob' as const,
        name: 'shared',
        store: gated,
        prefix: '',
        maxAge: '1d',
      };
      const first = new RetentionManager({
        db: database.db,
        clock: clock(),
        pauseMs: 0,
        policies: [policy],
      });
      const running = first.run();
      await holding;
      const other = await database.another();
      const second = new RetentionManager({
        db: other,
        clock: clock(),
        pauseMs: 0,
        policies: [{ ...policy, store }],
      });
      const skipped = await second.run();
      expect(skipped.policies[0]).toMatchObject({ status: 'skipped', reason: 'locked' });
      release();
      expect((await running).policies[0]?.status).toBe('ok');
      // Released at the end of the run: the other process gets it now.
      expect((await second.run()).policies[0]?.status).toBe('ok');
      await store.close();
    },
  );
});

describe('RetentionManager options', () => {
  it('refuses bad options at construction with what was expected', () => {
    const db = undefined;
    const make = (options: unknown) => () => new RetentionManager(options as never);
    expect(make({ db, policies: [] })).toThrow(/policies: expected array of length >= 1/);
    expect(
      make({
        policies: [{ name: 'a', table: 't', timestampColumn: 'ts', maxAge: 0 }],
      }),
    ).toThrow(/policies\.0\.maxAge: expected a positive duration/);
    expect(
      make({
        policies: [{ name: 'a', table: 't', timestampColumn: 'ts', maxAge: '-3d' }],
      }),
    ).toThrow(/maxAge: expected a positive duration/);
    expect(
      make({ policies: [{ name: 'a', table: 't', timestampColumn: 'ts', maxAge: '1d' }] }),
    ).toThrow(/db: expected a Kysely instance \(table policy "a" needs one\)/);
    expect(make({ policies: [{ name: 'a', table: 't', maxAge: '1d', bogus: 1 }] })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    );
  });
});

describe('RetentionManager whose batch outlasts its lease, on postgres', () => {
  let database: TestDatabase;
  let dir: string;
  const rows = alerts(400);

  beforeEach(async () => {
    database = await openDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'salama-lease-'));
    await createAlerts(database.db, 'postgres', rows);
  });
  afterEach(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A second process's own pool on the test's schema, named so the test can see it wait for a
   * lock (the caller destroys it).
   */
  const namedSession = (name: string) => {
    const pool = new pg.Pool({
      connectionString: PG_URL,
      max: 2,
      application_name: name,
      options: `-c search_path=${database.location}`,
    });
    const other = new Kysely({ dialect: new PostgresDialect({ pool }) });
    const waitingOnLock = async () =>
      (
        await sql<{ n: string }>`select count(*) as n from pg_stat_activity
          where application_name = ${name} and wait_event_type = 'Lock'`.execute(database.db)
      ).rows[0]?.n !== '0';
    return { other, waitingOnLock };
  };

  it('keeps the lease until the batch commits, so a second process never recovers its archive', async () => {
    const clock = new ManualClock(NOW);
    const store = new LocalBlobStore({ root: join(dir, 'archive') });
    const name = `salama-lease-${database.location}`;
    const { other, waitingOnLock } = namedSession(name);
    const second = new RetentionManager({
      db: other,
      clock,
      leaseMs: 1000,
      pauseMs: 0,
      policies: [retentionPolicy('blob', store, 'alerts/')],
    });
    let secondRun: Promise<unknown> | undefined;
    // The first process's archive is written, then its acknowledgement is slow: the lease
    // expires, and the second process starts while the batch is still open.
    const slow = new HookedBlobStore(store, {
      afterPut: async (_key, count) => {
        if (count !== 1) return;
        clock.advance(5000);
        let settled = false;
        secondRun = second.run().finally(() => {
          settled = true;
        });
        await until(async () => settled || (await waitingOnLock()), 10_000);
      },
    });
    const first = new RetentionManager({
      db: database.db,
      clock,
      leaseMs: 1000,
      pauseMs: 0,
      policies: [retentionPolicy('blob', slow, 'alerts/')],
    });
    try {
      const report = await first.run();
      await secondRun;
      const archivedFirst = expiredIds(rows, NOW - 90 * DAY, (a) => resolved(a) && critical(a));
      expect(report.policies[0]).toMatchObject({ status: 'ok', archived: archivedFirst.length });
      // Whichever process deleted a row, every critical row deleted is archived exactly once.
      const left = new Set(await remainingIds(database.db));
      const archived = rows.filter((a) => !left.has(a.id) && critical(a)).map((a) => a.id);
      expect(archived).toEqual(expect.arrayContaining(archivedFirst));
      const ids: number[] = [];
      for (const object of await first.archives('alerts'))
        for (const row of await readArchive(store, object.key)) ids.push(Number(row.id));
      expect(ids.sort((a, b) => a - b)).toEqual(archived);
    } finally {
      await other.destroy();
      await store.close();
    }
  });
  it('a second process skips a policy whose batch is open, without waiting for it, and runs its other policies', async () => {
    const store = new LocalBlobStore({ root: join(dir, 'archive') });
    await createAlerts(database.db, 'postgres', rows, 'metrics');
    const name = `salama-skip-${database.location}`;
    const { other, waitingOnLock } = namedSession(name);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let uploading: () => void = () => {};
    const inBatch = new Promise<void>((resolve) => {
      uploading = resolve;
    });
    // The first process's archive upload stalls inside its batch, which holds the lease row.
    const stalled = new HookedBlobStore(store, {
      beforePut: async () => {
        uploading();
        await gate;
      },
    });
    const first = new RetentionManager({
      db: database.db,
      clock: new ManualClock(NOW),
      pauseMs: 0,
      policies: [retentionPolicy('blob', stalled, 'alerts/')],
    });
    const second = new RetentionManager({
      db: other,
      clock: new ManualClock(NOW),
      pauseMs: 0,
      policies: [
        retentionPolicy('blob', store, 'alerts/'),
        { name: 'metrics', table: 'metrics', timestampColumn: 'detected_at', maxAge: '90d' },
      ],
    });
    const running = first.run();
    let secondRun: Promise<unknown> = Promise.resolve();
    try {
      await inBatch;
      let report: Awaited<ReturnType<typeof second.run>> | undefined;
      secondRun = second.run().then((r) => {
        report = r;
      });
      await until(async () => report !== undefined || (await waitingOnLock()), 10_000);
      expect(report?.policies).toMatchObject([
        { policy: 'alerts', status: 'skipped', reason: 'locked' },
        { policy: 'metrics', status: 'ok', deleted: expiredIds(rows, NOW - 90 * DAY).length },
      ]);
    } finally {
      release();
      await secondRun;
      await other.destroy();
    }
    expect((await running).policies[0]?.status).toBe('ok');
    await store.close();
  });
});

describe('RetentionManager.run options', () => {
  it('refuses bad run options with E_INVALID_OPTIONS before touching a row', async () => {
    const database = await openDatabase('sqlite');
    try {
      const rows = alerts(40);
      await createAlerts(database.db, 'sqlite', rows);
      const manager = new RetentionManager({
        db: database.db,
        clock: new ManualClock(NOW),
        pauseMs: 0,
        batchSize: 5,
        policies: [
          { name: 'alerts', table: 'alerts', timestampColumn: 'detected_at', maxAge: '5d' },
        ],
      });
      const cases: [unknown, RegExp][] = [
        [{ policies: 'alerts' }, /policies: expected array, received string "alerts"/],
        [{ policies: [42] }, /policies\.0: expected string, received number 42/],
        [null, /\(options\): expected object, received null/],
        [{ onProgress: 'x' }, /onProgress: expected a function \(progress\) => void/],
        [{ signal: {} }, /signal: expected an AbortSignal/],
        [{ dryrun: true }, /dryrun: expected no such option/],
      ];
      for (const [options, message] of cases) {
        const error = await manager.run(options as never).catch((e: unknown) => e);
        expect(error, String(message)).toMatchObject({ code: 'E_INVALID_OPTIONS' });
        expect((error as Error).message).toMatch(message);
      }
      expect(await remainingIds(database.db)).toHaveLength(rows.length);
    } finally {
      await database.close();
    }
  });
});
