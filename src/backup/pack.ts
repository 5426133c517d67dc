/**
 * Pack files: many encoded chunks in one object, so a repository holds thousands of objects
 * rather than millions. A pack is the chunks back to back, then its header (the list of chunks
 * with their offsets, encoded like a chunk: compressed, encrypted), then the header's length as
 * a 4-byte little-endian number. A pack is named by the SHA-256 of its bytes, so a changed byte
 * anywhere is found before the pack is used.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../core/errors.js';
import {
  type CodecOptions,
  decodeBlob,
  encodeBlob,
  encodeBlobInto,
  maxEncodedLength,
} from './blob-codec.js';

/** Where one chunk sits in its pack. */
export interface PackedBlob {
  /** The chunk's id: SHA-256 of its plaintext, hex. */
  readonly id: string;
  readonly offset: number;
  /** Stored (encoded) length. */
  readonly length: number;
  /** Plaintext length. */
  readonly rawLength: number;
}

/** A pack ready to be stored. */
export interface FinishedPack {
  readonly id: string;
  readonly bytes: Uint8Array;
  readonly blobs: readonly PackedBlob[];
}

/** The key of pack `id` in the store: `data/ab/ab12…`. */
export const packKey = (id: string) => `data/${id.slice(0, 2)}/${id}`;

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Builds one pack in a single buffer: chunks are encoded straight into it and hashed as they
 * land, so finishing a pack copies nothing. Pass a buffer from an earlier pack to reuse it (the
 * pack worker recycles them, sparing the page faults of fresh 24 MiB allocations); it grows
 * when a chunk does not fit. A builder makes one pack: after {@link finish} it is spent.
 */
export class PackBuilder {
  #buffer: Uint8Array;
  readonly #blobs: PackedBlob[] = [];
  readonly #ids = new Set<string>();
  readonly #hash = createHash('sha256');
  #size = 0;
  #finished = false;

  constructor(buffer: Uint8Array = new Uint8Array(0)) {
    this.#buffer = buffer;
  }

  /** Bytes of chunks collected so far. */
  get size(): number {
    return this.#size;
  }

  get count(): number {
    return this.#blobs.length;
  }

  /** Whether the chunk is already in this pack. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Adds a chunk already encoded (repacking copies stored chunks as they are). */
  add(id: string, encoded: Uint8Array, rawLength: number): void {
    this.#reserve(encoded.byteLength);
    this.#buffer.set(encoded, this.#size);
    this.#appended(id, encoded.byteLength, rawLength);
  }

  /** Encodes `plain` into the pack. */
  addPlain(id: string, plain: Uint8Array, codec: CodecOptions): void {
    this.#reserve(maxEncodedLength(plain.byteLength));
    const length = encodeBlobInto(plain, codec, this.#buffer, this.#size);
    this.#appended(id, length, plain.byteLength);
  }

  /** The finished pack, a view of the builder's buffer; the builder cannot be used again. */
  finish(codec: CodecOptions): FinishedPack {
    const header = encodeBlob(new TextEncoder().encode(JSON.stringify(this.#blobs)), codec);
    this.#reserve(header.byteLength + 4);
    const at = this.#size;
    this.#buffer.set(header, at);
    const view = this.#buffer;
    new DataView(view.buffer, view.byteOffset, view.byteLength).setUint32(
      at + header.byteLength,
      header.byteLength,
      true,
    );
    const bytes = this.#buffer.subarray(0, at + header.byteLength + 4);
    this.#hash.update(bytes.subarray(at));
    this.#finished = true;
    return { id: this.#hash.digest('hex'), bytes, blobs: this.#blobs };
  }

  #reserve(bytes: number) {
    if (this.#finished) throw new Error('PackBuilder: the pack is finished already');
    if (this.#size + bytes <= this.#buffer.byteLength) return;
    const grown = new Uint8Array(Math.max(this.#size + bytes, this.#buffer.byteLength * 2));
    grown.set(this.#buffer.subarray(0, this.#size));
    this.#buffer = grown;
  }

  #appended(id: string, length: number, rawLength: number) {
    this.#hash.update(this.#buffer.subarray(this.#size, this.#size + length));
    this.#ids.add(id);
    this.#blobs.push({ id, offset: this.#size, length, rawLength });
    this.#size += length;
  }
}

/** Checks a pack against its name and reads its header. */
export function readPack(
  id: string,
  bytes: Uint8Array,
  codec: CodecOptions,
): { blobs: PackedBlob[] } {
  const what = `pack ${packKey(id)}`;
  if (sha256(bytes) !== id)
    throw new IntegrityError(`${what} is damaged: its content does not match its name`, {
      context: { pack: id },
    });
  if (bytes.byteLength < 4)
    throw new IntegrityError(`${what} is truncated`, { context: { pack: id } });
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.readUInt32LE(bytes.byteLength - 4);
  const start = bytes.byteLength - 4 - headerLength;
  if (start < 0)
    throw new IntegrityError(`${what} has a bad header length`, { context: { pack: id } });
  const header = decodeBlob(bytes.subarray(start, bytes.byteLength - 4), codec, `${what} header`);
  return { blobs: JSON.parse(new TextDecoder().decode(header)) as PackedBlob[] };
}

/** Decodes one chunk of a pack already checked by {@link readPack}, checking its hash. */
export function unpackBlob(
  packId: string,
  bytes: Uint8Array,
  blob: PackedBlob,
  codec: CodecOptions,
): Uint8Array {
  const what = `chunk ${blob.id.slice(0, 16)}… in pack ${packKey(packId)}`;
  const plain = decodeBlob(bytes.subarray(blob.offset, blob.offset + blob.length), codec, what);
  if (plain.byteLength !== blob.rawLength || sha256(plain) !== blob.id)
    throw new IntegrityError(`${what} is damaged: its content does not match its id`, {
      context: { pack: packId, chunk: blob.id },
    });
  return plain;
}
