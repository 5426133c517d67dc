/**
 * Checking a repository the way restic's `check` does: every index and snapshot against its
 * name, every chunk a snapshot refers to against the index, every indexed pack against the
 * store, and with `readData` the packs' bytes, headers and chunks themselves. Problems are
 * collected, not thrown, so one damaged object does not hide the next; each is an
 * `E_INTEGRITY` (or `E_NOT_FOUND`) error naming the object.
 */
import { IntegrityError, NotFoundError, SalamaError } from '../core/errors.js';
import { readPack, unpackBlob } from './pack.js';
import type { Repository } from './repository.js';

export interface VerifyOptions {
  /** Also read packs and check every chunk: `true` for all, a fraction (0–1] for a random sample. @default false */
  readonly readData?: boolean | number;
  readonly onProgress?: (progress: { packsRead: number; packsToRead: number }) => void;
}

/** One thing found wrong. */
export interface VerifyProblem {
  /** The object: `pack data/ab/…`, `index index/…`, `snapshot snapshots/…`. */
  readonly what: string;
  readonly error: SalamaError;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly snapshots: number;
  readonly indexFiles: number;
  readonly packs: number;
  readonly packsRead: number;
  readonly chunksChecked: number;
  /** Packs no index names: left by a killed backup; the next backup or prune handles them. */
  readonly unindexedPacks: number;
  readonly problems: readonly VerifyProblem[];
  readonly durationMs: number;
}

export async function verifyRepository(
  repo: Repository,
  options: VerifyOptions,
): Promise<VerifyReport> {
  const started = Date.now();
  const problems: VerifyProblem[] = [];
  const fail = (what: string, error: unknown) => {
    if (error instanceof SalamaError) problems.push({ what, error });
    else throw error;
  };
  await repo.loadIndex((key, error) => fail(`index ${key}`, error));

  const ids = await repo.snapshotIds();
  for (const id of ids) {
    try {
      const snapshot = await repo.loadSnapshot(id);
      const missing = snapshot.tree.flatMap((e) => e.chunks ?? []).filter((c) => !repo.has(c));
      if (missing.length > 0)
        fail(
          `snapshot snapshots/${id}`,
          new IntegrityError(
            `snapshot snapshots/${id} refers to ${missing.length} chunk(s) in no index, first ${missing[0]}`,
            { context: { snapshot: id, missing: missing.length } },
          ),
        );
    } catch (error) {
      fail(`snapshot snapshots/${id}`, error);
    }
  }

  const stored = await repo.listPackIds();
  for (const pack of repo.packs.keys())
    if (!stored.has(pack))
      fail(
        `pack ${pack}`,
        new NotFoundError(
          `pack data/${pack.slice(0, 2)}/${pack} is named by an index but missing`,
          { context: { pack } },
        ),
      );
  const unindexed = [...stored].filter((p) => !repo.packs.has(p)).length;

  let packsRead = 0;
  let chunksChecked = 0;
  const readData = options.readData ?? false;
  if (readData !== false) {
    const present = [...repo.packs.keys()].filter((p) => stored.has(p));
    const fraction = readData === true ? 1 : Math.min(1, Math.max(0, readData));
    const count =
      fraction >= 1
        ? present.length
        : Math.max(fraction > 0 ? 1 : 0, Math.round(present.length * fraction));
    const chosen = fraction >= 1 ? present : shuffle(present).slice(0, count);
    for (const pack of chosen) {
      try {
        const bytes = await repo.store.get(`data/${pack.slice(0, 2)}/${pack}`);
        const { blobs } = readPack(pack, bytes, repo.config.codec);
        const indexed = repo.packs.get(pack) ?? [];
        if (
          indexed.length !== blobs.length ||
          indexed.some((b, i) => b.id !== blobs[i]?.id || b.offset !== blobs[i]?.offset)
        )
          throw new IntegrityError(
            `pack data/${pack.slice(0, 2)}/${pack}: its header and the index disagree`,
            { context: { pack } },
          );
        for (const blob of blobs) {
          unpackBlob(pack, bytes, blob, repo.config.codec);
          chunksChecked++;
        }
      } catch (error) {
        fail(`pack data/${pack.slice(0, 2)}/${pack}`, error);
      }
      packsRead++;
      options.onProgress?.({ packsRead, packsToRead: chosen.length });
    }
  }
  return {
    ok: problems.length === 0,
    snapshots: ids.length,
    indexFiles: repo.indexFiles.size,
    packs: repo.packs.size,
    packsRead,
    chunksChecked,
    unindexedPacks: unindexed,
    problems,
    durationMs: Date.now() - started,
  };
}

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
