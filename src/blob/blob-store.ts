/**
 * The `BlobStore` contract: named byte objects under `/`-separated keys, the one interface
 * retention (archives, recordings), backups (packs, snapshots) and the model registry
 * (artifacts) write to. A local directory implements it for one host; S3-compatible object
 * storage implements it for many (`salama/backup/s3`).
 *
 * Every implementation keeps these promises, checked by one conformance suite:
 * - `put` is atomic: a reader sees the old object or the whole new one, never a part.
 * - `put(..., { ifNotExists: true })` writes only when the key is free, else `E_CONFLICT`,
 *   and two racing writers cannot both succeed.
 * - `get`, `stream` and `head` of a missing key fail with `E_NOT_FOUND`; `delete` of a
 *   missing key is not an error.
 * - `list` yields keys in ascending UTF-8 byte order (the order S3 uses), filtered by prefix
 *   and resumable after any key.
 */
import { describeValue, InvalidArgumentError } from '../core/errors.js';

/** What a store knows about one object without reading it. */
export interface BlobInfo {
  /** The object's key. */
  readonly key: string;
  /** Size in bytes. */
  readonly size: number;
  /** When the object was last written. */
  readonly lastModified: Date;
}

/** Options of {@link BlobStore.put}. */
export interface BlobPutOptions {
  /** Write only when no object has this key; otherwise fail with `E_CONFLICT`. */
  readonly ifNotExists?: boolean;
  /** Abort the write; nothing is left under the key. */
  readonly signal?: AbortSignal;
}

/** Options of {@link BlobStore.list}. */
export interface BlobListOptions {
  /** Only keys that start with this string. */
  readonly prefix?: string;
  /** Only keys that sort after this one (exclusive), to resume a listing. */
  readonly startAfter?: string;
}

/** Named byte objects: the storage behind archives, backups and model artifacts. */
export interface BlobStore {
  /** A short description for logs and reports (`local:/var/lib/salama`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Stores `data` under `key`, replacing any object there unless `ifNotExists`. */
  put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options?: BlobPutOptions,
  ): Promise<BlobInfo>;
  /** The whole object. `E_NOT_FOUND` when missing. */
  get(key: string): Promise<Uint8Array>;
  /** The object as a stream of chunks. `E_NOT_FOUND` (before any chunk) when missing. */
  stream(key: string): Promise<AsyncIterable<Uint8Array>>;
  /** Size and time of the object. `E_NOT_FOUND` when missing. */
  head(key: string): Promise<BlobInfo>;
  /** Deletes the objects; missing keys are ignored. Returns how many existed. */
  delete(keys: string | readonly string[]): Promise<number>;
  /** Every object under `prefix`, in ascending UTF-8 byte order of key. */
  list(options?: BlobListOptions): AsyncIterable<BlobInfo>;
  /** Releases connections or handles. Further calls fail with `E_CLOSED`. */
  close(): Promise<void>;
}

const MAX_KEY_BYTES = 1024;

/**
 * Checks a key against the rules every store shares, so a key that works on a local
 * directory also works on S3: 1–1024 UTF-8 bytes, `/`-separated segments that are neither
 * empty, `.` nor `..`, no leading `/`, no NUL or other control characters, no `\`.
 * Throws `E_INVALID_ARGUMENT` naming the rule that was broken.
 */
export function checkBlobKey(key: unknown): asserts key is string {
  const fail = (expected: string): never => {
    throw new InvalidArgumentError(
      `Invalid blob key: expected ${expected}, received ${describeValue(key)}`,
      { context: { key, expected } },
    );
  };
  if (typeof key !== 'string') return fail('a string');
  if (key.length === 0) return fail('a non-empty string');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return fail('at most 1024 UTF-8 bytes');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return fail('no control characters and no "\\"');
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..')
      return fail('"/"-separated segments that are not empty, "." or ".."');
  }
}

/** Compares keys by UTF-8 bytes, the order S3 lists in (JavaScript compares UTF-16 units). */
export function compareBlobKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Concatenates a stream of chunks into one buffer. */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    total += chunk.byteLength;
  }
  return Buffer.concat(parts, total);
}
