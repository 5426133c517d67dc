/**
 * What a backup reads. A source has a name (the first segment of its entries' paths in the
 * snapshot) and yields entries: directories, files and streams with their content. Files and
 * directories come from `pathSource` (include and exclude globs), custom streams from
 * `streamSource`, database tables from `databaseSource` (`database-source.ts`).
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import picomatch from 'picomatch';
import { InvalidArgumentError } from '../core/errors.js';

/** One thing a source holds. */
export interface SourceEntry {
  /** `/`-separated, relative to the source; `''` for the source itself. */
  readonly path: string;
  readonly type: 'dir' | 'file' | 'table' | 'stream';
  readonly size?: number;
  readonly mode?: number;
  readonly mtimeMs?: number;
  /** Files: last change of content or metadata (ctime), epoch ms. A file is reused from the parent snapshot only when this and {@link inode} match. */
  readonly ctimeMs?: number;
  /** Files: the inode number. */
  readonly inode?: number;
  /** The content, for everything but directories. */
  open?(): AsyncIterable<Uint8Array>;
  /**
   * The local file holding the content, when there is one: the backup then reads it itself,
   * into a reused buffer, rather than through {@link open}. Both must give the same bytes.
   */
  readonly file?: string;
}

export interface BackupSource {
  /** Unique among a backup's sources: letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  entries(): AsyncIterable<SourceEntry>;
}

export interface PathSourceOptions {
  /** @default the last segment of the path */
  readonly name?: string;
  /** Globs (relative to the path) an entry must match, e.g. `['**\/*.json']`. @default everything */
  readonly include?: readonly string[];
  /** Globs of entries to leave out, e.g. `['**\/*.tmp', 'cache/**']`. */
  readonly exclude?: readonly string[];
}

const NAME = /^[A-Za-z0-9._-]{1,100}$/;

export function checkSourceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name) || name === '.' || name === '..')
    throw new InvalidArgumentError(
      `Invalid backup source name: expected 1–100 letters, digits, ".", "_" or "-", received ${JSON.stringify(name)}`,
      { context: { name } },
    );
}

/**
 * A file or a directory tree. Directories are walked in sorted order; symbolic links and
 * special files are skipped. Excluding a directory skips everything under it.
 */
export function pathSource(root: string, options: PathSourceOptions = {}): BackupSource {
  const name = options.name ?? basename(root);
  checkSourceName(name);
  const include = options.include?.length
    ? picomatch([...options.include], { dot: true })
    : undefined;
  const exclude = options.exclude?.length
    ? picomatch([...options.exclude], { dot: true })
    : undefined;
  return {
    name,
    async *entries() {
      const top = await lstat(root);
      if (top.isFile()) {
        yield fileEntry('', root, top);
        return;
      }
      yield { path: '', type: 'dir', mode: top.mode & 0o7777, mtimeMs: top.mtimeMs };
      yield* walk(root);
    },
  };

  async function* walk(directory: string): AsyncIterable<SourceEntry> {
    const names = (await readdir(directory)).sort();
    for (const entryName of names) {
      const full = join(directory, entryName);
      const rel = relative(root, full).split(sep).join('/');
      if (exclude?.(rel)) continue;
      const info = await lstat(full);
      if (info.isDirectory()) {
        yield { path: rel, type: 'dir', mode: info.mode & 0o7777, mtimeMs: info.mtimeMs };
        yield* walk(full);
      } else if (info.isFile() && (!include || include(rel))) {
        yield fileEntry(rel, full, info);
      }
    }
  }
}

function fileEntry(
  path: string,
  full: string,
  info: { size: number; mode: number; mtimeMs: number; ctimeMs: number; ino: number },
): SourceEntry {
  return {
    path,
    type: 'file',
    size: info.size,
    mode: info.mode & 0o7777,
    mtimeMs: info.mtimeMs,
    ctimeMs: info.ctimeMs,
    inode: info.ino,
    file: full,
    open: () => createReadStream(full, { highWaterMark: 1 << 20 }),
  };
}

/** One custom stream, stored as a single entry named after the source. */
export function streamSource(name: string, open: () => AsyncIterable<Uint8Array>): BackupSource {
  checkSourceName(name);
  return {
    name,
    async *entries() {
      yield { path: '', type: 'stream', open };
    },
  };
}
