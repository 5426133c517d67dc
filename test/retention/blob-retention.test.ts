import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from 'salama';
import { LocalBlobStore } from 'salama/blob';
import { RetentionManager } from 'salama/retention';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type TestDatabase } from '../support/databases.js';
import { DAY, NOW } from './alerts-fixture.js';

/** Recordings of 3 cameras, one per day for 20 days, each file's mtime set to its day. */
async function recordings(store: LocalBlobStore) {
  for (let day = 0; day < 20; day++)
    for (let cam = 1; cam <= 3; cam++) {
      const key = `recordings/cam-${cam}/day-${String(day).padStart(2, '0')}.mp4`;
      await store.put(key, new Uint8Array(100 + day));
      const time = new Date(NOW - day * DAY - 3_600_000);
      await utimes(join(store.root, key), time, time);
    }
  await store.put('exports/keep.zip', new Uint8Array(5));
  const old = new Date(NOW - 400 * DAY);
  await utimes(join(store.root, 'exports/keep.zip'), old, old);
}

async function keys(store: LocalBlobStore, prefix = '') {
  const out: string[] = [];
  for await (const info of store.list({ prefix })) out.push(info.key);
  return out;
}

describe('RetentionManager blob policies', () => {
  let dir: string;
  let store: LocalBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-recordings-'));
    store = new LocalBlobStore({ root: dir, fsync: false });
    await recordings(store);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('deletes recordings older than 7 days under the prefix only, in batches, with a report', async () => {
    const manager = new RetentionManager({
      clock: new ManualClock(NOW),
      pauseMs: 0,
      batchSize: 10,
      policies: [{ kind: 'blob', name: 'recordings', store, prefix: 'recordings/', maxAge: '7d' }],
    });
    const dry = await manager.dryRun();
    // Days 7..19 are older than 7 days (each file is one hour into its day's past).
    const expiredDays = Array.from({ length: 13 }, (_, i) => i + 7);
    expect(dry.policies[0]).toMatchObject({
      kind: 'blob',
      status: 'dry-run',
      matched: 39,
      bytes: expiredDays.reduce((n, d) => n + 3 * (100 + d), 0),
      oldest: new Date(NOW - 19 * DAY - 3_600_000),
      newest: new Date(NOW - 7 * DAY - 3_600_000),
      target: `${store.location}/recordings/`,
    });
    expect(await keys(store)).toHaveLength(61);

    const report = await manager.run();
    expect(report.policies[0]).toMatchObject({ status: 'ok', deleted: 39, batches: 4 });
    const left = await keys(store, 'recordings/');
    expect(left).toHaveLength(21);
    expect(left.every((k) => Number(k.slice(-6, -4)) < 7)).toBe(true);
    expect(await keys(store, 'exports/')).toEqual(['exports/keep.zip']);
  });

  it('refuses to empty a prefix without allowAll, before deleting anything', async () => {
    const manager = new RetentionManager({
      clock: new ManualClock(NOW),
      policies: [{ kind: 'blob', name: 'recordings', store, prefix: 'recordings/', maxAge: '30m' }],
    });
    await expect(manager.run()).rejects.toThrow(
      /expected a run to leave some objects under "recordings\/", received a policy that matches all 60; pass allowAll: true/,
    );
    expect(await keys(store)).toHaveLength(61);
  });

  it('runs blob and table policies together, sharing leases through the database', async () => {
    const database: TestDatabase = await openDatabase('sqlite');
    try {
      const manager = new RetentionManager({
        db: database.db,
        clock: new ManualClock(NOW),
        pauseMs: 0,
        policies: [
          { kind: 'blob', name: 'recordings', store, prefix: 'recordings/', maxAge: '7d' },
        ],
      });
      const report = await manager.run();
      expect(report.deleted).toBe(39);
      const leases = await database.db.selectFrom('salama_retention_lease').selectAll().execute();
      expect(leases).toEqual([]); // released at the end of the run
    } finally {
      await database.close();
    }
  });
});
