/**
 * `S3BlobStore`: a {@link BlobStore} over S3-compatible object storage (AWS S3, MinIO, R2,
 * Ceph, s3rver) through `@aws-sdk/client-s3`, an optional peer that only `salama/backup/s3`
 * loads. Keys are relative to the store's `prefix`.
 *
 * Bytes, and streams shorter than one part, go up in one PutObject; longer streams as a
 * multipart upload, aborted on any failure. Either way S3 shows the object whole or not at
 * all. `delete` must say how many keys existed, which DeleteObjects does not report, so it
 * first lists the keys' range, or HEADs them when they are few or scattered.
 */
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  type BlobInfo,
  type BlobListOptions,
  type BlobPutOptions,
  type BlobStore,
  checkBlobKey,
  compareBlobKeys,
} from '../blob/blob-store.js';
import { BackendFailedError, describeValue, InvalidArgumentError } from '../core/errors.js';
import { Lifecycle } from '../core/lifecycle.js';
import { parseOptions } from '../core/options.js';
import { type S3BlobStoreOptions, s3BlobStoreOptionsSchema } from './s3-blob-store-options.js';
import { isMissingKey, keyTakenError, type S3Call, translateS3Error } from './s3-errors.js';
import { countExistingKeys } from './s3-existing-keys.js';
import { chain, cutIntoParts, SourceFailure, throwIfAborted } from './s3-parts.js';

export type { S3BlobStoreOptions } from './s3-blob-store-options.js';

const MAX_PARTS = 10_000;
const MAX_KEY_BYTES = 1024;
/** Parts uploading at once. */
const PARTS_IN_FLIGHT = 4;
/** DeleteObjects takes at most 1000 keys. */
const DELETE_BATCH = 1000;

export class S3BlobStore implements BlobStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #ifNoneMatch: boolean;
  readonly #lifecycle: Lifecycle;

  constructor(options: S3BlobStoreOptions) {
    const parsed = parseOptions('S3BlobStore', s3BlobStoreOptionsSchema, options);
    const client = parsed.client ?? new S3Client(parsed.clientConfig ?? {});
    const owned = parsed.client === undefined;
    this.#client = client;
    this.#bucket = parsed.bucket;
    this.#prefix = parsed.prefix;
    this.#partSize = parsed.partSize;
    this.#ifNoneMatch = parsed.conditionalWrites === 'if-none-match';
    this.location = `s3://${parsed.bucket}/${parsed.prefix}`;
    this.#lifecycle = new Lifecycle('S3BlobStore', () => {
      if (owned) client.destroy();
    });
  }

  /**
   * Stores `data` under `key`. The returned `lastModified` is this host's clock when S3
   * confirmed the write; `head` and `list` report S3's own time, to the second.
   */
  async put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options: BlobPutOptions = {},
  ): Promise<BlobInfo> {
    this.#lifecycle.assertOpen('put');
    const fullKey = this.#fullKey(key);
    if (!(data instanceof Uint8Array) && typeof data?.[Symbol.asyncIterator] !== 'function') {
      throw new InvalidArgumentError(
        `S3BlobStore.put(${JSON.stringify(key)}): expected a Uint8Array or an AsyncIterable of Uint8Array as data, received ${describeValue(data)}`,
        { context: { key } },
      );
    }
    const { signal, ifNotExists = false } = options;
    const write = { key, fullKey, ifNotExists, signal };
    let parts: AsyncGenerator<Uint8Array> | undefined;
    try {
      throwIfAborted(signal);
      if (data instanceof Uint8Array) return await this.#putObject(write, data);
      parts = cutIntoParts(data, this.#partSize, signal);
      const first = await parts.next();
      const second = first.done ? first : await parts.next();
      if (second.done) return await this.#putObject(write, first.value ?? new Uint8Array(0));
      return await this.#putMultipart(write, chain([first.value, second.value], parts));
    } catch (error) {
      if (error instanceof SourceFailure) throw error.error;
      throw this.#translate(error, 'put', key, signal);
    } finally {
      // Releases the caller's stream when the upload stopped before reading all of it.
      await parts?.return(undefined).catch(() => {});
    }
  }

  async #putObject(write: Write, body: Uint8Array): Promise<BlobInfo> {
    if (write.ifNotExists && !this.#ifNoneMatch) await this.#assertFree(write);
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: write.fullKey,
        Body: body,
        IfNoneMatch: write.ifNotExists && this.#ifNoneMatch ? '*' : undefined,
      }),
      { abortSignal: write.signal },
    );
    return { key: write.key, size: body.byteLength, lastModified: new Date() };
  }

  async #putMultipart(write: Write, parts: AsyncIterable<Uint8Array>): Promise<BlobInfo> {
    const { fullKey: Key, signal } = write;
    const Bucket = this.#bucket;
    // As @aws-sdk/lib-storage does: parts carry CRC32s only when the client sends checksums.
    const calculation = await this.#client.config.requestChecksumCalculation?.();
    const ChecksumAlgorithm = calculation === 'WHEN_SUPPORTED' ? ('CRC32' as const) : undefined;
    const { UploadId } = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm }),
      { abortSignal: signal },
    );
    if (UploadId === undefined)
      throw new BackendFailedError(`S3BlobStore.put(${JSON.stringify(write.key)}): no UploadId`);
    const uploaded: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let size = 0;
    try {
      let count = 0;
      for await (const Body of parts) {
        const PartNumber = ++count; // a const per part: the callback below runs later
        if (PartNumber > MAX_PARTS)
          throw new InvalidArgumentError(
            `S3BlobStore.put(${JSON.stringify(write.key)}): expected at most ${MAX_PARTS} parts of ${this.#partSize} bytes, received more; raise partSize`,
            { context: { key: write.key, partSize: this.#partSize } },
          );
        size += Body.byteLength;
        const part = new UploadPartCommand({
          Bucket,
          Key,
          UploadId,
          PartNumber,
          Body,
          ChecksumAlgorithm,
        });
        const upload: Promise<void> = this.#client
          .send(part, { abortSignal: signal })
          .then(
            ({ ETag, ChecksumCRC32 }) => {
              uploaded[PartNumber - 1] = { PartNumber, ETag, ChecksumCRC32 };
            },
            (error: unknown) => {
              failure ??= { error };
            },
          )
          .finally(() => inFlight.delete(upload));
        inFlight.add(upload);
        if (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
        if (failure) throw failure.error;
      }
      await Promise.all(inFlight);
      if (failure) throw failure.error;
      if (write.ifNotExists && !this.#ifNoneMatch) await this.#assertFree(write);
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: uploaded },
          IfNoneMatch: write.ifNotExists && this.#ifNoneMatch ? '*' : undefined,
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      await Promise.allSettled(inFlight);
      // Best effort: a server without AbortMultipartUpload (s3rver) keeps the parts, never the object.
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }))
        .catch(() => {});
      throw error;
    }
    return { key: write.key, size, lastModified: new Date() };
  }

  async get(key: string): Promise<Uint8Array> {
    this.#lifecycle.assertOpen('get');
    const Key = this.#fullKey(key);
    try {
      const { Body } = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key }));
      return Body ? await Body.transformToByteArray() : new Uint8Array(0);
    } catch (error) {
      throw this.#translate(error, 'get', key);
    }
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array>> {
    this.#lifecycle.assertOpen('stream');
    const Key = this.#fullKey(key);
    try {
      const { Body } = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key }));
      // In Node the Body is an http.IncomingMessage: a Readable of Buffers.
      return this.#chunks(Body as AsyncIterable<Uint8Array> | undefined, key);
    } catch (error) {
      throw this.#translate(error, 'stream', key);
    }
  }

  async *#chunks(body: AsyncIterable<Uint8Array> | undefined, key: string) {
    if (body === undefined) return;
    try {
      yield* body;
    } catch (error) {
      throw this.#translate(error, 'stream', key);
    }
  }

  async head(key: string): Promise<BlobInfo> {
    this.#lifecycle.assertOpen('head');
    const Key = this.#fullKey(key);
    try {
      const info = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key }));
      return { key, size: info.ContentLength ?? 0, lastModified: info.LastModified ?? new Date(0) };
    } catch (error) {
      throw this.#translate(error, 'head', key);
    }
  }

  async delete(keys: string | readonly string[]): Promise<number> {
    this.#lifecycle.assertOpen('delete');
    const list = typeof keys === 'string' ? [keys] : [...keys];
    const fullKeys = [...new Set(list.map((key) => this.#fullKey(key)))].sort(compareBlobKeys);
    const Bucket = this.#bucket;
    const probe = {
      listPage: async (Prefix: string, StartAfter: string) => {
        const page = await this.#client.send(
          new ListObjectsV2Command({ Bucket, Prefix, StartAfter }),
        );
        const keys = (page.Contents ?? []).flatMap(({ Key }) => (Key === undefined ? [] : [Key]));
        return { keys, truncated: page.IsTruncated === true };
      },
      exists: (Key: string) =>
        this.#client.send(new HeadObjectCommand({ Bucket, Key })).then(
          () => true,
          (error: unknown) => (isMissingKey(error) ? false : Promise.reject(error)),
        ),
    };
    let existed = 0;
    for (let start = 0; start < fullKeys.length; start += DELETE_BATCH) {
      const batch = fullKeys.slice(start, start + DELETE_BATCH);
      try {
        existed += await countExistingKeys(batch, probe);
        const Objects = batch.map((Key) => ({ Key }));
        const { Errors = [] } = await this.#client.send(
          new DeleteObjectsCommand({ Bucket, Delete: { Objects, Quiet: true } }),
        );
        const refused = Errors[0];
        if (refused)
          throw new BackendFailedError(
            `S3BlobStore.delete(): S3 refused to delete ${Errors.length} of ${batch.length} objects, the first ${JSON.stringify(this.#relative(refused.Key ?? ''))} with ${refused.Code}: ${refused.Message}`,
            { context: { location: this.location, s3Code: refused.Code, refused: Errors.length } },
          );
      } catch (error) {
        throw this.#translate(error, 'delete', this.#relative(batch[0] ?? ''));
      }
    }
    return existed;
  }

  async *list(options: BlobListOptions = {}): AsyncIterable<BlobInfo> {
    this.#lifecycle.assertOpen('list');
    const { prefix = '', startAfter } = options;
    if (typeof prefix !== 'string' || (startAfter !== undefined && typeof startAfter !== 'string'))
      throw new InvalidArgumentError(
        `S3BlobStore.list(): expected prefix and startAfter to be strings, received ${describeValue(prefix)} and ${describeValue(startAfter)}`,
        { context: { prefix, startAfter } },
      );
    const Prefix = this.#prefix + prefix;
    // Pages follow each other by StartAfter, not continuation tokens: any key resumes a listing.
    let StartAfter = startAfter === undefined ? undefined : this.#prefix + startAfter;
    for (;;) {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix, StartAfter }),
        );
      } catch (error) {
        throw this.#translate(error, 'list', prefix);
      }
      for (const { Key, Size, LastModified } of page.Contents ?? []) {
        if (Key === undefined) continue;
        yield {
          key: this.#relative(Key),
          size: Size ?? 0,
          lastModified: LastModified ?? new Date(0),
        };
      }
      StartAfter = page.Contents?.at(-1)?.Key;
      if (!page.IsTruncated || StartAfter === undefined) return;
    }
  }

  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #fullKey(key: string): string {
    checkBlobKey(key);
    const fullKey = this.#prefix + key;
    if (Buffer.byteLength(fullKey, 'utf8') > MAX_KEY_BYTES) {
      const room = MAX_KEY_BYTES - Buffer.byteLength(this.#prefix, 'utf8');
      throw new InvalidArgumentError(
        `Invalid blob key: expected at most ${room} UTF-8 bytes under the prefix ${JSON.stringify(this.#prefix)} (S3 keys are at most 1024 bytes), received ${describeValue(key)}`,
        { context: { key, prefix: this.#prefix } },
      );
    }
    return fullKey;
  }

  #relative(fullKey: string): string {
    return fullKey.slice(this.#prefix.length);
  }

  /** `E_CONFLICT` when the key is taken: the HEAD of 'head-then-put', not atomic. */
  async #assertFree({ key, fullKey, signal }: Write) {
    try {
      const head = new HeadObjectCommand({ Bucket: this.#bucket, Key: fullKey });
      await this.#client.send(head, { abortSignal: signal });
    } catch (error) {
      if (isMissingKey(error)) return;
      throw error;
    }
    throw keyTakenError(this.#call('put', key));
  }

  #translate(error: unknown, operation: string, key: string, signal?: AbortSignal): Error {
    return translateS3Error(error, this.#call(operation, key, signal));
  }

  #call(operation: string, key: string, signal?: AbortSignal): S3Call {
    return { operation, key, location: this.location, signal };
  }
}

/** One put on its way up. */
interface Write {
  readonly key: string;
  readonly fullKey: string;
  readonly ifNotExists: boolean;
  readonly signal: AbortSignal | undefined;
}
