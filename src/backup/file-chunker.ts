/**
 * Chunks local files the fast way: each file is read into one reused buffer, ahead of the
 * chunking, and the chunks are views of that buffer. Against a `node:fs` read stream fed to a
 * {@link Chunker} this allocates nothing per read (no fresh memory to fault in, nothing for
 * the garbage collector) and never joins a chunk that spans two reads.
 *
 * A chunk is valid only until the next one is asked for: the buffer is then refilled. Hash or
 * copy it first (the backup does both before moving on).
 */
import { open } from 'node:fs/promises';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import { Chunker, type ChunkerParams } from './chunker.js';

/** Bytes read at a time; one read is in flight while the previous bytes are chunked. */
const READ_BYTES = 8 * 1024 * 1024;

export interface FileChunkerOptions {
  /** Bytes read at a time. @default 8 MiB */
  readonly readBytes?: number;
}

export class FileChunker {
  readonly #chunker: Chunker;
  readonly #maxSize: number;
  readonly #readBytes: number;
  readonly #buffer: Uint8Array;
  #busy = false;

  constructor(params: ChunkerParams, options: FileChunkerOptions = {}) {
    this.#chunker = new Chunker(params);
    this.#maxSize = params.maxSize;
    this.#readBytes = options.readBytes ?? READ_BYTES;
    if (!Number.isSafeInteger(this.#readBytes) || this.#readBytes < 1)
      throw new InvalidArgumentError(
        `FileChunker: expected readBytes to be a positive integer, received ${describeValue(options.readBytes)}`,
      );
    // A full chunk left over, plus two reads: the tail moves to the front only once the room
    // after it is less than one read.
    this.#buffer = new Uint8Array(params.maxSize + 2 * this.#readBytes);
  }

  /**
   * The chunks of the file at `path`, each a view valid until the next is requested. One file
   * at a time: the buffer is shared.
   */
  async *chunks(path: string): AsyncIterable<Uint8Array> {
    if (this.#busy)
      throw new InvalidArgumentError(
        'FileChunker.chunks(): a file is being chunked already; the buffer serves one file at a time',
      );
    this.#busy = true;
    const buffer = this.#buffer;
    const handle = await open(path, 'r').catch((error: unknown) => {
      this.#busy = false;
      throw error;
    });
    let start = 0;
    let end = 0;
    let eof = false;
    const read = () =>
      handle
        .read(buffer, end, Math.min(this.#readBytes, buffer.length - end), null)
        .then((r) => r.bytesRead);
    let pending: Promise<number> | undefined = read();
    try {
      while (!eof) {
        const got = await pending;
        pending = undefined;
        if (got === 0) eof = true;
        end += got ?? 0;
        if (!eof && buffer.length - end < this.#readBytes) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        // Read on while the bytes already here are chunked: the read fills the room after
        // `end`, which no chunk handed out overlaps.
        if (!eof) pending = read();
        while (eof ? start < end : end - start >= this.#maxSize) {
          const cut = this.#chunker.cut(buffer, start, end, eof);
          const chunk = buffer.subarray(start, cut);
          start = cut;
          yield chunk;
        }
      }
    } finally {
      await pending?.catch(() => undefined);
      await handle.close();
      this.#busy = false;
    }
  }
}
