/**
 * A backup repository on a {@link BlobStore}, laid out like restic's:
 *
 * - `config`: id, format, encryption (see `repository-config.ts`);
 * - `data/ab/<id>`: packs of encoded chunks (`pack.ts`), ~16 MiB each;
 * - `index/<id>`: which chunk is in which pack, for the packs written by one backup;
 * - `snapshots/<id>`: manifests (`snapshot.ts`);
 * - `locks/<id>`: locks (`repository-lock.ts`).
 *
 * Every object is named by the SHA-256 of its content (snapshots: of their plaintext), and is
 * written before anything that refers to it: packs, then the index naming them, then the
 * snapshot. A backup killed at any point leaves packs no index names, never a snapshot naming
 * missing data; the next backup indexes those packs and reuses their chunks.
 */
import type { BlobStore } from '../blob/blob-store.js';
import { IntegrityError, NotFoundError, SalamaError } from '../core/errors.js';
import { decodeBlob, encodeBlob } from './blob-codec.js';
import {
  type FinishedPack,
  type PackedBlob,
  packKey,
  readPack,
  sha256,
  unpackBlob,
} from './pack.js';
import { PackWriter } from './pack-writer.js';
import {
  type InitOptions,
  initConfig,
  openConfig,
  type RepositoryConfig,
} from './repository-config.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotManifest } from './snapshot.js';

/** A chunk's place: its pack and where in it. */
export interface ChunkLocation {
  readonly pack: string;
  readonly blob: PackedBlob;
}

interface IndexFile {
  readonly packs: { readonly id: string; readonly blobs: readonly PackedBlob[] }[];
}

const PACK_CACHE = 4;

export class Repository {
  readonly store: BlobStore;
  readonly config: RepositoryConfig;
  /** Target pack size in bytes. @default 16 MiB */
  packSize = 16 * 1024 * 1024;
  readonly #index = new Map<string, ChunkLocation>();
  readonly #indexFiles = new Set<string>();
  readonly #packs = new Map<string, PackedBlob[]>();
  /** Packs the running backup stored (or adopted) that no index file names yet. */
  #unindexed: IndexFile['packs'] = [];
  readonly #packCache = new Map<string, Uint8Array>();
  #writer: PackWriter | undefined;
  /** Bumped by close(): packs stored by an earlier writer after it closed are ignored. */
  #writerGeneration = 0;
  readonly #queued = new Set<string>();

  private constructor(store: BlobStore, config: RepositoryConfig) {
    this.store = store;
    this.config = config;
  }

  /** Creates a repository in an empty store. */
  static async init(store: BlobStore, options: InitOptions = {}): Promise<Repository> {
    return new Repository(store, await initConfig(store, options));
  }

  /** Opens an existing repository; `E_BAD_KEY` for a wrong passphrase. */
  static async open(store: BlobStore, passphrase?: string): Promise<Repository> {
    return new Repository(store, await openConfig(store, passphrase));
  }

  // ---- index -------------------------------------------------------------------------------

  /**
   * Reads every index file, checking each against its name. A damaged one throws
   * `E_INTEGRITY`, or is skipped and passed to `onDamaged` when given (verify does that).
   * Packs the running backup stored or adopted stay in the index: its snapshot refers to them.
   */
  async loadIndex(onDamaged?: (key: string, error: IntegrityError) => void): Promise<void> {
    this.#index.clear();
    this.#packs.clear();
    this.#indexFiles.clear();
    for (const pack of this.#unindexed) this.#addPack(pack.id, pack.blobs);
    for await (const info of this.store.list({ prefix: 'index/' })) {
      const id = info.key.slice('index/'.length);
      let file: IndexFile;
      try {
        file = this.#readIndexFile(info.key, id, await this.store.get(info.key));
      } catch (error) {
        if (!(error instanceof IntegrityError) || !onDamaged) throw error;
        onDamaged(info.key, error);
        continue;
      }
      for (const pack of file.packs) this.#addPack(pack.id, pack.blobs);
      this.#indexFiles.add(id);
    }
  }

  #readIndexFile(key: string, id: string, stored: Uint8Array): IndexFile {
    if (sha256(stored) !== id)
      throw new IntegrityError(`index ${key} is damaged: its content does not match its name`, {
        context: { index: id },
      });
    const plain = decodeBlob(stored, this.config.codec, `index ${key}`);
    try {
      return JSON.parse(new TextDecoder().decode(plain)) as IndexFile;
    } catch (error) {
      throw new IntegrityError(`index ${key} is damaged: not JSON`, { cause: error });
    }
  }

  /** Index files read by {@link loadIndex}. */
  get indexFiles(): ReadonlySet<string> {
    return this.#indexFiles;
  }

  /** Packs the index names, with their chunks. */
  get packs(): ReadonlyMap<string, readonly PackedBlob[]> {
    return this.#packs;
  }

  has(id: string): boolean {
    return this.#index.has(id);
  }

  locate(id: string): ChunkLocation | undefined {
    return this.#index.get(id);
  }

  /** Every pack key in the store. */
  async listPackIds(): Promise<Set<string>> {
    const ids = new Set<string>();
    for await (const info of this.store.list({ prefix: 'data/' }))
      ids.add(info.key.slice(info.key.lastIndexOf('/') + 1));
    return ids;
  }

  /**
   * Indexes packs no index names (left by a killed backup) so their chunks are reused;
   * returns their ids. A damaged one is skipped (prune removes it).
   */
  async adoptUnindexedPacks(): Promise<string[]> {
    const adopted: string[] = [];
    for (const id of await this.listPackIds()) {
      if (this.#packs.has(id)) continue;
      try {
        const bytes = await this.store.get(packKey(id));
        const { blobs } = readPack(id, bytes, this.config.codec);
        this.#addPack(id, blobs);
        this.#unindexed.push({ id, blobs });
        adopted.push(id);
      } catch (error) {
        if (!SalamaError.is(error, 'E_INTEGRITY')) throw error;
      }
    }
    return adopted;
  }

  #addPack(id: string, blobs: readonly PackedBlob[]) {
    this.#packs.set(id, [...blobs]);
    for (const blob of blobs)
      if (!this.#index.has(blob.id)) this.#index.set(blob.id, { pack: id, blob });
  }

  // ---- writing -----------------------------------------------------------------------------

  /**
   * Adds a chunk unless the repository (or this backup) has it; returns whether it was new.
   * New chunks are encoded and packed on a worker thread (started by the first new chunk),
   * so a backup uses a second core; full packs are stored one at a time meanwhile.
   */
  async addChunk(id: string, plain: Uint8Array): Promise<boolean> {
    if (this.#index.has(id) || this.#queued.has(id)) return false;
    this.#writer ??= new PackWriter(this.config.codec, this.packSize, (pack) =>
      this.#storePack(pack),
    );
    this.#queued.add(id);
    await this.#writer.add(id, plain);
    return true;
  }

  async #storePack(pack: FinishedPack): Promise<void> {
    const writer = this.#writerGeneration;
    try {
      await this.store.put(packKey(pack.id), pack.bytes, { ifNotExists: true });
    } catch (error) {
      if (!SalamaError.is(error, 'E_CONFLICT')) throw error; // the same bytes are there already
    }
    // Stored after its backup ended: no index will name it, so nothing here may (a prune
    // deletes it as unreferenced; the next backup stores its chunks again).
    if (writer !== this.#writerGeneration) return;
    this.#addPack(pack.id, pack.blobs);
    this.#unindexed.push({ id: pack.id, blobs: pack.blobs });
  }

  /** Stores the last pack and an index file naming every pack stored since the last flush. */
  async flush(): Promise<void> {
    await this.#writer?.flush();
    this.#queued.clear();
    if (this.#unindexed.length === 0) return;
    await this.writeIndex(this.#unindexed);
    this.#unindexed = [];
  }

  /**
   * Ends a backup: stops the pack worker, if one runs, and forgets what was not flushed:
   * chunks added since, and packs no index names yet (the next backup adopts those still
   * stored; a prune may delete them meanwhile). Uploads still running are not waited for; one
   * that lands later is ignored, so it cannot put its pack back in the index.
   */
  async close(): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    this.#writerGeneration++;
    await writer?.close();
    this.#queued.clear();
    this.#unindexed = [];
  }

  /** Writes one index file for `packs`; returns its id. */
  async writeIndex(packs: IndexFile['packs']): Promise<string> {
    const stored = encodeBlob(
      new TextEncoder().encode(JSON.stringify({ packs })),
      this.config.codec,
    );
    const id = sha256(stored);
    try {
      await this.store.put(`index/${id}`, stored, { ifNotExists: true });
    } catch (error) {
      if (!SalamaError.is(error, 'E_CONFLICT')) throw error;
    }
    this.#indexFiles.add(id);
    return id;
  }

  // ---- reading -----------------------------------------------------------------------------

  /** A chunk's plaintext, checked against its id. `E_NOT_FOUND` when no index names it. */
  async readChunk(id: string): Promise<Uint8Array> {
    const location = this.#index.get(id);
    if (!location)
      throw new NotFoundError(
        `chunk ${id.slice(0, 16)}… is in no index of ${this.store.location}`,
        {
          context: { chunk: id },
        },
      );
    const bytes = await this.readPackBytes(location.pack);
    return unpackBlob(location.pack, bytes, location.blob, this.config.codec);
  }

  /**
   * A pack's bytes; the last few are kept for sequential reads. Not hashed whole: every chunk
   * read from it is checked against its id (and its GCM tag), which is what a restore needs;
   * `verify` checks whole packs.
   */
  async readPackBytes(id: string): Promise<Uint8Array> {
    const cached = this.#packCache.get(id);
    if (cached) return cached;
    const bytes = await this.store.get(packKey(id));
    this.#packCache.set(id, bytes);
    if (this.#packCache.size > PACK_CACHE)
      this.#packCache.delete(this.#packCache.keys().next().value as string);
    return bytes;
  }

  // ---- snapshots ---------------------------------------------------------------------------

  async saveSnapshot(manifest: Omit<SnapshotManifest, 'id'>): Promise<SnapshotManifest> {
    const { id, stored } = encodeSnapshot(manifest, this.config.codec);
    await this.store.put(`snapshots/${id}`, stored, { ifNotExists: true });
    return { ...manifest, id };
  }

  async snapshotIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const info of this.store.list({ prefix: 'snapshots/' }))
      ids.push(info.key.slice('snapshots/'.length));
    return ids;
  }

  async loadSnapshot(id: string): Promise<SnapshotManifest> {
    let stored: Uint8Array;
    try {
      stored = await this.store.get(`snapshots/${id}`);
    } catch (error) {
      if (SalamaError.is(error, 'E_NOT_FOUND'))
        throw new NotFoundError(`No snapshot ${id} in ${this.store.location}`, {
          cause: error,
          context: { snapshot: id },
        });
      throw error;
    }
    return decodeSnapshot(id, stored, this.config.codec);
  }

  /** Every snapshot, oldest first. */
  async snapshots(): Promise<SnapshotManifest[]> {
    const all = await Promise.all((await this.snapshotIds()).map((id) => this.loadSnapshot(id)));
    return all.sort((a, b) => a.time.localeCompare(b.time));
  }
}
