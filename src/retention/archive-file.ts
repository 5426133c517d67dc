/**
 * Archived rows in a blob store: gzip-compressed JSON lines, one row per line. Dates become
 * ISO strings, bigints decimal strings and byte arrays base64 strings, so any JSON reader
 * (`zcat | jq`) can open an archive without salama.
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { BlobStore } from '../blob/blob-store.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * A `JSON.stringify` replacer for database rows: bigints as decimal strings, byte arrays as
 * base64 (dates become ISO strings by themselves).
 */
export function rowJsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  // Buffer#toJSON runs before the replacer sees it; turn it back into base64.
  if (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
  )
    return Buffer.from((value as { data: number[] }).data).toString('base64');
  return value;
}

/** Encodes rows as gzip-compressed JSON lines. */
export async function encodeArchive(rows: readonly Record<string, unknown>[]): Promise<Uint8Array> {
  const text = rows.map((row) => JSON.stringify(row, rowJsonValue)).join('\n');
  return new Uint8Array(await gzipAsync(Buffer.from(`${text}\n`, 'utf8'), { level: 6 }));
}

/** Decodes an archive written by {@link encodeArchive}. */
export async function decodeArchive(bytes: Uint8Array): Promise<Record<string, unknown>[]> {
  const text = (await gunzipAsync(bytes)).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Reads the rows of one archive object. */
export async function readArchive(
  store: BlobStore,
  key: string,
): Promise<Record<string, unknown>[]> {
  return decodeArchive(await store.get(key));
}
