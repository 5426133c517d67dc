/**
 * `BackupService`: deduplicated, compressed, optionally encrypted snapshots of directories,
 * databases and streams in a {@link BlobStore}, with restore, verify, forget and prune.
 *
 * A backup reads each source entry, cuts it into content-defined chunks (`chunker.ts`),
 * stores the chunks the repository does not have yet in packs, then writes an index and the
 * snapshot. A file whose size, mode, modification and change times and inode match the parent
 * snapshot (the latest one of the same host and sources) is not read again: its chunk list is
 * reused, as restic does.
 *
 * One service runs one operation at a time: they share the repository's in-memory index and
 * pack writer, so a second `backup()` (or a restore, verify, forget, prune) started while one
 * runs waits for it. Separate processes and services work side by side under the locks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostname } from 'node:os';
import type { BlobStore } from '../blob/blob-store.js';
import { type Clock, systemClock } from '../core/clock.js';
import {
  ConflictError,
  describeValue,
  InvalidArgumentError,
  NotFoundError,
} from '../core/errors.js';
import {
  type BackupOptions,
  type BackupProgress,
  type BackupServiceOptions,
  checkOptions,
} from './backup-options.js';
import { chunkStream } from './chunker.js';
import { chunkId } from './crypto.js';
import { FileChunker } from './file-chunker.js';
import type { ForgetPolicy } from './forget-policy.js';
import {
  type ForgetOptions,
  type ForgetReport,
  forgetSnapshots,
  type PruneOptions,
  type PruneReport,
  pruneRepository,
} from './prune.js';
import { Repository } from './repository.js';
import type { InitOptions } from './repository-config.js';
import {
  DEFAULT_LOCK_TIMING,
  type LockTiming,
  lockRepository,
  type RepositoryLock,
} from './repository-lock.js';
import { type RestoreOptions, type RestoreReport, restoreSnapshot } from './restore.js';
import type { SnapshotManifest, TreeEntry } from './snapshot.js';
import { type BackupSource, checkSourceName } from './sources.js';
import { type VerifyOptions, type VerifyReport, verifyRepository } from './verify.js';

export type { BackupOptions, BackupProgress, BackupServiceOptions };

/** What a backup did. */
export interface BackupReport {
  readonly snapshot: SnapshotManifest;
  readonly files: number;
  readonly bytes: number;
  /** Bytes of chunks this backup stored (before compression). */
  readonly newBytes: number;
  /** `bytes / newBytes`: how much deduplication saved (Infinity when nothing was new). */
  readonly dedupRatio: number;
  /** Files reused from the parent without reading them. */
  readonly unchangedFiles: number;
  /** Packs of a killed earlier backup that were indexed and reused. */
  readonly adoptedPacks: number;
  readonly durationMs: number;
}

export class BackupService {
  readonly repository: Repository;
  readonly #lockTiming: LockTiming;
  readonly #clock: Clock;
  /** Settles when the last operation started on this service has. */
  #tail: Promise<unknown> = Promise.resolve();
  /** The operation whose work is running in this async context, to refuse calls nested in it. */
  readonly #running = new AsyncLocalStorage<{ operation: string; done: boolean }>();

  private constructor(repository: Repository, options: BackupServiceOptions) {
    this.repository = repository;
    this.#lockTiming = options.lockTiming ?? DEFAULT_LOCK_TIMING;
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates a repository in an empty store (`E_CONFLICT` if one exists) and opens it. */
  static async init(
    store: BlobStore,
    options: InitOptions & BackupServiceOptions = {},
  ): Promise<BackupService> {
    checkOptions('init', options);
    return new BackupService(await Repository.init(store, options), options);
  }

  /** Opens a repository; `E_NOT_FOUND` without one, `E_BAD_KEY` for a wrong passphrase or for a passphrase given to an unencrypted one. */
  static async open(store: BlobStore, options: BackupServiceOptions = {}): Promise<BackupService> {
    checkOptions('open', options);
    return new BackupService(await Repository.open(store, options.passphrase), options);
  }

  /** Backs up `sources` into a new snapshot; waits for the operation running on this service. */
  async backup(
    sources: readonly BackupSource[],
    options: BackupOptions = {},
  ): Promise<BackupReport> {
    checkOptions('backup', options);
    if (!Array.isArray(sources) || sources.length === 0)
      throw new InvalidArgumentError(
        'BackupService.backup(): expected at least one source, received none',
      );
    const names = sources.map((s) => s.name);
    for (const name of names) checkSourceName(name);
    if (new Set(names).size !== names.length)
      throw new InvalidArgumentError(
        `BackupService.backup(): expected unique source names, received ${names.join(', ')}`,
      );
    return this.#locked('backup', false, async (lock) => {
      try {
        return await this.#backup(sources, names, options, lock);
      } finally {
        await this.repository.close();
      }
    });
  }

  async #backup(
    sources: readonly BackupSource[],
    names: readonly string[],
    options: BackupOptions,
    lock: RepositoryLock,
  ): Promise<BackupReport> {
    const clock = this.#clock;
    const started = clock.now();
    const repo = this.repository;
    await repo.loadIndex();
    const adopted = await repo.adoptUnindexedPacks();
    const host = options.host ?? hostname();
    const parent = await this.#parent(options.parent ?? 'auto', host, names);
    const previous = new Map(parent?.tree.map((e) => [e.path, e]) ?? []);
    const tree: TreeEntry[] = [];
    let fileChunker: FileChunker | undefined;
    const totals = {
      files: 0,
      dirs: 0,
      bytes: 0,
      newBytes: 0,
      chunks: 0,
      newChunks: 0,
      unchanged: 0,
    };
    const progress = (path: string) =>
      options.onProgress?.({
        files: totals.files,
        bytes: totals.bytes,
        newBytes: totals.newBytes,
        bytesPerSecond: totals.bytes / Math.max(0.001, (clock.now() - started) / 1000),
        path,
      });
    for (const source of [...sources].sort((a, b) => a.name.localeCompare(b.name))) {
      for await (const entry of source.entries()) {
        options.signal?.throwIfAborted();
        lock.check();
        const path = entry.path === '' ? source.name : `${source.name}/${entry.path}`;
        const meta = { path, type: entry.type, mode: entry.mode, mtimeMs: entry.mtimeMs };
        const identity = { ctimeMs: entry.ctimeMs, inode: entry.inode };
        if (entry.type === 'dir' || !entry.open) {
          totals.dirs++;
          tree.push(meta);
          continue;
        }
        totals.files++;
        const before = previous.get(path);
        if (
          entry.type === 'file' &&
          before?.chunks &&
          before.size === entry.size &&
          before.mtimeMs === entry.mtimeMs &&
          before.mode === entry.mode &&
          entry.ctimeMs !== undefined &&
          before.ctimeMs === entry.ctimeMs &&
          before.inode === entry.inode &&
          before.chunks.every((id) => repo.has(id))
        ) {
          tree.push({ ...meta, ...identity, size: before.size, chunks: before.chunks });
          totals.bytes += before.size ?? 0;
          totals.chunks += before.chunks.length;
          totals.unchanged++;
          progress(path);
          continue;
        }
        const chunks: string[] = [];
        let size = 0;
        if (entry.file) fileChunker ??= new FileChunker(repo.config.chunker);
        const content =
          entry.file && fileChunker
            ? fileChunker.chunks(entry.file)
            : chunkStream(entry.open(), repo.config.chunker);
        for await (const chunk of content) {
          const id = chunkId(chunk);
          chunks.push(id);
          size += chunk.byteLength;
          totals.chunks++;
          if (await repo.addChunk(id, chunk)) {
            totals.newChunks++;
            totals.newBytes += chunk.byteLength;
          }
        }
        totals.bytes += size;
        tree.push({ ...meta, ...identity, size, chunks });
        progress(path);
      }
    }
    lock.check();
    await repo.flush();
    const durationMs = clock.now() - started;
    lock.check();
    const snapshot = await repo.saveSnapshot({
      time: new Date(started).toISOString(),
      host,
      tags: [...(options.tags ?? [])].sort(),
      sources: [...names].sort(),
      ...(parent ? { parent: parent.id } : {}),
      tree,
      summary: {
        files: totals.files,
        dirs: totals.dirs,
        bytes: totals.bytes,
        newBytes: totals.newBytes,
        chunks: totals.chunks,
        newChunks: totals.newChunks,
        durationMs,
      },
    });
    return {
      snapshot,
      files: totals.files,
      bytes: totals.bytes,
      newBytes: totals.newBytes,
      dedupRatio: totals.newBytes === 0 ? Number.POSITIVE_INFINITY : totals.bytes / totals.newBytes,
      unchangedFiles: totals.unchanged,
      adoptedPacks: adopted.length,
      durationMs,
    };
  }

  async #parent(parent: string | 'auto' | false, host: string, names: readonly string[]) {
    if (parent === false) return undefined;
    if (parent !== 'auto') return this.repository.loadSnapshot(parent);
    const key = [...names].sort().join('\u0000');
    const candidates = (await this.repository.snapshots()).filter(
      (s) => s.host === host && s.sources.join('\u0000') === key,
    );
    return candidates.at(-1);
  }

  /** Every snapshot, oldest first. */
  snapshots(): Promise<SnapshotManifest[]> {
    return this.repository.snapshots();
  }

  /** Restores a snapshot (or `'latest'`) into `target`; see {@link RestoreOptions}. */
  async restore(
    id: string | 'latest',
    target: string,
    options: RestoreOptions = {},
  ): Promise<RestoreReport> {
    checkOptions('restore', options);
    if (typeof target !== 'string' || target === '')
      throw new InvalidArgumentError(
        `BackupService.restore(): expected a target directory path, received ${describeValue(target)}`,
        { context: { target } },
      );
    return this.readSnapshot(id, (snapshot) =>
      restoreSnapshot(this.repository, snapshot, target, options),
    );
  }

  /**
   * Runs `read` on a snapshot (id, unique prefix or `'latest'`) with the index loaded, as
   * {@link restore} does: after the operations started on this service and under a shared
   * lock, so no forget or prune deletes the packs it reads. For readers such as
   * `restoreDatabase`. An operation of this service called from inside `read` (or from inside
   * any other operation) is `E_CONFLICT`: it would wait for the one it runs in.
   */
  readSnapshot<T>(
    id: string | 'latest',
    read: (snapshot: SnapshotManifest) => Promise<T>,
  ): Promise<T> {
    return this.#locked('restore', false, async () => {
      await this.repository.loadIndex();
      return read(await this.resolveSnapshot(id));
    });
  }

  /** Checks the repository; `readData` reads and checks packs (all, or a fraction). */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    checkOptions('verify', options);
    return this.#locked('verify', false, () => verifyRepository(this.repository, options));
  }

  /**
   * Removes snapshots the policy does not keep (restic's `forget`); data stays until `prune`.
   * `keepWithin` counts back from the latest snapshot not after the clock's now.
   */
  async forget(policy: ForgetPolicy, options: ForgetOptions = {}): Promise<ForgetReport> {
    checkOptions('forget', options);
    return this.#locked('forget', true, (lock) =>
      forgetSnapshots(this.repository, policy, options, { lock, now: this.#clock.now() }),
    );
  }

  /** Deletes data no snapshot refers to and repacks mostly-unused packs. */
  async prune(options: PruneOptions = {}): Promise<PruneReport> {
    checkOptions('prune', options);
    return this.#locked('prune', true, (lock) => pruneRepository(this.repository, options, lock));
  }

  /**
   * Runs `work` once every operation started on this service before has settled, holding a
   * repository lock (shared or exclusive) named for `operation`.
   */
  #locked<T>(
    operation: string,
    exclusive: boolean,
    work: (lock: RepositoryLock) => Promise<T>,
  ): Promise<T> {
    // Queued behind the operation now running, a call from inside it would wait forever.
    const inside = this.#running.getStore();
    if (inside !== undefined && !inside.done)
      return Promise.reject(
        new ConflictError(
          `BackupService.${operation}() was called from inside its own ${inside.operation}(); operations on one service run one after another, so call it after that one has finished`,
          { context: { operation, running: inside.operation } },
        ),
      );
    const run = async () => {
      const { store } = this.repository;
      const lock = await lockRepository(store, operation, exclusive, this.#lockTiming, this.#clock);
      // Timers or queues started inside `work` keep this context after it ends: `done` tells
      // their later calls apart from calls made while it runs.
      const running = { operation, done: false };
      try {
        return await this.#running.run(running, () => work(lock));
      } finally {
        running.done = true;
        await lock.release();
      }
    };
    const result = this.#tail.then(run);
    this.#tail = result.catch(() => {});
    return result;
  }

  /** A snapshot by id, unique id prefix (8+ characters) or `'latest'`. */
  async resolveSnapshot(id: string): Promise<SnapshotManifest> {
    if (typeof id !== 'string' || id === '')
      throw new InvalidArgumentError(
        `Expected a snapshot id, id prefix or 'latest', received ${describeValue(id)}`,
        { context: { id } },
      );
    if (id === 'latest') {
      const latest = (await this.repository.snapshots()).at(-1);
      if (!latest)
        throw new NotFoundError(`No snapshot in ${this.repository.store.location}`, {
          context: { location: this.repository.store.location },
        });
      return latest;
    }
    if (id.length < 64) {
      const matches = (await this.repository.snapshotIds()).filter((s) => s.startsWith(id));
      if (matches.length === 1) return this.repository.loadSnapshot(matches[0] as string);
      if (matches.length > 1 || id.length < 8)
        throw new InvalidArgumentError(
          `Snapshot id ${JSON.stringify(id)} is ambiguous: expected a unique prefix of 8+ characters`,
        );
    }
    return this.repository.loadSnapshot(id);
  }
}
