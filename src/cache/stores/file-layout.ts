/** How `FileStore` lays a record out on disk: the file's bytes, its shard and its name. */
import { createHash } from 'node:crypto';

/** Keys whose base64url form is longer than this are stored under their SHA-256. */
const MAX_NAME_CHARS = 180;
/**
 * File layout: `u32 key length | key (utf-8) | f64 physical expiry (ms, Infinity = none) |
 * record`. The key is kept in the file so hashed names can still be cleared by prefix.
 */
export function frame(key: string, record: Uint8Array, expiresAt: number): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const out = Buffer.allocUnsafe(12 + keyBytes.byteLength + record.byteLength);
  out.writeUInt32LE(keyBytes.byteLength, 0);
  out.set(keyBytes, 4);
  out.writeDoubleLE(expiresAt, 4 + keyBytes.byteLength);
  out.set(record, 12 + keyBytes.byteLength);
  return out;
}

export function unframe(file: Buffer): { key: string; expiresAt: number; record: Buffer } {
  const keyLength = file.readUInt32LE(0);
  return {
    key: file.toString('utf8', 4, 4 + keyLength),
    expiresAt: file.readDoubleLE(4 + keyLength),
    record: file.subarray(12 + keyLength),
  };
}

/** FNV-1a of the key, folded to one of 256 shard directories. */
export function shardOf(key: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return ((hash ^ (hash >>> 8) ^ (hash >>> 16) ^ (hash >>> 24)) & 0xff)
    .toString(16)
    .padStart(2, '0');
}

export function fileNameOf(key: string): string {
  const encoded = Buffer.from(key, 'utf8').toString('base64url');
  return encoded.length <= MAX_NAME_CHARS
    ? `k${encoded}`
    : `h${createHash('sha256').update(key).digest('hex')}`;
}
