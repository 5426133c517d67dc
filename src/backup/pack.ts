/**
 * Pack files: many encoded chunks in one object, so a repository holds thousands of objects
 * rather than millions. A pack is the chunks back to back, then its header (the list of chunks
 * with their offsets, encoded like a chunk: compressed, encrypted), then the header's length as
 * a 4-byte little-endian number. A pack is named by the SHA-256 of its bytes, so a changed byte
 * anywhere is found before the pack is used.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../core/errors.js';
import { type CodecOptions, decodeBlob, encodeBlob } from './blob-codec.js';

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

/** Collects encoded chunks until the pack is big enough, then finishes it. */
export class PackBuilder {
  readonly #parts: Uint8Array[] = [];
  readonly #blobs: PackedBlob[] = [];
  readonly #ids = new Set<string>();
  #size = 0;

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

  add(id: string, encoded: Uint8Array, rawLength: number): void {
    this.#ids.add(id);
    this.#blobs.push({ id, offset: this.#size, length: encoded.byteLength, rawLength });
    this.#parts.push(encoded);
    this.#size += encoded.byteLength;
  }

  /** The finished pack; the builder is empty afterwards. */
  finish(codec: CodecOptions): FinishedPack {
    const header = encodeBlob(new TextEncoder().encode(JSON.stringify(this.#blobs)), codec);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.byteLength);
    const bytes = Buffer.concat([...this.#parts, header, length]);
    const blobs = [...this.#blobs];
    this.#parts.length = 0;
    this.#blobs.length = 0;
    this.#ids.clear();
    this.#size = 0;
    return { id: sha256(bytes), bytes, blobs };
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
