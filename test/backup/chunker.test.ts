import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Chunker,
  type ChunkerParams,
  chunkStream,
  DEFAULT_CHUNKER_PARAMS,
} from '../../src/backup/chunker.js';
import { FileChunker } from '../../src/backup/file-chunker.js';
import { SalamaError } from '../../src/core/errors.js';
import { mulberry32 as prng } from '../support/random.js';

const MiB = 1024 * 1024;
const SMALL: ChunkerParams = { minSize: 256, avgSize: 1024, maxSize: 8192, seed: 7 };

/** Reproducible incompressible bytes: an AES-CTR keystream keyed by `seed`. */
function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const key = createHash('sha256').update(`chunker test ${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

function chunkAll(data: Uint8Array, params: ChunkerParams, pieces?: number[]): Uint8Array[] {
  const chunker = new Chunker(params);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const size of pieces ?? [data.length]) {
    chunks.push(...chunker.push(data.subarray(offset, offset + size)));
    offset += size;
  }
  chunks.push(...chunker.push(data.subarray(offset)), ...chunker.finish());
  return chunks;
}

/** Random piece sizes that add up to at most `total`, including empty and 1-byte pieces. */
function randomPieces(total: number, maxPiece: number, seed: number): number[] {
  const next = prng(seed);
  const pieces: number[] = [];
  let sum = 0;
  while (sum < total) {
    const r = next();
    const size = r < 0.05 ? 0 : r < 0.1 ? 1 : Math.floor(next() * maxPiece);
    pieces.push(Math.min(size, total - sum));
    sum += size;
  }
  return pieces;
}

const hashOf = (chunk: Uint8Array) => createHash('sha256').update(chunk).digest('hex');
const lengths = (chunks: Uint8Array[]) => chunks.map((c) => c.length);

describe('Chunker', () => {
  it('cuts the same bytes into the same chunks however push() splits them', () => {
    const data = pseudoRandomBytes(512 * 1024);
    const whole = chunkAll(data, SMALL).map(hashOf);
    expect(whole.length).toBeGreaterThan(200);
    for (let seed = 1; seed <= 20; seed++) {
      const split = chunkAll(data, SMALL, randomPieces(data.length, 3000, seed));
      expect(split.map(hashOf)).toEqual(whole);
    }
  });

  it('cuts the same bytes into the same chunks however push() splits them, default params', () => {
    const data = pseudoRandomBytes(24 * MiB, 2);
    const whole = chunkAll(data, DEFAULT_CHUNKER_PARAMS).map(hashOf);
    expect(whole.length).toBeGreaterThan(10);
    for (let seed = 1; seed <= 3; seed++) {
      const split = chunkAll(
        data,
        DEFAULT_CHUNKER_PARAMS,
        randomPieces(data.length, 300 * 1024, seed),
      );
      expect(split.map(hashOf)).toEqual(whole);
    }
  });

  it('puts every byte in exactly one chunk, each between minSize and maxSize but the last', () => {
    for (const params of [SMALL, { ...SMALL, maxSize: 1100 }]) {
      const data = pseudoRandomBytes(300 * 1024 + 17, 3);
      const chunks = chunkAll(data, params, randomPieces(data.length, 5000, 9));
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      const sizes = lengths(chunks);
      const last = sizes.pop() as number;
      for (const size of sizes) {
        expect(size).toBeGreaterThanOrEqual(params.minSize);
        expect(size).toBeLessThanOrEqual(params.maxSize);
      }
      expect(last).toBeGreaterThan(0);
      expect(last).toBeLessThanOrEqual(params.maxSize);
    }
  });

  it('cuts at maxSize when the content offers no cut point', () => {
    const tight = { ...SMALL, maxSize: 1100 };
    const sizes = lengths(chunkAll(pseudoRandomBytes(300 * 1024, 4), tight));
    expect(sizes.filter((s) => s === 1100).length).toBeGreaterThan(sizes.length / 2);

    const zeros = lengths(chunkAll(new Uint8Array(20 * 8192), SMALL));
    expect(zeros).toEqual(new Array(20).fill(8192));
  });

  it('makes chunks of about 1.2 × avgSize on random data', () => {
    const small = { minSize: 4096, avgSize: 8192, maxSize: 65536, seed: 11 };
    const sizes = lengths(chunkAll(pseudoRandomBytes(16 * MiB, 5), small));
    const mean = (16 * MiB) / sizes.length;
    expect(mean).toBeGreaterThan(1.1 * 8192);
    expect(mean).toBeLessThan(1.3 * 8192);

    const big = lengths(chunkAll(pseudoRandomBytes(64 * MiB, 6), DEFAULT_CHUNKER_PARAMS));
    const bigMean = (64 * MiB) / big.length;
    expect(bigMean).toBeGreaterThan(1.05 * MiB);
    expect(bigMean).toBeLessThan(1.35 * MiB);
  });

  it('keeps the chunks after an insertion: only those around it change', () => {
    const original = pseudoRandomBytes(32 * MiB, 8);
    const at = 5 * MiB;
    const edited = Buffer.concat([
      original.subarray(0, at),
      pseudoRandomBytes(100, 9),
      original.subarray(at),
    ]);
    const before = chunkAll(original, DEFAULT_CHUNKER_PARAMS).map(hashOf);
    const after = chunkAll(edited, DEFAULT_CHUNKER_PARAMS).map(hashOf);
    expect(before.length).toBeGreaterThan(20);

    const known = new Set(before);
    const changed = after.filter((id) => !known.has(id));
    expect(changed.length).toBeGreaterThanOrEqual(1);
    expect(changed.length).toBeLessThanOrEqual(2);
    // Chunks wholly before the insertion are untouched, and so is everything after the resync.
    const firstChanged = after.indexOf(changed[0] as string);
    expect(after.slice(0, firstChanged)).toEqual(before.slice(0, firstChanged));
    expect(firstChanged).toBeGreaterThanOrEqual(3);
    const tail = after.length - firstChanged - changed.length;
    expect(tail).toBeGreaterThan(15);
    expect(after.slice(after.length - tail)).toEqual(before.slice(before.length - tail));
  });

  it('cuts identically with equal params and elsewhere with another seed', () => {
    const data = pseudoRandomBytes(256 * 1024, 10);
    const a = lengths(chunkAll(data, SMALL));
    expect(lengths(chunkAll(data, { ...SMALL }))).toEqual(a);
    expect(lengths(chunkAll(data, { ...SMALL, seed: SMALL.seed + 1 }))).not.toEqual(a);
  });

  it('returns the tail once from finish() and then chunks a new stream afresh', () => {
    const chunker = new Chunker(SMALL);
    const short = pseudoRandomBytes(200, 12);
    expect(chunker.push(short)).toEqual([]);
    expect(chunker.finish().map(hashOf)).toEqual([hashOf(short)]);
    expect(chunker.finish()).toEqual([]);

    const data = pseudoRandomBytes(64 * 1024, 13);
    const reused = [...chunker.push(data), ...chunker.finish()];
    expect(reused.map(hashOf)).toEqual(chunkAll(data, SMALL).map(hashOf));
  });

  it('has no chunks for an empty stream', () => {
    const chunker = new Chunker(SMALL);
    expect(chunker.push(new Uint8Array(0))).toEqual([]);
    expect(chunker.finish()).toEqual([]);
  });

  it('returns a chunk that lies within one push() as a view of its data', () => {
    const data = pseudoRandomBytes(64 * 1024, 14);
    const [first] = new Chunker(SMALL).push(data);
    expect(first?.buffer).toBe(data.buffer);
  });

  it('rejects params that are out of order or out of range, saying what was expected', () => {
    const bad = (params: unknown, message: RegExp) => {
      let error: unknown;
      try {
        new Chunker(params as ChunkerParams);
      } catch (e) {
        error = e;
      }
      expect(SalamaError.is(error, 'E_INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toMatch(message);
    };
    bad(
      { ...SMALL, avgSize: 256 },
      /avgSize: expected a size greater than minSize \(256\), received number 256/,
    );
    bad(
      { ...SMALL, maxSize: 1024 },
      /maxSize: expected a size greater than avgSize \(1024\), received number 1024/,
    );
    bad({ ...SMALL, minSize: 0 }, /minSize: expected number >= 64, received number 0/);
    bad({ ...SMALL, avgSize: 2 ** 29 }, /avgSize: expected number <= 268435456/);
    bad({ ...SMALL, seed: -1 }, /seed: expected number >= 0, received number -1/);
    bad({ ...SMALL, seed: 2 ** 32 }, /seed: expected number <= 4294967295/);
    bad({ ...SMALL, seed: 1.5 }, /seed: expected an integer, received number 1.5/);
    bad({ ...SMALL, window: 64 }, /window: expected no such option/);
    bad({ minSize: 256, avgSize: 1024, maxSize: 8192 }, /seed: expected number/);
  });

  it('rejects data that is not bytes', () => {
    const chunker = new Chunker(SMALL);
    expect(() => chunker.push('text' as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
    );
  });
});

describe('chunkStream', () => {
  it('yields the chunks a Chunker cuts from the whole stream', async () => {
    const data = pseudoRandomBytes(8 * MiB, 15);
    async function* source() {
      let offset = 0;
      for (const size of randomPieces(data.length, 128 * 1024, 16)) {
        yield data.subarray(offset, offset + size);
        offset += size;
      }
    }
    const streamed: string[] = [];
    for await (const chunk of chunkStream(source(), DEFAULT_CHUNKER_PARAMS))
      streamed.push(hashOf(chunk));
    expect(streamed).toEqual(chunkAll(data, DEFAULT_CHUNKER_PARAMS).map(hashOf));
    expect(streamed.length).toBeGreaterThan(3);
  });

  it('checks params before reading the source', async () => {
    let read = false;
    async function* source() {
      read = true;
      yield new Uint8Array(1);
    }
    const chunks = chunkStream(source(), { ...SMALL, maxSize: 2 });
    await expect(chunks[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'E_INVALID_OPTIONS',
    });
    expect(read).toBe(false);
  });
});

describe('FileChunker', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'salama-file-chunker-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fileChunks(chunker: FileChunker, data: Uint8Array, name: string) {
    const path = join(dir, name);
    await writeFile(path, data);
    const hashes: string[] = [];
    // Each chunk is hashed before the next is asked for, as a view it is valid only until then.
    for await (const chunk of chunker.chunks(path)) hashes.push(hashOf(chunk));
    return hashes;
  }

  it('cuts a file where a Chunker cuts the same bytes, whatever the read size', async () => {
    // Random bytes with a run of zeros (no cut point: maxSize cuts) in the middle.
    const data = Buffer.concat([
      pseudoRandomBytes(150_000, 17),
      Buffer.alloc(40_000),
      pseudoRandomBytes(90_001, 18),
    ]);
    const expected = chunkAll(data, SMALL).map(hashOf);
    expect(expected.length).toBeGreaterThan(50);
    // 13 and 999 bytes (odd, smaller than minSize): every refill and move path runs.
    for (const readBytes of [13, 999, 8192, 1 << 20]) {
      const chunker = new FileChunker(SMALL, { readBytes });
      expect(await fileChunks(chunker, data, `mixed-${readBytes}`)).toEqual(expected);
      // The same chunker, reused for the next file, starts afresh.
      const second = pseudoRandomBytes(30_000, 19);
      expect(await fileChunks(chunker, second, `second-${readBytes}`)).toEqual(
        chunkAll(second, SMALL).map(hashOf),
      );
    }
  });

  it('handles files empty, shorter than minSize, and exactly maxSize long', async () => {
    const chunker = new FileChunker(SMALL, { readBytes: 4096 });
    for (const length of [
      0,
      1,
      SMALL.minSize,
      SMALL.minSize + 1,
      SMALL.maxSize,
      3 * SMALL.maxSize,
    ]) {
      const data = length ? Buffer.alloc(length, 7) : Buffer.alloc(0);
      const expected = chunkAll(data, SMALL).map(hashOf);
      expect(await fileChunks(chunker, data, `len-${length}`)).toEqual(expected);
    }
  });

  it('cuts like a Chunker with the default params across its 8 MiB reads', async () => {
    const data = pseudoRandomBytes(40 * MiB, 20);
    expect(await fileChunks(new FileChunker(DEFAULT_CHUNKER_PARAMS), data, 'big')).toEqual(
      chunkAll(data, DEFAULT_CHUNKER_PARAMS).map(hashOf),
    );
  });

  it('serves one file at a time, closes the file when the caller stops early, and reports a missing file', async () => {
    const chunker = new FileChunker(SMALL, { readBytes: 1000 });
    const path = join(dir, 'early');
    await writeFile(path, pseudoRandomBytes(100_000, 21));
    const first = chunker.chunks(path)[Symbol.asyncIterator]();
    await first.next();
    await expect(chunker.chunks(path)[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await first.return?.();
    // Stopped early: the chunker is free again.
    expect(
      (await fileChunks(chunker, pseudoRandomBytes(5000, 22), 'after')).length,
    ).toBeGreaterThan(0);
    await expect(
      chunker.chunks(join(dir, 'missing'))[Symbol.asyncIterator]().next(),
    ).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(
      (await fileChunks(chunker, pseudoRandomBytes(5000, 23), 'after-missing')).length,
    ).toBeGreaterThan(0);
    expect(() => new FileChunker(SMALL, { readBytes: 0 })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringContaining('readBytes'),
      }),
    );
  });
});
