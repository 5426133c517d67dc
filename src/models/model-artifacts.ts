/**
 * Model artifacts in a {@link BlobStore}, content-addressed: the key ends in the SHA-256 of
 * the bytes, so one content is stored once however many versions (or models) share it, and
 * a stored object can always be checked against its key.
 */
import { createHash } from 'node:crypto';
import type { BlobStore } from '../blob/blob-store.js';
import { ConflictError, IntegrityError, NotFoundError } from '../core/errors.js';
import type { ModelVersion } from './model-registry-options.js';

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Stores `bytes` under `key` unless the same content is there already. A racing writer of
 * the same content is harmless (`E_CONFLICT` from `ifNotExists` means the key is taken); an
 * object under the key whose content no longer matches (damaged on disk) is replaced, which
 * is safe because the key names the content.
 */
export async function storeArtifact(
  store: BlobStore,
  key: string,
  bytes: Uint8Array,
  sha256: string,
): Promise<void> {
  try {
    await store.put(key, bytes, { ifNotExists: true });
    return;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
  const existing = await store.get(key).catch((error: unknown) => {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  });
  if (existing === undefined || sha256Of(existing) !== sha256) await store.put(key, bytes);
}

/**
 * Reads a version's artifact and checks its SHA-256 and size against the catalogue. A missing
 * object or a mismatch is `E_INTEGRITY` naming the model, version, key, and the expected and
 * actual hash and size.
 */
export async function fetchArtifact(
  store: BlobStore,
  key: string,
  version: ModelVersion,
): Promise<Uint8Array> {
  const subject = `Model "${version.name}" version ${version.version}`;
  const context = { name: version.name, version: version.version, key, location: store.location };
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    throw new IntegrityError(
      `${subject}: its artifact is missing from the store (key ${JSON.stringify(key)} in ${store.location}); it was deleted after registration`,
      { cause: error, context: { ...context, expected: version.sha256, actual: undefined } },
    );
  }
  const actual = sha256Of(bytes);
  if (actual !== version.sha256 || bytes.byteLength !== version.size)
    throw new IntegrityError(
      `${subject}: the artifact at ${JSON.stringify(key)} in ${store.location} has SHA-256 ${actual} (${bytes.byteLength} bytes), expected ${version.sha256} (${version.size} bytes); it was changed or damaged after registration`,
      {
        context: {
          ...context,
          expected: version.sha256,
          actual,
          expectedSize: version.size,
          actualSize: bytes.byteLength,
        },
      },
    );
  return bytes;
}
