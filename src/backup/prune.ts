/**
 * `forget` and `prune`, as restic splits them. `forget` removes the snapshots a keep policy
 * does not keep (`forget-policy.ts`); their data stays. `prune` then deletes the packs no
 * snapshot needs, repacks packs that are mostly unused (copying the chunks still needed into
 * new packs), and replaces every index file by one describing what is left.
 *
 * Prune's order keeps the repository consistent if it is killed: new packs, then the new
 * index, then the old index files, then the packs nothing names any more. Both run under an
 * exclusive lock, so no backup is adding references meanwhile.
 */
import {
  applyForgetPolicy,
  type ForgetGroup,
  type ForgetGroupBy,
  type ForgetPolicy,
} from './forget-policy.js';
import { PackBuilder, type PackedBlob, packKey, readPack, unpackBlob } from './pack.js';
import type { Repository } from './repository.js';
import type { RepositoryLock } from './repository-lock.js';

export interface ForgetOptions {
  /** Report, remove nothing. @default false */
  readonly dryRun?: boolean;
  /** @default ['host', 'sources'] */
  readonly groupBy?: readonly ForgetGroupBy[];
}

/** A snapshot as the keep policy sees it. */
export interface ForgetCandidate {
  readonly id: string;
  readonly time: Date;
  readonly host: string;
  readonly sources: readonly string[];
  readonly tags: readonly string[];
}

export interface ForgetReport {
  readonly dryRun: boolean;
  /** Per group (host and sources by default): the snapshots kept, with restic's reasons, and removed. */
  readonly groups: readonly ForgetGroup<ForgetCandidate>[];
  /** Ids of the snapshots removed (or that would be). */
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

/**
 * Applies `policy` to the snapshots and removes the ones it does not keep. `now` is the wall
 * clock: a snapshot dated after it is never the latest one `keepWithin` counts back from.
 */
export async function forgetSnapshots(
  repo: Repository,
  policy: ForgetPolicy,
  options: ForgetOptions,
  { lock, now }: { readonly lock: RepositoryLock; readonly now: number },
): Promise<ForgetReport> {
  const candidates: ForgetCandidate[] = (await repo.snapshots()).map((s) => ({
    id: s.id,
    time: new Date(s.time),
    host: s.host,
    sources: s.sources,
    tags: s.tags,
  }));
  const groups = applyForgetPolicy(candidates, policy, {
    now,
    ...(options.groupBy ? { groupBy: options.groupBy } : {}),
  });
  const removed = groups.flatMap((g) => g.remove.map((s) => s.id));
  const kept = groups.flatMap((g) => g.keep.map((k) => k.snapshot.id));
  if (!options.dryRun && removed.length > 0) {
    lock.check();
    await repo.store.delete(removed.map((id) => `snapshots/${id}`));
  }
  return { dryRun: options.dryRun === true, groups, removed, kept };
}

export interface PruneOptions {
  /** Repack a pack when more than this fraction of its bytes is unused. @default 0.5 */
  readonly maxUnusedFraction?: number;
  /** Report, change nothing. @default false */
  readonly dryRun?: boolean;
}

export interface PruneReport {
  readonly dryRun: boolean;
  readonly packsBefore: number;
  readonly packsDeleted: number;
  readonly packsRepacked: number;
  readonly packsWritten: number;
  /** Stored bytes removed (deleted and repacked packs, less what repacking wrote). */
  readonly bytesFreed: number;
  readonly indexFilesReplaced: number;
  readonly durationMs: number;
}

/** Prunes; checks `lock` before each step that deletes, so a lock gone stale stops it. */
export async function pruneRepository(
  repo: Repository,
  options: PruneOptions,
  lock: RepositoryLock,
): Promise<PruneReport> {
  const started = Date.now();
  const maxUnused = options.maxUnusedFraction ?? 0.5;
  await repo.loadIndex();
  const used = new Set<string>();
  for (const snapshot of await repo.snapshots())
    for (const entry of snapshot.tree) for (const id of entry.chunks ?? []) used.add(id);

  const stored = await repo.listPackIds();
  const keep: { id: string; blobs: readonly PackedBlob[] }[] = [];
  const repack: { id: string; blobs: readonly PackedBlob[] }[] = [];
  const remove: string[] = [];
  const claimed = new Set<string>(); // a chunk is kept in one pack only
  let bytesFreed = 0;
  const sizeOf = (blobs: readonly PackedBlob[]) => blobs.reduce((n, b) => n + b.length, 0);
  for (const [id, blobs] of repo.packs) {
    if (!stored.has(id)) continue; // verify reports it; nothing to delete
    const needed = blobs.filter((b) => used.has(b.id) && !claimed.has(b.id));
    const neededBytes = sizeOf(needed);
    const total = sizeOf(blobs);
    if (needed.length === 0) {
      remove.push(id);
      bytesFreed += total;
    } else if (neededBytes === total || 1 - neededBytes / total <= maxUnused) {
      keep.push({ id, blobs });
      for (const b of blobs) claimed.add(b.id);
    } else {
      repack.push({ id, blobs: needed });
      for (const b of needed) claimed.add(b.id);
      bytesFreed += total - neededBytes;
    }
  }
  // Packs no index names (a killed backup's) are deleted too.
  for (const id of stored) if (!repo.packs.has(id)) remove.push(id);

  let written: { id: string; blobs: readonly PackedBlob[] }[] = [];
  if (!options.dryRun) {
    written = await repackInto(repo, repack);
    const oldIndexFiles = [...repo.indexFiles];
    const newIndex = await repo.writeIndex([...keep, ...written]);
    lock.check();
    await repo.store.delete(oldIndexFiles.filter((f) => f !== newIndex).map((f) => `index/${f}`));
    lock.check();
    await repo.store.delete([...remove, ...repack.map((p) => p.id)].map(packKey));
    await repo.loadIndex();
  }
  return {
    dryRun: options.dryRun === true,
    packsBefore: stored.size,
    packsDeleted: remove.length,
    packsRepacked: repack.length,
    packsWritten: written.length,
    bytesFreed,
    indexFilesReplaced: options.dryRun ? 0 : repo.indexFiles.size,
    durationMs: Date.now() - started,
  };
}

/** Copies the still-needed chunks of `packs` into new packs; returns them. */
async function repackInto(
  repo: Repository,
  packs: readonly { id: string; blobs: readonly PackedBlob[] }[],
): Promise<{ id: string; blobs: readonly PackedBlob[] }[]> {
  const written: { id: string; blobs: readonly PackedBlob[] }[] = [];
  let builder = new PackBuilder();
  const finish = async () => {
    if (builder.count === 0) return;
    const pack = builder.finish(repo.config.codec);
    builder = new PackBuilder();
    await repo.store.put(packKey(pack.id), pack.bytes);
    written.push({ id: pack.id, blobs: pack.blobs });
  };
  for (const { id, blobs } of packs) {
    const bytes = await repo.store.get(packKey(id));
    readPack(id, bytes, repo.config.codec);
    for (const blob of blobs) {
      // Decoding checks the chunk; the stored bytes are copied as they are.
      unpackBlob(id, bytes, blob, repo.config.codec);
      builder.add(blob.id, bytes.slice(blob.offset, blob.offset + blob.length), blob.rawLength);
      if (builder.size >= repo.packSize) await finish();
    }
  }
  await finish();
  return written;
}
