/**
 * Restoring a snapshot into a directory: `<target>/<source>/<path>` for every entry, streamed
 * chunk by chunk, each chunk checked against its id (a damaged one is `E_INTEGRITY` naming the
 * pack and chunk). Files are written to a temporary name and renamed when complete, with
 * their mode and modification time. Nothing is written when a file to restore already exists,
 * unless `overwrite` is set.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, rename, rm, utimes } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConflictError, InvalidArgumentError } from '../core/errors.js';
import type { Repository } from './repository.js';
import type { SnapshotManifest, TreeEntry } from './snapshot.js';

export interface RestoreOptions {
  /** Replace files that exist in the target. @default false */
  readonly overwrite?: boolean;
  /** Only these sources. @default all */
  readonly sources?: readonly string[];
  readonly onProgress?: (progress: { files: number; bytes: number; path: string }) => void;
}

export interface RestoreReport {
  readonly snapshot: string;
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export async function restoreSnapshot(
  repo: Repository,
  snapshot: SnapshotManifest,
  target: string,
  options: RestoreOptions,
): Promise<RestoreReport> {
  const started = Date.now();
  const root = resolve(target);
  const wanted = options.sources ? new Set(options.sources) : undefined;
  const entries = snapshot.tree.filter(
    (e) => !wanted || wanted.has(e.path.split('/')[0] as string),
  );
  const place = (entry: TreeEntry) => {
    const path = join(root, ...entry.path.split('/'));
    if (path !== root && !path.startsWith(root + sep))
      throw new InvalidArgumentError(
        `Snapshot entry ${JSON.stringify(entry.path)} would restore outside the target`,
      );
    return path;
  };
  if (!options.overwrite) {
    for (const entry of entries) {
      if (entry.type === 'dir') continue;
      const exists = await lstat(place(entry)).then(
        () => true,
        () => false,
      );
      if (exists)
        throw new ConflictError(
          `Restore into ${root} would overwrite ${entry.path}; pass overwrite: true to replace existing files`,
          { context: { path: place(entry) } },
        );
    }
  }
  const totals = { files: 0, dirs: 0, bytes: 0 };
  const dirs: { path: string; entry: TreeEntry }[] = [];
  for (const entry of entries) {
    const path = place(entry);
    if (entry.type === 'dir') {
      await mkdir(path, { recursive: true });
      dirs.push({ path, entry });
      totals.dirs++;
      continue;
    }
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.salama-restore-${randomUUID().slice(0, 8)}`;
    try {
      await pipeline(Readable.from(chunksOf(repo, entry)), createWriteStream(temp));
      if (entry.mode !== undefined) await chmod(temp, entry.mode);
      if (entry.mtimeMs !== undefined)
        await utimes(temp, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    totals.files++;
    totals.bytes += entry.size ?? 0;
    options.onProgress?.({ ...totals, path: entry.path });
  }
  // Directory times last: writing their files changed them.
  for (const { path, entry } of dirs.reverse()) {
    if (entry.mode !== undefined) await chmod(path, entry.mode);
    if (entry.mtimeMs !== undefined) await utimes(path, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
  }
  return { snapshot: snapshot.id, ...totals, durationMs: Date.now() - started };
}

async function* chunksOf(repo: Repository, entry: TreeEntry): AsyncIterable<Uint8Array> {
  for (const id of entry.chunks ?? []) yield await repo.readChunk(id);
}
