import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupService, streamSource } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookedBlobStore } from '../support/blob-hooks.js';
import { until } from '../support/until.js';

const MiB = 1024 * 1024;
const chunker = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, seed: 7 };

/** A promise and the function that resolves it. */
function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('backups sharing one repository', () => {
  let dir: string;
  let store: LocalBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-backup-conc-'));
    store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    await BackupService.init(store, { chunker });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('two backups started together on one service both store every chunk they name', async () => {
    const first = gate();
    const second = gate();
    let paused = 0;
    const a = [randomBytes(MiB), randomBytes(MiB)];
    const slow = streamSource('cam-1', async function* () {
      yield a[0] as Buffer;
      paused = 1;
      await first.opened;
      yield a[1] as Buffer;
      paused = 2;
      await second.opened;
    });
    const b = randomBytes(MiB);
    const quick = streamSource('cam-2', async function* () {
      yield b;
    });
    // When a backup has written its index (before its snapshot), the slow one adds more.
    const hooked = new HookedBlobStore(store, {
      async afterPut(key) {
        if (!key.startsWith('index/')) return;
        first.open();
        await until(() => paused === 2);
      },
    });
    const service = await BackupService.open(hooked);
    const slowRun = service.backup([slow]);
    await until(() => paused === 1);
    const quickRun = service.backup([quick]);
    // The quick one may finish while the slow one waits, or (serialised) wait for it.
    await Promise.race([quickRun, until(() => false, 500)]).catch(() => {});
    first.open();
    second.open();
    const [slowReport, quickReport] = await Promise.all([slowRun, quickRun]);

    const fresh = await BackupService.open(store);
    expect(await fresh.verify({ readData: true })).toMatchObject({ ok: true, snapshots: 2 });
    await fresh.restore(slowReport.snapshot.id, join(dir, 'slow'));
    await fresh.restore(quickReport.snapshot.id, join(dir, 'quick'));
    expect((await readFile(join(dir, 'slow', 'cam-1'))).equals(Buffer.concat(a))).toBe(true);
    expect((await readFile(join(dir, 'quick', 'cam-2'))).equals(b)).toBe(true);
  });

  it('a failed backup leaves nothing behind that a later index would name after a prune', async () => {
    const data = randomBytes(10 * MiB); // more than one 8 MiB batch: packs are stored early
    let packs = 0;
    const hooked = new HookedBlobStore(store, {
      afterPut: (key) => {
        if (key.startsWith('data/')) packs++;
      },
    });
    const killed = await BackupService.open(hooked);
    killed.repository.packSize = 256 * 1024;
    const dying = streamSource('db', async function* () {
      yield data;
      await until(() => packs > 0);
      throw new Error('source died');
    });
    await expect(killed.backup([dying])).rejects.toThrow('source died');

    const service = await BackupService.open(store);
    const down = streamSource('db', async function* () {
      yield* []; // a source that fails before yielding anything
      throw new Error('source down');
    });
    await expect(service.backup([down])).rejects.toThrow('source down');
    const pruned = await service.prune(); // no snapshot needs the dead backup's packs
    expect(pruned.packsDeleted).toBeGreaterThan(0);
    expect((await service.repository.listPackIds()).size).toBe(0);

    const ok = await service.backup([
      streamSource('db', async function* () {
        yield data;
      }),
    ]);
    expect(await service.verify({ readData: true })).toMatchObject({ ok: true, snapshots: 1 });
    const fresh = await BackupService.open(store);
    await fresh.restore(ok.snapshot.id, join(dir, 'out'));
    expect((await readFile(join(dir, 'out', 'db'))).equals(data)).toBe(true);
  });

  it('a failed backup ends without waiting for hung uploads, and none that lands later comes back into the index', async () => {
    const data = randomBytes(10 * MiB);
    const uploads = gate();
    let started = 0;
    let stored = 0;
    const slow = new HookedBlobStore(store, {
      async beforePut(key) {
        if (!key.startsWith('data/')) return;
        started++;
        await uploads.opened; // a slow network: the uploads outlast the source
      },
      afterPut: (key) => {
        if (key.startsWith('data/')) stored++;
      },
    });
    const service = await BackupService.open(slow);
    service.repository.packSize = 256 * 1024;
    const failing = service.backup([
      streamSource('db', async function* () {
        yield data;
        await until(() => started > 0);
        throw new Error('source died');
      }),
    ]);
    // The uploads hang until the backup has ended; then they land, after it.
    await expect(failing).rejects.toThrow('source died');
    uploads.open();
    await until(() => stored === started);

    await service.prune(); // deletes the failed backup's packs: no snapshot names them
    const ok = await service.backup([
      streamSource('db', async function* () {
        yield data;
      }),
    ]);
    const fresh = await BackupService.open(store);
    expect(await fresh.verify({ readData: true })).toMatchObject({ ok: true, snapshots: 1 });
    await fresh.restore(ok.snapshot.id, join(dir, 'out'));
    expect((await readFile(join(dir, 'out', 'db'))).equals(data)).toBe(true);
  });
});
