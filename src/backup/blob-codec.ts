/**
 * How a chunk's plaintext becomes the bytes stored in a pack, and back:
 *
 * ```
 * u8 format (0 raw, 1 deflate) | body          -- then, with a key, sealed whole:
 * nonce(12) | AES-256-GCM(u8 format | body) | tag(16)
 * ```
 *
 * The format byte sits inside the encryption, so it is authenticated and a reader learns
 * nothing from it. Compression is raw deflate from `node:zlib`. Camera recordings, most of
 * what a video-analytics service backs up, are already compressed: deflating them costs
 * more CPU than the backup's other work and saves nothing (level 1 runs at ~55 MB/s on
 * incompressible data, against ~2 GB/s for AES-GCM). So `auto` decides on a 16 KiB sample,
 * four 4 KiB slices spread over the chunk:
 * - bytes spread almost evenly (order-0 entropy ≥ 7.9 bits a byte: compressed video, JPEG,
 *   encrypted data) are stored raw after a 0.05 ms count;
 * - otherwise the sample is deflated at level 1 (0.2 ms), and the chunk is stored raw unless
 *   the sample shrank by 5 % or more;
 * - a deflated chunk is kept only if it shrank as much.
 * Deflating the first 64 KiB instead took 1 ms a chunk and judged it by its start alone,
 * which in a recording's first chunk is the compressible header.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { IntegrityError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { open, SEAL_OVERHEAD, sealPartsInto } from './crypto.js';

/** How blobs are encoded; one per repository. */
export interface CodecOptions {
  /** 32-byte master key: when set, every blob is sealed with AES-256-GCM. */
  key?: Uint8Array;
  /** `auto`: deflate a blob when a sample shows it compresses; `off`: store every blob raw. */
  compression: 'auto' | 'off';
  /** zlib level for blobs that are deflated, 1 (fastest) to 9 (smallest). @default 1 */
  level?: number;
}

const FORMAT_RAW = 0;
const FORMAT_DEFLATE = 1;
const HEADERS = [Uint8Array.of(FORMAT_RAW), Uint8Array.of(FORMAT_DEFLATE)] as const;
/** The slices of a chunk deflated to decide whether the whole is worth deflating. */
const PROBE_SLICES = 4;
const PROBE_SLICE_BYTES = 4096;
const PROBE_BYTES = PROBE_SLICES * PROBE_SLICE_BYTES;
/** Deflated output at most this share of its input is worth storing. */
const WORTH_STORING = 0.95;
/** Bits of entropy per byte above which a sample is taken for compressed or encrypted data. */
const UNIFORM_BITS = 7.9;

const optionsSchema = z.strictObject({
  key: z
    .custom<Uint8Array>((v) => v instanceof Uint8Array && v.length === 32, {
      message: 'a 32-byte Uint8Array',
    })
    .optional(),
  compression: z.enum(['auto', 'off']),
  level: z.number().int().min(1).max(9).default(1),
});
type ParsedOptions = Readonly<z.output<typeof optionsSchema>>;

// Options are checked once per object: a repository passes the same one for every blob.
const parsed = new WeakMap<CodecOptions, ParsedOptions>();

function parse(options: CodecOptions): ParsedOptions {
  let result = parsed.get(options);
  if (!result) {
    result = parseOptions('blob codec', optionsSchema, options);
    parsed.set(options, result);
  }
  return result;
}

/** Shannon entropy of the byte values in `data`, in bits per byte (0 to 8). */
function byteEntropy(data: Uint8Array): number {
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) {
    const byte = data[i] as number;
    counts[byte] = (counts[byte] as number) + 1;
  }
  let bits = 0;
  for (const count of counts) {
    if (count > 0) bits -= count * Math.log2(count / data.length);
  }
  return bits / data.length;
}

/** Whether a sample of `plain` suggests that deflating it pays. */
function looksCompressible(plain: Uint8Array): boolean {
  const sample = Buffer.allocUnsafe(PROBE_BYTES);
  const stride = (plain.length - PROBE_SLICE_BYTES) / (PROBE_SLICES - 1);
  for (let k = 0; k < PROBE_SLICES; k++) {
    const from = Math.floor(k * stride);
    sample.set(plain.subarray(from, from + PROBE_SLICE_BYTES), k * PROBE_SLICE_BYTES);
  }
  if (byteEntropy(sample) >= UNIFORM_BITS) return false;
  return deflateRawSync(sample, { level: 1 }).length <= PROBE_BYTES * WORTH_STORING;
}

/** `plain` deflated, or undefined when deflating it does not pay. */
function deflateIfWorthIt(plain: Uint8Array, level: number): Uint8Array | undefined {
  if (plain.length > PROBE_BYTES && !looksCompressible(plain)) return undefined;
  const deflated = deflateRawSync(plain, { level });
  return deflated.length <= plain.length * WORTH_STORING ? deflated : undefined;
}

/**
 * The stored form of a chunk: deflated when `compression` is `auto` and it compresses, then
 * sealed when there is a `key`. Options are validated on first use of each options object
 * (`E_INVALID_OPTIONS`) and that result is kept, so do not modify the object afterwards.
 */
export function encodeBlob(plain: Uint8Array, options: CodecOptions): Uint8Array {
  const out = Buffer.allocUnsafe(maxEncodedLength(plain.length));
  return out.subarray(0, encodeBlobInto(plain, options, out, 0));
}

/** The most bytes {@link encodeBlob} can make of `plainLength` bytes (it never grows data more). */
export function maxEncodedLength(plainLength: number): number {
  return 1 + plainLength + SEAL_OVERHEAD;
}

/**
 * {@link encodeBlob} writing into `out` at `offset`, which must have room for
 * {@link maxEncodedLength} bytes; returns the bytes written.
 */
export function encodeBlobInto(
  plain: Uint8Array,
  options: CodecOptions,
  out: Uint8Array,
  offset: number,
): number {
  const { key, compression, level } = parse(options);
  const deflated = compression === 'auto' ? deflateIfWorthIt(plain, level) : undefined;
  const format = deflated ? FORMAT_DEFLATE : FORMAT_RAW;
  const body = deflated ?? plain;
  if (key) return sealPartsInto(key, [HEADERS[format], body], out, offset);
  out[offset] = format;
  out.set(body, offset + 1);
  return 1 + body.length;
}

/**
 * The plaintext {@link encodeBlob} stored. With a key, any damage fails with `E_INTEGRITY`
 * naming `what` (`pack data/ab12…`); without one, only damage that breaks the format does, so
 * compare the result's SHA-256 with the chunk's id. A raw blob without a key comes back as a
 * view of `stored`.
 */
export function decodeBlob(stored: Uint8Array, options: CodecOptions, what: string): Uint8Array {
  const { key } = parse(options);
  const plain = key ? open(key, stored, what) : stored;
  if (plain.length === 0)
    throw new IntegrityError(`${what}: blob is empty, without its format byte`, {
      context: { what },
    });
  const format = plain[0];
  const body = plain.subarray(1);
  if (format === FORMAT_RAW) return body;
  if (format !== FORMAT_DEFLATE)
    throw new IntegrityError(`${what}: unknown blob format ${format}`, {
      context: { what, format },
    });
  try {
    return inflateRawSync(body);
  } catch (error) {
    throw new IntegrityError(`${what}: deflate stream is damaged`, {
      cause: error,
      context: { what },
    });
  }
}
