import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupService, pathSource, streamSource } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const MiB = 1024 * 1024;
const small = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, seed: 7 };

/** A small site: configs (JSON), recordings (random bytes), a nested model file. */
async function makeSite(root: string) {
  await mkdir(join(root, 'config'), { recursive: true });
  await mkdir(join(root, 'recordings', 'cam-1'), { recursive: true });
  await mkdir(join(root, 'models'), { recursive: true });
  for (let i = 0; i < 5; i++)
    await writeFile(
      join(root, 'config', `camera-${i}.json`),
      JSON.stringify({
        id: i,
        zones: Array.from({ length: 200 }, (_, z) => ({ z, threshold: 0.5 })),
      }),
    );
  for (let i = 0; i < 3; i++)
    await writeFile(join(root, 'recordings', 'cam-1', `${i}.mp4`), randomBytes(MiB + i * 1000));
  await writeFile(join(root, 'models', 'plate.onnx'), randomBytes(600_000));
  await writeFile(join(root, 'recordings', 'cam-1', 'tmp.part'), 'partial');
}

async function filesOf(root: string, paths: string[]) {
  return Promise.all(paths.map((p) => readFile(join(root, p))));
}

describe('BackupService on a local directory', () => {
  let dir: string;
  let store: LocalBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-backup-'));
    store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    await makeSite(join(dir, 'site'));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up, restores byte-identical with modes and times, and dedups the second backup', async () => {
    const backup = await BackupService.init(store, { passphrase: 'correct horse', chunker: small });
    const source = pathSource(join(dir, 'site'), { name: 'site', exclude: ['**/*.part'] });
    const first = await backup.backup([source], { tags: ['nightly'] });
    expect(first.files).toBe(9);
    expect(first.newBytes).toBe(first.bytes);
    expect(first.snapshot.tree.some((e) => e.path.endsWith('.part'))).toBe(false);

    // Change one recording; the rest is reused without being read.
    const changed = join(dir, 'site', 'recordings', 'cam-1', '1.mp4');
    const bytes = await readFile(changed);
    bytes.fill(7, 500_000, 500_100);
    await writeFile(changed, bytes);
    const second = await backup.backup([source]);
    expect(second.unchangedFiles).toBe(8);
    expect(second.snapshot.parent).toBe(first.snapshot.id);
    expect(second.newBytes).toBeGreaterThan(0);
    expect(second.newBytes).toBeLessThan(300 * 1024); // the chunks around the edit, not the file
    expect(second.dedupRatio).toBeGreaterThan(10);

    const target = join(dir, 'restored');
    const report = await backup.restore('latest', target);
    expect(report.files).toBe(9);
    const paths = ['config/camera-3.json', 'recordings/cam-1/1.mp4', 'models/plate.onnx'];
    const original = await filesOf(join(dir, 'site'), paths);
    const restored = await filesOf(join(target, 'site'), paths);
    for (const [i, b] of restored.entries()) expect(b.equals(original[i] as Buffer)).toBe(true);
    const [a, b] = await Promise.all([
      stat(changed),
      stat(join(target, 'site', 'recordings', 'cam-1', '1.mp4')),
    ]);
    expect(b.mode).toBe(a.mode);
    expect(Math.round(b.mtimeMs)).toBe(Math.round(a.mtimeMs));

    // The first snapshot still restores the old content.
    await backup.restore(first.snapshot.id.slice(0, 12), join(dir, 'old'));
    expect(
      (await readFile(join(dir, 'old', 'site', 'recordings', 'cam-1', '1.mp4'))).equals(bytes),
    ).toBe(false);
  });

  it('refuses to overwrite a target unless asked', async () => {
    const backup = await BackupService.init(store, { chunker: small });
    await backup.backup([pathSource(join(dir, 'site'), { name: 'site' })]);
    const target = join(dir, 'restored');
    await backup.restore('latest', target);
    await writeFile(join(target, 'site', 'config', 'camera-0.json'), 'local edit');
    await expect(backup.restore('latest', target)).rejects.toMatchObject({ code: 'E_CONFLICT' });
    expect(await readFile(join(target, 'site', 'config', 'camera-0.json'), 'utf8')).toBe(
      'local edit',
    );
    await backup.restore('latest', target, { overwrite: true });
    expect(await readFile(join(target, 'site', 'config', 'camera-0.json'), 'utf8')).toContain(
      'threshold',
    );
  });

  it('a wrong passphrase is E_BAD_KEY; the repository stays usable', async () => {
    await BackupService.init(store, { passphrase: 'right', chunker: small });
    await expect(BackupService.open(store, { passphrase: 'wrong' })).rejects.toMatchObject({
      code: 'E_BAD_KEY',
    });
    await expect(BackupService.open(store)).rejects.toMatchObject({ code: 'E_BAD_KEY' });
    const backup = await BackupService.open(store, { passphrase: 'right' });
    expect(await backup.snapshots()).toEqual([]);
    await expect(BackupService.init(store, { passphrase: 'x' })).rejects.toMatchObject({
      code: 'E_CONFLICT',
    });
  });

  it('stores encrypted data: no plaintext of the sources appears in the repository', async () => {
    const backup = await BackupService.init(store, { passphrase: 'secret', chunker: small });
    await backup.backup([
      streamSource('notes', async function* () {
        yield new TextEncoder().encode('licence plate AB-123-CD seen at gate 4\n'.repeat(1000));
      }),
    ]);
    for await (const info of store.list()) {
      const content = Buffer.from(await store.get(info.key)).toString('latin1');
      expect(content).not.toContain('AB-123-CD');
    }
  });

  it('finds a flipped byte in a pack, an index or a snapshot with verify and restore', async () => {
    const backup = await BackupService.init(store, { chunker: small });
    await backup.backup([pathSource(join(dir, 'site'), { name: 'site' })]);
    expect((await backup.verify({ readData: true })).ok).toBe(true);
    const keys: string[] = [];
    for await (const info of store.list()) keys.push(info.key);
    const flip = async (key: string, at: number) => {
      const bytes = Buffer.from(await store.get(key));
      const i = at % bytes.length;
      bytes.writeUInt8(bytes.readUInt8(i) ^ 0x40, i);
      await store.put(key, bytes);
      return async () => {
        bytes.writeUInt8(bytes.readUInt8(i) ^ 0x40, i);
        await store.put(key, bytes);
      };
    };
    for (const prefix of ['data/', 'index/', 'snapshots/']) {
      const key = keys.find((k) => k.startsWith(prefix)) as string;
      const undo = await flip(key, 1000);
      const report = await backup.verify({ readData: true });
      expect(report.ok).toBe(false);
      expect(report.problems[0]?.error.code).toBe('E_INTEGRITY');
      expect(report.problems[0]?.error.message).toContain(key.split('/').at(-1)?.slice(0, 10));
      if (prefix !== 'index/')
        await expect(
          backup.restore('latest', join(dir, `r-${prefix.slice(0, -1)}`)),
        ).rejects.toMatchObject({
          code: 'E_INTEGRITY',
        });
      await undo();
    }
    expect((await backup.verify({ readData: true })).ok).toBe(true);
  });

  it('forgets by restic policy and prunes what no snapshot needs', async () => {
    const backup = await BackupService.init(store, { chunker: small });
    const site = join(dir, 'site');
    const source = pathSource(site, { name: 'site' });
    for (let i = 0; i < 4; i++) {
      await writeFile(join(site, 'recordings', 'cam-1', `new-${i}.mp4`), randomBytes(300_000));
      const t = new Date(Date.now() + i * 1000);
      await utimes(join(site, 'recordings', 'cam-1', `new-${i}.mp4`), t, t);
      await backup.backup([source]);
    }
    await expect(backup.forget({})).rejects.toMatchObject({ code: 'E_INVALID_OPTIONS' });
    const dry = await backup.forget({ keepLast: 1 }, { dryRun: true });
    expect(dry.removed).toHaveLength(3);
    expect(await backup.snapshots()).toHaveLength(4);
    await rm(join(site, 'recordings'), { recursive: true });
    await backup.backup([source]);
    const forgot = await backup.forget({ keepLast: 1 });
    expect(forgot.kept).toHaveLength(1);
    expect(await backup.snapshots()).toHaveLength(1);
    const pruned = await backup.prune();
    expect(pruned.packsDeleted + pruned.packsRepacked).toBeGreaterThan(0);
    expect(pruned.bytesFreed).toBeGreaterThan(3 * MiB);
    const verified = await backup.verify({ readData: true });
    expect(verified).toMatchObject({ ok: true, unindexedPacks: 0 });
    await backup.restore('latest', join(dir, 'after-prune'));
    expect((await readFile(join(dir, 'after-prune', 'site', 'models', 'plate.onnx'))).length).toBe(
      600_000,
    );
  });

  it('an exclusive lock keeps a prune out while a backup holds the repository; one service waits', async () => {
    const backup = await BackupService.init(store, { chunker: small });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started: () => void = () => {};
    const running = new Promise<void>((r) => {
      started = r;
    });
    const slow = streamSource('slow', async function* () {
      started();
      await gate;
      yield new Uint8Array(10);
    });
    const pending = backup.backup([slow]);
    await running;
    const elsewhere = await BackupService.open(store); // another process
    await expect(elsewhere.prune()).rejects.toMatchObject({ code: 'E_LOCKED' });
    const queued = backup.prune(); // the same service waits for its backup
    release();
    await pending;
    await expect(queued).resolves.toMatchObject({ dryRun: false });
    await expect(elsewhere.prune()).resolves.toMatchObject({ dryRun: false });
  });

  it('refuses bad input with what was expected', async () => {
    const backup = await BackupService.init(store, { chunker: small });
    await expect(backup.backup([])).rejects.toThrow(/expected at least one source/);
    expect(() => pathSource('/tmp', { name: '../x' })).toThrow(/expected 1–100 letters/);
    const a = streamSource('a', async function* () {});
    await expect(backup.backup([a, a])).rejects.toThrow(/expected unique source names/);
    await expect(backup.restore('latest', join(dir, 'x'))).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
    });
    await expect(backup.restore('0123456789abcdef', join(dir, 'x'))).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
    });
    await expect(
      BackupService.open(new LocalBlobStore({ root: join(dir, 'empty') })),
    ).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
    });
  });
});
