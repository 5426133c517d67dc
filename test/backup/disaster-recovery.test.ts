import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import {
  BackupService,
  DisasterRecovery,
  databaseSource,
  pathSource,
  type RecoveryEvent,
} from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type TestDatabase } from '../support/databases.js';

describe('DisasterRecovery', () => {
  let dir: string;
  let database: TestDatabase;
  let store: LocalBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-dr-'));
    database = await openDatabase('sqlite');
    store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    await mkdir(join(dir, 'config'));
    await writeFile(join(dir, 'config', 'service.json'), JSON.stringify({ cameras: 4 }));
    await sql`create table plates (id integer primary key, text text not null)`.execute(
      database.db,
    );
    await database.db
      .insertInto('plates')
      .values([
        { id: 1, text: 'AB-123' },
        { id: 2, text: 'CD-456' },
      ])
      .execute();
  });
  afterEach(async () => {
    await store.close();
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('restores configuration and database from the latest snapshot, checks health and reports each step', async () => {
    const backup = await BackupService.init(store, { passphrase: 'dr' });
    await backup.backup([
      pathSource(join(dir, 'config'), { name: 'config' }),
      databaseSource(database.db),
    ]);
    // Disaster: the config is gone and the table damaged.
    await rm(join(dir, 'config'), { recursive: true });
    await database.db.deleteFrom('plates').where('id', '=', 2).execute();

    const events: RecoveryEvent[] = [];
    const recovery = new DisasterRecovery({
      backup,
      files: { target: dir, sources: ['config'] },
      database: { db: database.db },
      healthChecks: [
        {
          name: 'plates table',
          check: async () => {
            const n = await database.db
              .selectFrom('plates')
              .select(sql<number>`count(*)`.as('n'))
              .executeTakeFirstOrThrow();
            if (Number(n.n) !== 2) throw new Error(`expected 2 plates, found ${n.n}`);
          },
        },
        {
          name: 'config readable',
          check: async () =>
            void JSON.parse(await readFile(join(dir, 'config', 'service.json'), 'utf8')),
        },
      ],
      notifiers: [
        (e) => void events.push(e),
        () => {
          throw new Error('a broken notifier is ignored');
        },
      ],
    });
    const result = await recovery.recover();
    expect(result.ok).toBe(true);
    expect(result.escalated).toBe(false);
    expect(result.steps.map((s) => [s.name, s.ok])).toEqual([
      ['select snapshot', true],
      ['restore files', true],
      ['restore database', true],
      ['health: plates table', true],
      ['health: config readable', true],
    ]);
    expect(JSON.parse(await readFile(join(dir, 'config', 'service.json'), 'utf8'))).toEqual({
      cameras: 4,
    });
    expect(events.map((e) => e.type)).toEqual([
      'step',
      'started',
      'step',
      'step',
      'step',
      'step',
      'finished',
    ]);
  });

  it('escalates with a structured result when a health check fails or times out, or nothing can be restored', async () => {
    const backup = await BackupService.init(store);
    const escalated: unknown[] = [];
    const empty = new DisasterRecovery({ backup, escalate: (r) => void escalated.push(r) });
    const none = await empty.recover();
    expect(none).toMatchObject({ ok: false, escalated: true });
    expect(none.steps[0]).toMatchObject({
      name: 'select snapshot',
      ok: false,
      error: { code: 'E_NOT_FOUND' },
    });

    await backup.backup([pathSource(join(dir, 'config'), { name: 'config' })]);
    const recovery = new DisasterRecovery({
      backup,
      files: { target: join(dir, 'restored') },
      healthTimeoutMs: 50,
      healthChecks: [
        {
          name: 'api',
          check: () => {
            throw new Error('503 from /healthz');
          },
        },
        { name: 'slow', check: () => new Promise(() => {}) },
      ],
      escalate: (r) => void escalated.push(r),
    });
    const result = await recovery.recover();
    expect(result.ok).toBe(false);
    expect(result.escalated).toBe(true);
    expect(result.steps.slice(-2).map((s) => [s.name, s.ok, s.error?.message])).toEqual([
      ['health: api', false, '503 from /healthz'],
      ['health: slow', false, 'Health check "slow" did not answer within 50 ms'],
    ]);
    expect(escalated).toHaveLength(2);
  });
});
