import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupService, pathSource } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./fixtures/backup-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const chunker = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, seed: 3 };

function run(args: string[]): Promise<NodeJS.Signals | null> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  return new Promise((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
}

describe('a backup killed mid-way', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-backup-crash-'));
    await mkdir(join(dir, 'site'));
    for (let i = 0; i < 6; i++)
      await writeFile(join(dir, 'site', `rec-${i}.bin`), randomBytes(700_000));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves the repository consistent, and the next backup reuses what it wrote', async () => {
    const store = new LocalBlobStore({ root: join(dir, 'repo') });
    await BackupService.init(store, { chunker });
    expect(await run([join(dir, 'repo'), join(dir, 'site'), '3'])).toBe('SIGKILL');

    const backup = await BackupService.open(store);
    const after = await backup.verify({ readData: true });
    expect(after).toMatchObject({ ok: true, snapshots: 0 });
    // Written, named by no index, harmless. Two packs are stored at once, so the one beside
    // the third may have landed before the kill.
    expect([3, 4]).toContain(after.unindexedPacks);

    const report = await backup.backup([pathSource(join(dir, 'site'), { name: 'site' })]);
    expect(report.adoptedPacks).toBe(after.unindexedPacks);
    expect(report.newBytes).toBeLessThan(report.bytes); // the killed run's chunks were reused
    const verified = await backup.verify({ readData: true });
    expect(verified).toMatchObject({ ok: true, snapshots: 1, unindexedPacks: 0 });

    await backup.restore('latest', join(dir, 'restored'));
    for (let i = 0; i < 6; i++) {
      const [a, b] = await Promise.all([
        readFile(join(dir, 'site', `rec-${i}.bin`)),
        readFile(join(dir, 'restored', 'site', `rec-${i}.bin`)),
      ]);
      expect(b.equals(a)).toBe(true);
    }
    await store.close();
  }, 60_000);
});
