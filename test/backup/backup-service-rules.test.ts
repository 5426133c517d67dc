import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupService, pathSource, streamSource } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const chunker = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, seed: 7 };
const DAY = 86_400_000;
const text = (name: string, s: string) =>
  streamSource(name, async function* () {
    yield new TextEncoder().encode(s);
  });

describe('BackupService rules', () => {
  let dir: string;
  let store: LocalBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-backup-rules-'));
    store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a passphrase for an unencrypted repository is E_BAD_KEY: no silent downgrade', async () => {
    const encrypted = await BackupService.init(store, { passphrase: 'pw', chunker });
    await encrypted.backup([text('plates', 'SECRET-PLATE-AB123')]);
    // Someone with write access to the store swaps in an unencrypted config.
    const plain = {
      format: 'salama-backup',
      version: 1,
      id: 'x',
      encryption: null,
      settings: { chunker, compression: 'off' },
    };
    await store.put('config', new TextEncoder().encode(JSON.stringify(plain)));
    await expect(BackupService.open(store, { passphrase: 'pw' })).rejects.toMatchObject({
      code: 'E_BAD_KEY',
      message: expect.stringContaining('not encrypted'),
    });
  });

  it('an operation called from inside another on the same service is E_CONFLICT, not a hang', async () => {
    const service = await BackupService.init(store, { chunker });
    const { snapshot } = await service.backup([text('db', 'a')]);
    await expect(
      service.readSnapshot(snapshot.id, () => service.restore(snapshot.id, join(dir, 'out'))),
    ).rejects.toMatchObject({ code: 'E_CONFLICT', message: expect.stringContaining('inside') });
    // The service is not left stuck: the next operation runs.
    await service.restore(snapshot.id, join(dir, 'out'));
    expect(await readFile(join(dir, 'out', 'db'), 'utf8')).toBe('a');
    // Work an operation started that calls the service after the operation ended is not nested.
    let later: Promise<unknown> | undefined;
    await service.readSnapshot(snapshot.id, async () => {
      later = new Promise((resolve) => setTimeout(resolve, 10)).then(() => service.verify());
    });
    await expect(later).resolves.toMatchObject({ ok: true });
  });

  it('keepWithin counts back from now, not from a snapshot dated in the future', async () => {
    const service = await BackupService.init(store, { chunker });
    await service.backup([text('db', 'a')], { host: 'cam-1' });
    await service.backup([text('db', 'b')], { host: 'cam-1' });
    // A host whose clock ran 10 days ahead wrote a snapshot of the same group.
    const latest = (await service.snapshots()).at(-1);
    if (!latest) throw new Error('no snapshot');
    const { id: _id, ...manifest } = latest;
    await service.repository.saveSnapshot({
      ...manifest,
      time: new Date(Date.now() + 10 * DAY).toISOString(),
    });
    const report = await service.forget({ keepWithin: '2d' });
    expect(report.removed).toEqual([]);
    expect(report.kept).toHaveLength(3);
  });

  it('reads a file again when its content changed but size and mtime were kept', async () => {
    await mkdir(join(dir, 'site'));
    const file = join(dir, 'site', 'plates.db');
    const mtime = new Date('2024-05-01T10:00:00Z');
    await writeFile(file, 'OLD-CONTENT-0001');
    await utimes(file, mtime, mtime);
    const before = await stat(file);
    const service = await BackupService.init(store, { chunker });
    await service.backup([pathSource(join(dir, 'site'))]);

    await writeFile(file, 'NEW-CONTENT-0002'); // same length, mtime put back (cp -p, rsync -t)
    await utimes(file, mtime, mtime);
    const after = await stat(file);
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);
    expect(after.ctimeMs).not.toBe(before.ctimeMs);
    const report = await service.backup([pathSource(join(dir, 'site'))]);
    expect(report.unchangedFiles).toBe(0);
    await service.restore('latest', join(dir, 'out'));
    expect(await readFile(join(dir, 'out', 'site', 'plates.db'), 'utf8')).toBe('NEW-CONTENT-0002');

    const again = await service.backup([pathSource(join(dir, 'site'))]);
    expect(again.unchangedFiles).toBe(1); // untouched since: reused
  });

  it('refuses bad options and arguments with a code, and stores nothing', async () => {
    const service = await BackupService.init(store, { chunker });
    await expect(service.restore('latest', join(dir, 'out'))).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
    });
    const source = text('s', 'x');
    const tags = 'nightly' as unknown as string[];
    await expect(service.backup([source], { tags })).rejects.toMatchObject({
      code: 'E_INVALID_OPTIONS',
      message: expect.stringContaining('tags: expected array, received string "nightly"'),
    });
    expect(await service.snapshots()).toEqual([]);
    const lots = 'lots' as unknown as number;
    await expect(service.prune({ maxUnusedFraction: lots })).rejects.toMatchObject({
      code: 'E_INVALID_OPTIONS',
    });
    await expect(service.prune({ maxUnusedFraction: 1.5 })).rejects.toMatchObject({
      code: 'E_INVALID_OPTIONS',
    });
    await service.backup([source]);
    const target = 42 as unknown as string;
    await expect(service.restore('latest', target)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await expect(service.restore(42 as unknown as string, join(dir, 'o'))).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    const lockTiming = { refreshMs: 10_000, staleMs: 5_000 };
    await expect(BackupService.open(store, { lockTiming })).rejects.toMatchObject({
      code: 'E_INVALID_OPTIONS',
    });
  });
});
