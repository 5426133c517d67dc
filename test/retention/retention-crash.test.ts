/**
 * Crash safety: retention runs killed with SIGKILL at random moments, and killed right
 * between writing an archive object and committing the delete, then run again to the end.
 * Every archived row must be in the archive exactly once, and only archived rows deleted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalBlobStore } from 'salama/blob';
import { RetentionManager, readArchive } from 'salama/retention';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DialectName, openDatabase, type TestDatabase } from '../support/databases.js';
import { alerts, createAlerts, DAY, expiredIds, remainingIds } from './alerts-fixture.js';
import { retentionPolicy } from './fixtures/crash-policy.js';

const child = fileURLToPath(new URL('./fixtures/retention-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Started {
  process: ChildProcess;
  exited: Promise<number | null>;
  progressed: Promise<void>;
}

function start(args: string[], env: Record<string, string> = {}): Started {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const progressed = new Promise<void>((resolve) => {
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('progress')) resolve();
    });
    proc.on('exit', () => resolve());
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { process: proc, exited, progressed };
}

const cases: [DialectName, 'table' | 'blob'][] = [
  ['sqlite', 'table'],
  ['sqlite', 'blob'],
  ['postgres', 'table'],
  ['postgres', 'blob'],
];

describe.each(cases)(
  'RetentionManager killed mid-run on %s, archiving to a %s',
  (dialect, mode) => {
    let database: TestDatabase;
    let dir: string;
    // Offset by 3 h so no alert sits within minutes of the cutoff while the runs go on.
    const rows = alerts(1200, DAY / 2, Date.now() + 3 * 3_600_000);
    const cutoff = Date.now() - 90 * DAY;
    const toDelete = expiredIds(rows, cutoff, (a) => a.status === 'resolved');
    const toArchive = expiredIds(
      rows,
      cutoff,
      (a) => a.status === 'resolved' && a.severity === 'critical',
    );

    beforeEach(async () => {
      database = await openDatabase(dialect);
      dir = await mkdtemp(join(tmpdir(), 'salama-crash-'));
      await createAlerts(database.db, dialect, rows);
    });
    afterEach(async () => {
      await database.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('archives every qualifying row exactly once and deletes only archived rows', async () => {
      const archiveDir = join(dir, 'archive');
      const args = [dialect, database.location as string, archiveDir, mode];
      if (mode === 'blob') {
        // Killed between writing its second archive object and committing the delete.
        const run = start(args, { KILL_AFTER_PUT: '2' });
        expect(await run.exited).toBeNull();
      }
      await new Promise((r) => setTimeout(r, 350)); // its lease expires
      let killed = 0;
      for (let attempt = 0; attempt < 4; attempt++) {
        const run = start(args);
        await run.progressed;
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
        if (run.process.kill('SIGKILL')) killed++;
        await run.exited;
        // Partial progress is real: some rows are gone, and every row still archivable is kept.
        const left = new Set(await remainingIds(database.db));
        for (const id of toArchive) if (!left.has(id)) expect(await isArchived(id)).toBe(true);
      }
      expect(killed).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 350)); // the killed runs' leases expire
      const store = new LocalBlobStore({ root: archiveDir });
      const manager = new RetentionManager({
        db: database.db,
        pauseMs: 0,
        leaseMs: 300,
        policies: [retentionPolicy(mode, store)],
      });
      const report = await manager.run();
      expect(report.policies[0]?.status).toBe('ok');

      const deleted = new Set(toDelete);
      expect(await remainingIds(database.db)).toEqual(
        rows.map((a) => a.id).filter((id) => !deleted.has(id)),
      );
      const archivedIds = await archivedRowIds(manager, store);
      expect(archivedIds).toEqual(toArchive); // each exactly once: sorted, no duplicates
      if (mode === 'blob') {
        // No object of a killed run is left behind.
        const listed: string[] = [];
        for await (const info of store.list()) listed.push(info.key);
        expect(listed.sort()).toEqual((await manager.archives('alerts')).map((o) => o.key).sort());
      }
      await store.close();
    }, 120_000);

    async function isArchived(id: number): Promise<boolean> {
      if (mode === 'table') {
        const row = await database.db
          .selectFrom('alerts_archive')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst()
          .catch(() => undefined);
        return row !== undefined;
      }
      // A deleted row's archive object is committed by the same transaction.
      const store = new LocalBlobStore({ root: join(dir, 'archive') });
      const manager = new RetentionManager({
        db: database.db,
        policies: [retentionPolicy('blob', store)],
      });
      const ids = await archivedRowIds(manager, store);
      await store.close();
      return ids.includes(id);
    }

    async function archivedRowIds(manager: RetentionManager, store: LocalBlobStore) {
      if (mode === 'table') return remainingIds(database.db, 'alerts_archive');
      const ids: number[] = [];
      for (const object of await manager.archives('alerts'))
        for (const row of await readArchive(store, object.key)) ids.push(Number(row.id));
      return ids.sort((a, b) => a - b);
    }
  },
);
