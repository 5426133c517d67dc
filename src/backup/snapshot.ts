/**
 * Snapshot manifests: what one backup saw. The manifest lists every source and the tree of
 * entries (directories, files, database tables, custom streams) with sizes, modes, times and
 * the ids of their chunks in order. A snapshot's id is the SHA-256 of its plaintext JSON, so
 * the manifest is checked against its name on every load.
 */
import { IntegrityError } from '../core/errors.js';
import { type CodecOptions, decodeBlob, encodeBlob } from './blob-codec.js';
import { sha256 } from './pack.js';

/** One entry of a snapshot's tree. */
export interface TreeEntry {
  /** `/`-separated path inside the snapshot: `<source>/<relative path>`. */
  readonly path: string;
  readonly type: 'dir' | 'file' | 'table' | 'stream';
  /** Bytes of content (files, tables, streams). */
  readonly size?: number;
  /** Unix permission bits. */
  readonly mode?: number;
  /** Last modification, epoch ms. */
  readonly mtimeMs?: number;
  /** Files: last change of content or metadata (ctime), epoch ms. */
  readonly ctimeMs?: number;
  /** Files: the inode number; with `ctimeMs`, what tells a rewritten file from an unchanged one. */
  readonly inode?: number;
  /** Chunk ids of the content, in order. */
  readonly chunks?: readonly string[];
}

/** Totals of one backup. */
export interface SnapshotSummary {
  readonly files: number;
  readonly dirs: number;
  /** Bytes read from the sources. */
  readonly bytes: number;
  /** Bytes of chunks the repository did not have. */
  readonly newBytes: number;
  readonly chunks: number;
  readonly newChunks: number;
  readonly durationMs: number;
}

export interface SnapshotManifest {
  readonly id: string;
  /** ISO 8601. */
  readonly time: string;
  readonly host: string;
  readonly tags: readonly string[];
  /** The names of the sources, sorted (restic's "paths"). */
  readonly sources: readonly string[];
  /** The snapshot this one reused unchanged files from. */
  readonly parent?: string;
  readonly tree: readonly TreeEntry[];
  readonly summary: SnapshotSummary;
}

export function encodeSnapshot(
  manifest: Omit<SnapshotManifest, 'id'>,
  codec: CodecOptions,
): { id: string; stored: Uint8Array } {
  const plain = new TextEncoder().encode(JSON.stringify(manifest));
  return { id: sha256(plain), stored: encodeBlob(plain, codec) };
}

export function decodeSnapshot(
  id: string,
  stored: Uint8Array,
  codec: CodecOptions,
): SnapshotManifest {
  const what = `snapshot snapshots/${id}`;
  const plain = decodeBlob(stored, codec, what);
  if (sha256(plain) !== id)
    throw new IntegrityError(`${what} is damaged: its content does not match its name`, {
      context: { snapshot: id },
    });
  return { ...(JSON.parse(new TextDecoder().decode(plain)) as Omit<SnapshotManifest, 'id'>), id };
}
