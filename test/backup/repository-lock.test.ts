import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from 'salama';
import { BackupService, type BackupSource, streamSource } from 'salama/backup';
import { LocalBlobStore } from 'salama/blob';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookedBlobStore, injected503 } from '../support/blob-hooks.js';
import { until } from '../support/until.js';

const chunker = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024, seed: 7 };

/** A source that yields `bytes`, then waits for `release()`. */
function pausedSource(name: string, bytes: number) {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const state = { paused: false, release };
  const source = streamSource(name, async function* () {
    yield randomBytes(bytes);
    state.paused = true;
    await gate;
  });
  return { source, state };
}

async function lockKeys(store: LocalBlobStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list({ prefix: 'locks/' })) keys.push(info.key);
  return keys;
}

describe('repository locks', () => {
  let dir: string;
  let store: LocalBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-backup-lock-'));
    store = new LocalBlobStore({ root: join(dir, 'repo'), fsync: false });
    await BackupService.init(store, { chunker });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a store error reading a live lock fails the prune and leaves that lock alone', async () => {
    const writer = await BackupService.open(store);
    const { source, state } = pausedSource('db', 2 * 1024 * 1024);
    const running = writer.backup([source]);
    await until(() => state.paused);
    const held = await lockKeys(store);
    expect(held).toHaveLength(1);

    let lockReads = 0;
    const flaky = new HookedBlobStore(store, {
      beforeGet: (key) => {
        if (key.startsWith('locks/') && ++lockReads === 1) throw injected503('get', key); // once
      },
    });
    const pruner = await BackupService.open(flaky);
    await expect(pruner.prune()).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    expect(await lockKeys(store)).toEqual(held); // the backup's lock, and not the prune's
    await expect(pruner.prune()).rejects.toMatchObject({ code: 'E_LOCKED' });

    state.release();
    const done = await running;
    await writer.restore(done.snapshot.id, join(dir, 'out'));
    expect((await pruner.verify({ readData: true })).ok).toBe(true);
  });

  it('an unparseable lock blocks until it is older than staleMs, then is removed', async () => {
    await store.put('locks/half-written', new TextEncoder().encode('{"host":'));
    await expect((await BackupService.open(store)).prune()).rejects.toMatchObject({
      code: 'E_LOCKED',
    });
    expect(await lockKeys(store)).toEqual(['locks/half-written']);

    const lockTiming = { refreshMs: 1000, staleMs: 60_000 };
    const later = new ManualClock(Date.now() + lockTiming.staleMs + 1000);
    const service = await BackupService.open(store, { lockTiming, clock: later });
    await expect(service.prune()).resolves.toMatchObject({ dryRun: false });
    expect(await lockKeys(store)).toEqual([]);
  });

  it('a backup that cannot refresh its lock stops before its lock goes stale', async () => {
    const lockTiming = { refreshMs: 1000, staleMs: 5000 };
    const clock = new ManualClock(Date.now());
    let lockWrites = 0;
    let failures = 0;
    const flaky = new HookedBlobStore(store, {
      beforePut: (key) => {
        if (!key.startsWith('locks/') || ++lockWrites === 1) return;
        failures++; // the network flaps: every lock write after the first fails
        throw injected503('put', key);
      },
    });
    const writer = await BackupService.open(flaky, { lockTiming, clock });
    writer.repository.packSize = 256 * 1024;
    const { source, state } = pausedSource('db', 3 * 1024 * 1024);
    const running = writer.backup([source]);
    running.catch(() => {});
    await until(() => state.paused);

    await clock.advanceAsync(lockTiming.staleMs + 1);
    expect(failures).toBe(5);
    // Another process now sees the lock as stale, takes the repository and prunes.
    const pruner = await BackupService.open(store, { lockTiming, clock });
    await pruner.prune();

    state.release();
    await expect(running).rejects.toMatchObject({ code: 'E_LOCKED' });
    expect(await writer.snapshots()).toEqual([]);
    expect((await pruner.verify()).ok).toBe(true);
  });

  it('a backup whose lock refresh hangs stops before its lock goes stale, and still ends', async () => {
    const lockTiming = { refreshMs: 1000, staleMs: 5000 };
    const clock = new ManualClock(Date.now());
    let lockWrites = 0;
    const hanging = new HookedBlobStore(store, {
      beforePut: (key) =>
        key.startsWith('locks/') && ++lockWrites > 1 ? new Promise<void>(() => {}) : undefined,
    });
    const writer = await BackupService.open(hanging, { lockTiming, clock });
    writer.repository.packSize = 256 * 1024;
    const { source, state } = pausedSource('db', 3 * 1024 * 1024);
    const running = writer.backup([source]);
    running.catch(() => {});
    await until(() => state.paused);

    // The refresh at 1 s never answers, nor does the new try at 3 s; at 4.5 s the next could
    // not land before 5 s.
    await clock.advanceAsync(4500);
    expect(lockWrites).toBe(3);
    let settled = false;
    void running
      .catch(() => {})
      .finally(() => {
        settled = true;
      });
    state.release();
    // release() waits up to refreshMs for the hung write: move time on until the backup ends.
    for (let i = 0; i < 200 && !settled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await clock.advanceAsync(50);
    }
    await expect(running).rejects.toMatchObject({
      code: 'E_LOCKED',
      context: { sinceRefreshMs: 4500 }, // stopped at once, not when the lock went stale
    });
    expect(await writer.snapshots()).toEqual([]);
  });

  it('a backup whose one lock refresh was lost tries again and runs on', async () => {
    const lockTiming = { refreshMs: 1000, staleMs: 5000 };
    const clock = new ManualClock(Date.now());
    let lockWrites = 0;
    let lockWritten = 0;
    const lossy = new HookedBlobStore(store, {
      beforePut: (key) =>
        key.startsWith('locks/') && ++lockWrites === 2 ? new Promise<void>(() => {}) : undefined,
      afterPut: (key) => {
        if (key.startsWith('locks/')) lockWritten++;
      },
    });
    const writer = await BackupService.open(lossy, { lockTiming, clock });
    writer.repository.packSize = 256 * 1024;
    const { source, state } = pausedSource('db', 3 * 1024 * 1024);
    const running = writer.backup([source]);
    await until(() => state.paused);
    // The refresh at 1 s is lost; the one at 3 s lands. At 4.5 s the lock is 1.5 s old.
    await clock.advanceAsync(3000);
    await until(() => lockWritten === 2); // the first lock, and the try at 3 s
    await clock.advanceAsync(1500);
    expect(lockWrites).toBe(4);
    state.release();
    await expect(running).resolves.toMatchObject({ snapshot: expect.any(Object) });
  });

  it('a backup whose lock refreshes all succeed runs on, however long refreshMs is', async () => {
    const MIN = 60_000;
    const lockTiming = { refreshMs: 20 * MIN, staleMs: 30 * MIN };
    const clock = new ManualClock(Date.now());
    let lockWrites = 0;
    let lockWritten = 0;
    const counting = new HookedBlobStore(store, {
      beforePut: (key) => {
        if (key.startsWith('locks/')) lockWrites++;
      },
      afterPut: (key) => {
        if (key.startsWith('locks/')) lockWritten++;
      },
    });
    const writer = await BackupService.open(counting, { lockTiming, clock });
    // Entries that take 11 min each to read (a slow disk, a big table): more than
    // staleMs - refreshMs passes between two refreshes, and each refresh succeeds.
    const slow: BackupSource = {
      name: 'slow',
      async *entries() {
        for (let i = 0; i < 4; i++) {
          yield {
            path: `f${i}`,
            type: 'stream',
            async *open() {
              yield new TextEncoder().encode(`file ${i}`);
            },
          };
          await clock.advanceAsync(11 * MIN);
          await until(() => lockWritten === lockWrites); // a refresh due meanwhile lands
        }
      },
    };
    const report = await writer.backup([slow]);
    expect(report.files).toBe(4);
    expect(lockWrites).toBe(3); // taken at 0, refreshed at 20 and 40 min
    expect(await lockKeys(store)).toEqual([]);
  });
});
