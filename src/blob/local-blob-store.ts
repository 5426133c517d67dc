/**
 * `LocalBlobStore`: a {@link BlobStore} over a directory. A key is a relative path, so an
 * existing directory (a camera recorder's output, say) can be opened as a store as it is.
 *
 * Writes go to a temporary file in the target directory, are flushed to disk, and are then
 * renamed over the key (or hard-linked to it for `ifNotExists`, which fails atomically when
 * the name is taken). Temporary files start with `.salama-tmp-` and are never listed.
 * One filesystem rule shows through: a key cannot be both an object and the prefix of other
 * keys (`a` and `a/b`); the second write fails with `E_CONFLICT`.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import {
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import {
  AbortedError,
  BackendFailedError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
} from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { parseOptions } from '../core/options.js';
import {
  type BlobInfo,
  type BlobListOptions,
  type BlobPutOptions,
  type BlobStore,
  checkBlobKey,
  compareBlobKeys,
} from './blob-store.js';

const TEMP_PREFIX = '.salama-tmp-';

const optionsSchema = z.strictObject({
  /** The directory holding the objects; created when missing. */
  root: z.string().min(1),
  /** Flush each object (and its directory entry) to disk before `put` resolves. Default true. */
  fsync: z.boolean().default(true),
});

/** Options of {@link LocalBlobStore}. */
export type LocalBlobStoreOptions = z.input<typeof optionsSchema>;

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;

export class LocalBlobStore implements BlobStore {
  readonly location: string;
  readonly #root: string;
  readonly #fsync: boolean;
  readonly #lifecycle = new Lifecycle('LocalBlobStore', () => {});

  constructor(options: LocalBlobStoreOptions) {
    const parsed = parseOptions('LocalBlobStore', optionsSchema, options);
    this.#root = resolve(parsed.root);
    this.#fsync = parsed.fsync;
    this.location = `local:${this.#root}`;
  }

  /** The absolute directory this store keeps its objects in. */
  get root(): string {
    return this.#root;
  }

  async put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options: BlobPutOptions = {},
  ): Promise<BlobInfo> {
    this.#lifecycle.assertOpen('put');
    checkBlobKey(key);
    if (!(data instanceof Uint8Array) && typeof data?.[Symbol.asyncIterator] !== 'function') {
      throw new InvalidArgumentError(
        `LocalBlobStore.put(${JSON.stringify(key)}): expected a Uint8Array or an AsyncIterable of Uint8Array as data`,
        { context: { key } },
      );
    }
    options.signal?.throwIfAborted();
    const target = this.#path(key);
    // A concurrent delete may remove the directory we just made; one retry covers it.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#write(key, target, data, options);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT' && attempt === 0 && data instanceof Uint8Array) continue;
        throw this.#translate(error, 'put', key);
      }
    }
  }

  async #write(
    key: string,
    target: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options: BlobPutOptions,
  ): Promise<BlobInfo> {
    const directory = dirname(target);
    await mkdir(directory, { recursive: true });
    const temp = join(directory, `${TEMP_PREFIX}${randomUUID()}`);
    try {
      const source = data instanceof Uint8Array ? Readable.from([data]) : Readable.from(data);
      await pipeline(source, createWriteStream(temp, { flags: 'wx' }), {
        signal: options.signal,
      });
      if (this.#fsync) await syncPath(temp);
      if (options.ifNotExists) {
        try {
          await link(temp, target);
        } catch (error) {
          if (errnoOf(error) === 'EEXIST')
            throw new ConflictError(
              `LocalBlobStore.put(${JSON.stringify(key)}): an object with this key already exists and ifNotExists was set`,
              { context: { key, location: this.location } },
            );
          throw error;
        }
        await unlink(temp);
      } else {
        await rename(temp, target);
      }
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    if (this.#fsync) await syncPath(directory);
    return this.#info(key, await stat(target));
  }

  async get(key: string): Promise<Uint8Array> {
    this.#lifecycle.assertOpen('get');
    checkBlobKey(key);
    try {
      const bytes = await readFile(this.#path(key));
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      throw this.#translate(error, 'get', key);
    }
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array>> {
    this.#lifecycle.assertOpen('stream');
    checkBlobKey(key);
    try {
      // Open first so a missing key fails here, before the caller reads any chunk.
      const handle = await open(this.#path(key), 'r');
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      }
      return handle
        .createReadStream({ highWaterMark: 1 << 20 })
        .iterator({ destroyOnReturn: true }) as AsyncIterable<Uint8Array>;
    } catch (error) {
      throw this.#translate(error, 'stream', key);
    }
  }

  async head(key: string): Promise<BlobInfo> {
    this.#lifecycle.assertOpen('head');
    checkBlobKey(key);
    try {
      const info = await stat(this.#path(key));
      if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      return this.#info(key, info);
    } catch (error) {
      throw this.#translate(error, 'head', key);
    }
  }

  async delete(keys: string | readonly string[]): Promise<number> {
    this.#lifecycle.assertOpen('delete');
    const list = typeof keys === 'string' ? [keys] : [...keys];
    for (const key of list) checkBlobKey(key);
    let deleted = 0;
    for (const key of list) {
      const path = this.#path(key);
      try {
        await unlink(path);
        deleted++;
      } catch (error) {
        const code = errnoOf(error);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        if (code === 'EISDIR' || code === 'EPERM') continue; // a prefix, not an object
        throw this.#translate(error, 'delete', key);
      }
      await this.#pruneDirectories(dirname(path));
    }
    return deleted;
  }

  async *list(options: BlobListOptions = {}): AsyncIterable<BlobInfo> {
    this.#lifecycle.assertOpen('list');
    const prefix = options.prefix ?? '';
    const startAfter = options.startAfter;
    if (typeof prefix !== 'string' || (startAfter !== undefined && typeof startAfter !== 'string'))
      throw new InvalidArgumentError(
        'LocalBlobStore.list(): expected prefix and startAfter to be strings',
        { context: { prefix, startAfter } },
      );
    yield* this.#walk('', prefix, startAfter);
  }

  async *#walk(
    dirKey: string,
    prefix: string,
    startAfter: string | undefined,
  ): AsyncGenerator<BlobInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(dirKey === '' ? this.#root : this.#path(dirKey.slice(0, -1)), {
        withFileTypes: true,
      });
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.#translate(error, 'list', dirKey);
    }
    // Sorting directories as `name/` makes a depth-first walk yield keys in byte order.
    const sorted = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && !e.name.startsWith(TEMP_PREFIX))
      .map((e) => ({ name: e.name, sortKey: dirKey + e.name + (e.isDirectory() ? '/' : '') }))
      .sort((a, b) => compareBlobKeys(a.sortKey, b.sortKey));
    for (const { sortKey } of sorted) {
      if (sortKey.endsWith('/')) {
        const reachesPrefix = sortKey.startsWith(prefix) || prefix.startsWith(sortKey);
        const pastStart =
          startAfter === undefined ||
          startAfter.startsWith(sortKey) ||
          compareBlobKeys(sortKey, startAfter) > 0;
        if (reachesPrefix && pastStart) yield* this.#walk(sortKey, prefix, startAfter);
        continue;
      }
      if (!sortKey.startsWith(prefix)) continue;
      if (startAfter !== undefined && compareBlobKeys(sortKey, startAfter) <= 0) continue;
      try {
        const info = await stat(this.#path(sortKey));
        if (info.isFile()) yield this.#info(sortKey, info);
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT') throw this.#translate(error, 'list', sortKey);
      }
    }
  }

  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #path(key: string): string {
    return this.#root + sep + key.split('/').join(sep);
  }

  #info(key: string, info: { size: number; mtime: Date }): BlobInfo {
    return { key, size: info.size, lastModified: info.mtime };
  }

  async #pruneDirectories(directory: string) {
    let current = directory;
    while (current.length > this.#root.length && current.startsWith(this.#root + sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty, or already gone
      }
      current = dirname(current);
    }
  }

  #translate(error: unknown, operation: string, key: string): Error {
    if (error instanceof Error && 'code' in error && String(error.code).startsWith('E_'))
      return error;
    const code = errnoOf(error);
    const context = { key, location: this.location, errno: code };
    if ((error as Error)?.name === 'AbortError')
      return new AbortedError(`LocalBlobStore.${operation}(${JSON.stringify(key)}) was aborted`, {
        cause: error,
        context,
      });
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      if (operation === 'put')
        return new ConflictError(
          `LocalBlobStore.put(${JSON.stringify(key)}): a part of the key is an existing object or the key is an existing prefix; on a local directory a key cannot be both`,
          { cause: error, context },
        );
      return new NotFoundError(`LocalBlobStore: no object with key ${JSON.stringify(key)}`, {
        cause: error,
        context,
      });
    }
    if (code === 'EEXIST' || code === 'ENOTEMPTY')
      return new ConflictError(
        `LocalBlobStore.put(${JSON.stringify(key)}): the key is an existing prefix of other keys; on a local directory a key cannot be both`,
        { cause: error, context },
      );
    if (code === 'ENAMETOOLONG')
      return new InvalidArgumentError(
        `Invalid blob key: expected segments of at most 255 bytes for a local directory, received ${JSON.stringify(key)}`,
        { cause: error, context },
      );
    return new BackendFailedError(
      `LocalBlobStore.${operation}(${JSON.stringify(key)}) failed: ${(error as Error)?.message}`,
      { cause: error, context },
    );
  }
}

async function syncPath(path: string) {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
