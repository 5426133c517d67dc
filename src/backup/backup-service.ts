/**
 * `BackupService`: deduplicated, compressed, optionally encrypted snapshots of directories,
 * databases and streams in a {@link BlobStore}, with restore, verify, forget and prune.
 *
 * A backup reads each source entry, cuts it into content-defined chunks (`chunker.ts`),
 * stores the chunks the repository does not have yet in packs, then writes an index and the
 * snapshot. A file whose size, mode and modification time match the parent snapshot (the
 * latest one of the same host and sources) is not read again: its chunk list is reused.
 */
import { hostname } from 'node:os';
import type { BlobStore } from '../blob/blob-store.js';
import { InvalidArgumentError, InvalidOptionsError } from '../core/errors.js';
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
import { DEFAULT_LOCK_TIMING, type LockTiming, lockRepository } from './repository-lock.js';
import { type RestoreOptions, type RestoreReport, restoreSnapshot } from './restore.js';
import type { SnapshotManifest, TreeEntry } from './snapshot.js';
import { type BackupSource, checkSourceName } from './sources.js';
import { type VerifyOptions, type VerifyReport, verifyRepository } from './verify.js';

/** Progress of a backup, after each entry and each pack. */
export interface BackupProgress {
  readonly files: number;
  readonly bytes: number;
  readonly newBytes: number;
  /** Bytes read per second since the start. */
  readonly bytesPerSecond: number;
  readonly path: string;
}

export interface BackupOptions {
  readonly tags?: readonly string[];
  /** @default os.hostname() */
  readonly host?: string;
  /** Reuse unchanged files of this snapshot; `'auto'` picks the latest of the same host and sources; `false` reads everything. @default 'auto' */
  readonly parent?: string | 'auto' | false;
  readonly onProgress?: (progress: BackupProgress) => void;
  readonly signal?: AbortSignal;
}

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

export interface BackupServiceOptions {
  /** Passphrase of an encrypted repository. */
  readonly passphrase?: string;
  /** Lock refresh and staleness. */
  readonly lockTiming?: LockTiming;
}

export class BackupService {
  readonly repository: Repository;
  readonly #lockTiming: LockTiming;

  private constructor(repository: Repository, options: BackupServiceOptions) {
    this.repository = repository;
    this.#lockTiming = options.lockTiming ?? DEFAULT_LOCK_TIMING;
  }

  /** Creates a repository in an empty store (`E_CONFLICT` if one exists) and opens it. */
  static async init(
    store: BlobStore,
    options: InitOptions & BackupServiceOptions = {},
  ): Promise<BackupService> {
    return new BackupService(await Repository.init(store, options), options);
  }

  /** Opens a repository; `E_NOT_FOUND` without one, `E_BAD_KEY` for a wrong passphrase. */
  static async open(store: BlobStore, options: BackupServiceOptions = {}): Promise<BackupService> {
    return new BackupService(await Repository.open(store, options.passphrase), options);
  }

  /** Backs up `sources` into a new snapshot. */
  async backup(
    sources: readonly BackupSource[],
    options: BackupOptions = {},
  ): Promise<BackupReport> {
    if (sources.length === 0)
      throw new InvalidArgumentError(
        'BackupService.backup(): expected at least one source, received none',
      );
    const names = sources.map((s) => s.name);
    for (const name of names) checkSourceName(name);
    if (new Set(names).size !== names.length)
      throw new InvalidArgumentError(
        `BackupService.backup(): expected unique source names, received ${names.join(', ')}`,
      );
    const started = Date.now();
    const repo = this.repository;
    const lock = await lockRepository(repo.store, 'backup', false, this.#lockTiming);
    try {
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
          bytesPerSecond: totals.bytes / Math.max(0.001, (Date.now() - started) / 1000),
          path,
        });
      for (const source of [...sources].sort((a, b) => a.name.localeCompare(b.name))) {
        for await (const entry of source.entries()) {
          options.signal?.throwIfAborted();
          const path = entry.path === '' ? source.name : `${source.name}/${entry.path}`;
          const meta = { path, type: entry.type, mode: entry.mode, mtimeMs: entry.mtimeMs };
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
            before.chunks.every((id) => repo.has(id))
          ) {
            tree.push({ ...meta, size: before.size, chunks: before.chunks });
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
          tree.push({ ...meta, size, chunks });
          progress(path);
        }
      }
      await repo.flush();
      const durationMs = Date.now() - started;
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
        dedupRatio:
          totals.newBytes === 0 ? Number.POSITIVE_INFINITY : totals.bytes / totals.newBytes,
        unchangedFiles: totals.unchanged,
        adoptedPacks: adopted.length,
        durationMs,
      };
    } finally {
      await repo.close();
      await lock.release();
    }
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
    return this.#locked('restore', false, async () => {
      await this.repository.loadIndex();
      const snapshot = await this.resolveSnapshot(id);
      return restoreSnapshot(this.repository, snapshot, target, options);
    });
  }

  /** Checks the repository; `readData` reads and checks packs (all, or a fraction). */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return this.#locked('verify', false, () => verifyRepository(this.repository, options));
  }

  /** Removes snapshots the policy does not keep (restic's `forget`); data stays until `prune`. */
  async forget(policy: ForgetPolicy, options: ForgetOptions = {}): Promise<ForgetReport> {
    return this.#locked('forget', true, () => forgetSnapshots(this.repository, policy, options));
  }

  /** Deletes data no snapshot refers to and repacks mostly-unused packs. */
  async prune(options: PruneOptions = {}): Promise<PruneReport> {
    return this.#locked('prune', true, () => pruneRepository(this.repository, options));
  }

  /** Runs `work` holding a repository lock (shared or exclusive) named for `operation`. */
  async #locked<T>(operation: string, exclusive: boolean, work: () => Promise<T>): Promise<T> {
    const lock = await lockRepository(
      this.repository.store,
      operation,
      exclusive,
      this.#lockTiming,
    );
    try {
      return await work();
    } finally {
      await lock.release();
    }
  }

  /** A snapshot by id, unique id prefix (8+ characters) or `'latest'`. */
  async resolveSnapshot(id: string): Promise<SnapshotManifest> {
    if (id === 'latest') {
      const latest = (await this.repository.snapshots()).at(-1);
      if (!latest)
        throw new InvalidOptionsError(
          `No snapshot in ${this.repository.store.location} to restore`,
        );
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
