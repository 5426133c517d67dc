/**
 * The repository's cryptography, all from `node:crypto` (OpenSSL, with AES-NI and SHA-NI
 * where the CPU has them):
 * - chunks are named by the SHA-256 of their plaintext ({@link chunkId});
 * - data is sealed with AES-256-GCM under a random 96-bit nonce ({@link seal}, {@link open});
 * - a random master key seals the data, and each passphrase wraps that key with a key derived
 *   by scrypt ({@link deriveKey}, {@link wrapKey}), so a passphrase can be added or changed
 *   without re-encrypting anything.
 *
 * Random nonces are safe for up to 2^32 seals per key (NIST SP 800-38D), some 4 PiB of
 * 1 MiB chunks.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  randomFillSync,
  scrypt,
} from 'node:crypto';
import {
  BadKeyError,
  describeValue,
  IntegrityError,
  InvalidArgumentError,
} from '../core/errors.js';

/** scrypt's cost and salt, stored beside each wrapped key. */
export interface KdfParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
  /** Random salt, base64. */
  salt: string;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes {@link seal} adds to its plaintext: the nonce and the tag. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** What a wrapped key is bound to, so a sealed chunk cannot pass for a key. */
const KEY_WRAP_AAD = Buffer.from('salama/backup/master-key/v1', 'utf8');

/**
 * New scrypt parameters: N = 2^15, r = 8, p = 1 (32 MiB of memory and about 0.1 s per
 * derivation on a current server core, the cost restic calibrates to), and a random 32-byte
 * salt.
 */
export function newKdfParams(): KdfParams {
  return { N: 2 ** 15, r: 8, p: 1, salt: randomBytes(32).toString('base64') };
}

/** The parameters' salt, or `E_INVALID_ARGUMENT` when they are out of range. */
function checkKdfParams(params: KdfParams): Buffer {
  const fail = (field: string, expected: string, received: unknown): never => {
    throw new InvalidArgumentError(
      `Invalid KDF parameters: ${field} expected ${expected}, received ${describeValue(received)}`,
      { context: { field, expected } },
    );
  };
  const { N, r, p, salt } = params ?? ({} as KdfParams);
  if (!Number.isInteger(N) || N < 2 || N > 2 ** 22 || (N & (N - 1)) !== 0)
    fail('N', 'a power of two from 2 to 2^22', N);
  if (!Number.isInteger(r) || r < 1 || r > 32) fail('r', 'an integer from 1 to 32', r);
  if (!Number.isInteger(p) || p < 1 || p > 16) fail('p', 'an integer from 1 to 16', p);
  if (128 * N * r > 2 ** 30) fail('N × r', 'at most 2^23 (1 GiB of scrypt memory)', N * r);
  if (typeof salt !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(salt))
    fail('salt', 'a base64 string', salt);
  const bytes = Buffer.from(salt, 'base64');
  if (bytes.length < 16) fail('salt', 'at least 16 bytes', bytes);
  return bytes;
}

/**
 * The 32-byte key scrypt derives from `passphrase` (UTF-8) with `params`, computed on the
 * libuv thread pool. `E_INVALID_ARGUMENT` for parameters out of range (N a power of two up to
 * 2^22, r ≤ 32, p ≤ 16, at most 1 GiB of memory, a salt of 16 bytes or more).
 */
export async function deriveKey(passphrase: string, params: KdfParams): Promise<Uint8Array> {
  if (typeof passphrase !== 'string')
    throw new InvalidArgumentError(
      `deriveKey(): expected a passphrase string, received ${describeValue(passphrase)}`,
    );
  const salt = checkKdfParams(params);
  const { N, r, p } = params;
  // What OpenSSL allocates: the p blocks of 128·r bytes and the 128·r·(N + 2) table.
  const maxmem = 128 * r * (N + p + 2);
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, KEY_BYTES, { N, r, p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

function checkKey(key: Uint8Array, operation: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES)
    throw new InvalidArgumentError(
      `${operation}(): expected a 32-byte key, received ${describeValue(key)}`,
    );
}

/**
 * Seals the concatenation of `parts` under `key`: nonce ‖ ciphertext ‖ tag. The parts are
 * encrypted in turn, so a caller with a header and a body need not join them first.
 */
export function sealParts(
  key: Uint8Array,
  parts: readonly Uint8Array[],
  aad?: Uint8Array,
): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = Buffer.allocUnsafe(NONCE_BYTES + total + TAG_BYTES);
  sealPartsInto(key, parts, out, 0, aad);
  return out;
}

/**
 * {@link sealParts} writing nonce ‖ ciphertext ‖ tag into `out` at `offset` (which must have
 * room for the parts plus {@link SEAL_OVERHEAD}); returns the bytes written. Packs are built
 * this way, straight into a reused buffer.
 */
export function sealPartsInto(
  key: Uint8Array,
  parts: readonly Uint8Array[],
  out: Uint8Array,
  offset: number,
  aad?: Uint8Array,
): number {
  checkKey(key, 'seal');
  const nonce = out.subarray(offset, offset + NONCE_BYTES);
  randomFillSync(nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) cipher.setAAD(aad);
  let at = offset + NONCE_BYTES;
  for (const part of parts) {
    const encrypted = cipher.update(part);
    out.set(encrypted, at);
    at += encrypted.length;
  }
  cipher.final();
  out.set(cipher.getAuthTag(), at);
  return at + TAG_BYTES - offset;
}

/**
 * Encrypts and authenticates `plaintext` with AES-256-GCM under a random 12-byte nonce:
 * returns nonce ‖ ciphertext ‖ 16-byte tag, {@link SEAL_OVERHEAD} bytes longer than the
 * plaintext. `aad` is authenticated but not stored; {@link open} needs the same.
 */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  return sealParts(key, [plaintext], aad);
}

/**
 * The plaintext of what {@link seal} returned. A changed byte, a truncation, another key or
 * another `aad` fail with `E_INTEGRITY` naming `what` (`pack data/ab12…`); no plaintext is
 * returned before the tag has been checked.
 */
export function open(
  key: Uint8Array,
  sealed: Uint8Array,
  what: string,
  aad?: Uint8Array,
): Uint8Array {
  checkKey(key, 'open');
  if (sealed.length < SEAL_OVERHEAD)
    throw new IntegrityError(
      `${what}: sealed data of ${sealed.length} bytes is shorter than its nonce and tag`,
      { context: { what, bytes: sealed.length } },
    );
  const tagAt = sealed.length - TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
  decipher.setAuthTag(sealed.subarray(tagAt));
  if (aad) decipher.setAAD(aad);
  const plaintext = decipher.update(sealed.subarray(NONCE_BYTES, tagAt));
  try {
    decipher.final();
  } catch (error) {
    throw new IntegrityError(`${what}: authentication failed`, {
      cause: error,
      context: { what },
    });
  }
  return plaintext;
}

/** `masterKey` sealed under a passphrase's key, as base64 for a key file. */
export function wrapKey(passphraseKey: Uint8Array, masterKey: Uint8Array): string {
  checkKey(masterKey, 'wrapKey');
  return Buffer.from(seal(passphraseKey, masterKey, KEY_WRAP_AAD)).toString('base64');
}

/**
 * The master key that {@link wrapKey} wrapped. A key derived from another passphrase fails
 * with `E_BAD_KEY`; so does a wrapped key that was altered, which is indistinguishable. A
 * string that cannot be a wrapped key at all fails with `E_INTEGRITY`.
 */
export function unwrapKey(passphraseKey: Uint8Array, wrapped: string): Uint8Array {
  const sealed = typeof wrapped === 'string' ? Buffer.from(wrapped, 'base64') : undefined;
  if (!sealed || sealed.length !== SEAL_OVERHEAD + KEY_BYTES)
    throw new IntegrityError(
      `wrapped key: expected base64 of ${SEAL_OVERHEAD + KEY_BYTES} bytes, received ${describeValue(wrapped)}`,
      { context: { what: 'wrapped key' } },
    );
  try {
    return open(passphraseKey, sealed, 'wrapped key', KEY_WRAP_AAD);
  } catch (error) {
    if (!(error instanceof IntegrityError)) throw error;
    throw new BadKeyError('the passphrase does not open this repository', { cause: error });
  }
}

/** A chunk's name: the SHA-256 of its plaintext, 64 lowercase hex digits. */
export function chunkId(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
