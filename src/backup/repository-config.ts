/**
 * The repository's `config` object: its id, format version, and how data is encoded. With
 * encryption, a random master key encrypts everything; the config holds that key wrapped by a
 * key derived from the passphrase (scrypt), so a wrong passphrase is `E_BAD_KEY` at open, and
 * the chunker's parameters are sealed with the master key (they would otherwise let someone
 * guess file contents from chunk sizes).
 */
import { randomBytes } from 'node:crypto';
import type { BlobStore } from '../blob/blob-store.js';
import {
  BadKeyError,
  ConflictError,
  IntegrityError,
  NotFoundError,
  SalamaError,
} from '../core/errors.js';
import type { CodecOptions } from './blob-codec.js';
import { type ChunkerParams, DEFAULT_CHUNKER_PARAMS } from './chunker.js';
import {
  deriveKey,
  type KdfParams,
  newKdfParams,
  open,
  seal,
  unwrapKey,
  wrapKey,
} from './crypto.js';

export const CONFIG_KEY = 'config';
const VERSION = 1;

/** What the sealed part of the config holds. */
interface Settings {
  readonly chunker: ChunkerParams;
  readonly compression: 'auto' | 'off';
}

interface StoredConfig {
  readonly format: 'salama-backup';
  readonly version: number;
  readonly id: string;
  readonly encryption: { readonly kdf: KdfParams; readonly wrappedKey: string } | null;
  /** Base64 of the sealed settings with encryption, else the settings as they are. */
  readonly settings: string | Settings;
}

/** An opened repository's identity and codec. */
export interface RepositoryConfig {
  readonly id: string;
  readonly encrypted: boolean;
  readonly chunker: ChunkerParams;
  readonly codec: CodecOptions;
}

export interface InitOptions {
  /** Encrypt everything with a key derived from this passphrase. */
  readonly passphrase?: string;
  readonly chunker?: ChunkerParams;
  /** `'auto'` compresses what compresses. @default 'auto' */
  readonly compression?: 'auto' | 'off';
}

/** Writes a new config; `E_CONFLICT` when the store already holds a repository. */
export async function initConfig(
  store: BlobStore,
  options: InitOptions,
): Promise<RepositoryConfig> {
  // An encrypted repository gets its own gear table, as restic gets its own polynomial, so
  // chunk sizes do not reveal which known files it holds.
  const seed =
    options.passphrase !== undefined ? randomBytes(4).readUInt32LE() : DEFAULT_CHUNKER_PARAMS.seed;
  const settings: Settings = {
    chunker: options.chunker ?? { ...DEFAULT_CHUNKER_PARAMS, seed },
    compression: options.compression ?? 'auto',
  };
  const id = randomBytes(16).toString('hex');
  let stored: StoredConfig;
  let key: Uint8Array | undefined;
  if (options.passphrase !== undefined) {
    const kdf = newKdfParams();
    key = new Uint8Array(randomBytes(32));
    const wrappedKey = wrapKey(await deriveKey(options.passphrase, kdf), key);
    const sealed = seal(key, new TextEncoder().encode(JSON.stringify(settings)));
    stored = {
      format: 'salama-backup',
      version: VERSION,
      id,
      encryption: { kdf, wrappedKey },
      settings: Buffer.from(sealed).toString('base64'),
    };
  } else {
    stored = { format: 'salama-backup', version: VERSION, id, encryption: null, settings };
  }
  try {
    await store.put(CONFIG_KEY, new TextEncoder().encode(JSON.stringify(stored, null, 2)), {
      ifNotExists: true,
    });
  } catch (error) {
    if (SalamaError.is(error, 'E_CONFLICT'))
      throw new ConflictError(`A backup repository already exists at ${store.location}`, {
        cause: error,
        context: { location: store.location },
      });
    throw error;
  }
  return toConfig(stored, settings, key);
}

/**
 * Reads the config; `E_NOT_FOUND` without one, `E_BAD_KEY` for a missing or wrong passphrase,
 * or for a passphrase given to an unencrypted repository.
 */
export async function openConfig(
  store: BlobStore,
  passphrase: string | undefined,
): Promise<RepositoryConfig> {
  let stored: StoredConfig;
  try {
    stored = JSON.parse(new TextDecoder().decode(await store.get(CONFIG_KEY))) as StoredConfig;
  } catch (error) {
    if (SalamaError.is(error, 'E_NOT_FOUND'))
      throw new NotFoundError(`No backup repository at ${store.location}: run init first`, {
        cause: error,
        context: { location: store.location },
      });
    if (error instanceof SyntaxError)
      throw new IntegrityError(`The repository config at ${store.location} is damaged`, {
        cause: error,
      });
    throw error;
  }
  if (stored.format !== 'salama-backup' || stored.version !== VERSION)
    throw new IntegrityError(
      `Expected a salama backup repository (format version ${VERSION}) at ${store.location}, received format ${JSON.stringify(stored.format)} version ${JSON.stringify(stored.version)}`,
      { context: { location: store.location } },
    );
  if (!stored.encryption) {
    // Someone who can write the store could swap in an unencrypted config: a client that
    // expects encryption must not go on writing plaintext.
    if (passphrase !== undefined)
      throw new BadKeyError(
        `The repository at ${store.location} is not encrypted, but a passphrase was given: refusing to open it (its config may have been replaced); open it without a passphrase if it was created unencrypted`,
        { context: { location: store.location } },
      );
    if (typeof stored.settings === 'string')
      throw new IntegrityError(`The repository config at ${store.location} is damaged`);
    return toConfig(stored, stored.settings, undefined);
  }
  if (passphrase === undefined)
    throw new BadKeyError(
      `The repository at ${store.location} is encrypted: a passphrase is needed`,
      {
        context: { location: store.location },
      },
    );
  const key = unwrapKey(
    await deriveKey(passphrase, stored.encryption.kdf),
    stored.encryption.wrappedKey,
  );
  const sealed = Buffer.from(stored.settings as string, 'base64');
  const settings = JSON.parse(
    new TextDecoder().decode(open(key, sealed, 'repository config')),
  ) as Settings;
  return toConfig(stored, settings, key);
}

function toConfig(
  stored: StoredConfig,
  settings: Settings,
  key: Uint8Array | undefined,
): RepositoryConfig {
  return {
    id: stored.id,
    encrypted: key !== undefined,
    chunker: settings.chunker,
    codec: { ...(key ? { key } : {}), compression: settings.compression },
  };
}
