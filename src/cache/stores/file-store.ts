import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { commonOptionSchemas, parseOptions } from '../../core/options.js';
import type { ByteCacheStore, EvictionListener } from '../store.js';
import { fileNameOf, frame, shardOf, unframe } from './file-layout.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** The directory that holds the cache; created if missing. */
  directory: string;
  /**
   * Total bytes of files this process keeps; beyond it the least recently used files are
   * deleted. Order at start-up is by modification time. @default no bound
   */
  maxBytes?: number;
  /**
   * True when other caches (processes or hosts) read and write the same directory. The
   * invalidation bus then leaves its files alone, as it does Redis's; with `false`, a change
   * another cache reports on the bus deletes this store's file of that key. @default false
   */
  shared?: boolean;
  clock?: Clock;
}

const schema = z.strictObject({
  directory: z.string().min(1),
  maxBytes: z.number().int().positive().optional(),
  shared: z.boolean().optional(),
  clock: commonOptionSchemas.clock.optional(),
});

const TMP_DIR = '.tmp';
/**
 * Temporary files older than this are left by a crashed write and removed at start-up. Younger
 * ones may be another store's write in flight (renamed within milliseconds), so they stay.
 */
const STALE_TMP_MS = 10 * 60_000;

interface IndexedFile {
  readonly shard: string;
  readonly name: string;
  bytes: number;
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The L3 tier: one file per key in a directory sharded 256 ways. Writes go to a temporary file
 * renamed into place, so a reader (in this or another process) sees the old record or the new
 * one, never half of either. With `maxBytes`, this process tracks the files it knows in
 * least-recently-used order and deletes the oldest past the bound; files other processes write
 * are found on read and join the order then. Caches in several processes may share one
 * directory; give each store `shared: true` so the invalidation bus does not delete their files.
 */
export class FileStore implements ByteCacheStore {
  readonly kind = 'bytes';
  readonly name = 'file';
  readonly shared: boolean;
  readonly #directory: string;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  /** Least recently used first (a Map keeps insertion order; a touch re-inserts). */
  readonly #index = new Map<string, IndexedFile>();
  readonly #madeShards = new Set<string>();
  #bytes = 0;
  #tmpCounter = 0;
  #ready: Promise<void> | undefined;
  #onEvict: EvictionListener | undefined;

  constructor(options: FileStoreOptions) {
    const opts = parseOptions('FileStore', schema, options);
    this.#directory = opts.directory;
    this.#maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    this.shared = opts.shared ?? false;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Bytes of the files this process knows of. */
  get bytes(): number {
    return this.#bytes;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    await this.#open();
    const shard = shardOf(key);
    const name = fileNameOf(key);
    let file: Buffer;
    try {
      file = await readFile(join(this.#directory, shard, name));
    } catch (error) {
      if (isMissing(error)) {
        this.#forget(name);
        return undefined;
      }
      throw error;
    }
    const framed = unframe(file);
    if (framed.key !== key) return undefined;
    if (framed.expiresAt <= this.#clock.now()) {
      await this.#remove(shard, name);
      this.#onEvict?.(key, 'expired');
      return undefined;
    }
    this.#touch(shard, name, file.byteLength);
    return framed.record;
  }

  async set(key: string, record: Uint8Array, ttlMs: number | undefined): Promise<void> {
    await this.#open();
    const shard = shardOf(key);
    const name = fileNameOf(key);
    const expiresAt = ttlMs === undefined ? Number.POSITIVE_INFINITY : this.#clock.now() + ttlMs;
    const body = frame(key, record, expiresAt);
    if (!this.#madeShards.has(shard)) {
      await mkdir(join(this.#directory, shard), { recursive: true });
      this.#madeShards.add(shard);
    }
    const tmp = join(
      this.#directory,
      TMP_DIR,
      `${process.pid}-${++this.#tmpCounter}-${randomBytes(4).toString('hex')}`,
    );
    await writeFile(tmp, body);
    await rename(tmp, join(this.#directory, shard, name));
    this.#touch(shard, name, body.byteLength);
    await this.#enforceBound();
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.#open();
    await Promise.all(keys.map((key) => this.#remove(shardOf(key), fileNameOf(key))));
  }

  async clear(prefix: string): Promise<void> {
    await this.#open();
    const shards = await this.#shards();
    for (const shard of shards) {
      const names = await readdir(join(this.#directory, shard)).catch(() => [] as string[]);
      await Promise.all(
        names.map(async (name) => {
          if (prefix === '' || (await this.#keyOf(shard, name))?.startsWith(prefix)) {
            await this.#remove(shard, name);
          }
        }),
      );
    }
  }

  /** Deletes every file whose physical expiry has passed; returns how many went. */
  async prune(): Promise<number> {
    await this.#open();
    let removed = 0;
    const now = this.#clock.now();
    for (const shard of await this.#shards()) {
      const names = await readdir(join(this.#directory, shard)).catch(() => [] as string[]);
      for (const name of names) {
        const file = await readFile(join(this.#directory, shard, name)).catch(() => undefined);
        if (file === undefined) continue;
        const framed = unframe(file);
        if (framed.expiresAt <= now) {
          await this.#remove(shard, name);
          this.#onEvict?.(framed.key, 'expired');
          removed++;
        }
      }
    }
    return removed;
  }

  onEvict(listener: EvictionListener): void {
    this.#onEvict = listener;
  }

  async close(): Promise<void> {
    this.#index.clear();
    this.#bytes = 0;
  }

  #open(): Promise<void> {
    // A failed start-up (the directory unreadable for now) is retried by the next call.
    this.#ready ??= this.#scan().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Builds the LRU order from the files already on disk, oldest modification first. */
  async #scan(): Promise<void> {
    await mkdir(join(this.#directory, TMP_DIR), { recursive: true });
    const found: (IndexedFile & { mtimeMs: number })[] = [];
    for (const shard of await this.#shards()) {
      this.#madeShards.add(shard);
      const names = await readdir(join(this.#directory, shard));
      for (const name of names) {
        const info = await stat(join(this.#directory, shard, name)).catch(() => undefined);
        if (info) found.push({ shard, name, bytes: info.size, mtimeMs: info.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { shard, name, bytes } of found) this.#touch(shard, name, bytes);
    await this.#sweepStaleTemporaryFiles();
    await this.#enforceBound();
  }

  /**
   * Removes temporary files a crashed write left behind, never the directory itself: other
   * stores on this directory keep writing into it. File times are the file system's wall
   * clock, so they are compared with `Date.now()`, not the injected clock.
   */
  async #sweepStaleTemporaryFiles(): Promise<void> {
    const tmpDir = join(this.#directory, TMP_DIR);
    const staleBefore = Date.now() - STALE_TMP_MS;
    for (const name of await readdir(tmpDir)) {
      const info = await stat(join(tmpDir, name)).catch(() => undefined);
      if (info !== undefined && info.mtimeMs < staleBefore) {
        await unlink(join(tmpDir, name)).catch((error: unknown) => {
          if (!isMissing(error)) throw error;
        });
      }
    }
  }

  async #shards(): Promise<string[]> {
    const entries = await readdir(this.#directory, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name))
      .map((e) => e.name);
  }

  async #keyOf(shard: string, name: string): Promise<string | undefined> {
    if (name.startsWith('k')) return Buffer.from(name.slice(1), 'base64url').toString('utf8');
    const file = await readFile(join(this.#directory, shard, name)).catch(() => undefined);
    return file && unframe(file).key;
  }

  #touch(shard: string, name: string, bytes: number): void {
    const known = this.#index.get(name);
    if (known) {
      this.#index.delete(name);
      this.#bytes += bytes - known.bytes;
      known.bytes = bytes;
      this.#index.set(name, known);
    } else {
      this.#index.set(name, { shard, name, bytes });
      this.#bytes += bytes;
    }
  }

  #forget(name: string): void {
    const known = this.#index.get(name);
    if (known) {
      this.#index.delete(name);
      this.#bytes -= known.bytes;
    }
  }

  async #remove(shard: string, name: string): Promise<void> {
    this.#forget(name);
    await unlink(join(this.#directory, shard, name)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  async #enforceBound(): Promise<void> {
    while (this.#bytes > this.#maxBytes && this.#index.size > 0) {
      const [name, oldest] = this.#index.entries().next().value as [string, IndexedFile];
      // Forget first, synchronously, so a concurrent set's loop picks the next file.
      this.#forget(name);
      const key = await this.#keyOf(oldest.shard, name);
      await this.#remove(oldest.shard, name);
      if (key !== undefined) this.#onEvict?.(key, 'capacity');
    }
  }
}
