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
 * more CPU than the backup's other work and saves nothing, so `auto` first deflates a 64 KiB
 * sample at level 1 and stores the chunk raw unless the sample shrank by 5 % or more.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { IntegrityError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { open, sealParts } from './crypto.js';

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
/** Bytes of a chunk deflated to decide whether the rest is worth deflating. */
const PROBE_BYTES = 64 * 1024;
/** Deflated output at most this share of its input is worth storing. */
const WORTH_STORING = 0.95;

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

/** `plain` deflated, or undefined when deflating it does not pay. */
function deflateIfWorthIt(plain: Uint8Array, level: number): Uint8Array | undefined {
  if (plain.length > PROBE_BYTES) {
    const probe = deflateRawSync(plain.subarray(0, PROBE_BYTES), { level: 1 });
    if (probe.length > PROBE_BYTES * WORTH_STORING) return undefined;
  }
  const deflated = deflateRawSync(plain, { level });
  return deflated.length <= plain.length * WORTH_STORING ? deflated : undefined;
}

/**
 * The stored form of a chunk: deflated when `compression` is `auto` and it compresses, then
 * sealed when there is a `key`. Options are validated on first use of each options object
 * (`E_INVALID_OPTIONS`) and that result is kept, so do not modify the object afterwards.
 */
export function encodeBlob(plain: Uint8Array, options: CodecOptions): Uint8Array {
  const { key, compression, level } = parse(options);
  const deflated = compression === 'auto' ? deflateIfWorthIt(plain, level) : undefined;
  const format = deflated ? FORMAT_DEFLATE : FORMAT_RAW;
  const body = deflated ?? plain;
  if (key) return sealParts(key, [HEADERS[format], body]);
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = format;
  out.set(body, 1);
  return out;
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
