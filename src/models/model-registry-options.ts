/**
 * What {@link ModelRegistry} takes and returns: its options (checked once, in `open`), the
 * options of its methods, and the frozen records it reads back.
 */
import { z } from 'zod';
import type { BlobStore } from '../blob/blob-store.js';
import { checkBlobKey } from '../blob/blob-store.js';
import { type Clock, systemClock } from '../core/clock.js';
import { commonOptionSchemas } from '../core/options.js';
import { type AnyKysely, isKysely } from '../retention/sql.js';
import type { ModelRegistry } from './model-registry.js';

/** One registered version of a model. Frozen; `metrics` and `tags` are as of the read. */
export interface ModelVersion {
  readonly name: string;
  /** 1, 2, 3… per model, assigned by the registry. */
  readonly version: number;
  /** Lower-case hex SHA-256 of the artifact bytes. */
  readonly sha256: string;
  /** Artifact size in bytes. */
  readonly size: number;
  /** The caller's label for the artifact's format (`'onnx'`). */
  readonly format: string | undefined;
  readonly description: string | undefined;
  /** Free-form JSON given at registration. */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  /** The `actor` given at registration. */
  readonly createdBy: string | undefined;
}

/** One change of an alias: created (`from` undefined), moved, or deleted (`to` undefined). */
export interface AliasMove {
  readonly name: string;
  readonly alias: string;
  /** The version before the move; `undefined` when the alias was new. */
  readonly from: number | undefined;
  /** The version after the move; `undefined` when the alias was deleted. */
  readonly to: number | undefined;
  readonly actor: string | undefined;
  readonly reason: string | undefined;
  readonly at: Date;
}

/** Options of {@link ModelRegistry.registerVersion}. */
export interface RegisterOptions {
  /** A label for the artifact's format, passed to `checkArtifact` (`'onnx'`). */
  format?: string;
  description?: string;
  /** Free-form JSON (a plain object); read back as a JSON round trip. @default {} */
  metadata?: Record<string, unknown>;
  /** Finite numbers by name. @default {} */
  metrics?: Record<string, number>;
  /** Strings by name. @default {} */
  tags?: Record<string, string>;
  /** Who registers it; read back as `createdBy`. */
  actor?: string;
}

/** Options of {@link ModelRegistry.setAlias} and {@link ModelRegistry.deleteAlias}. */
export interface AliasOptions {
  /** Who moves the alias; recorded in the history. */
  actor?: string;
  /** Why; recorded in the history. */
  reason?: string;
  /**
   * Compare-and-set: the version the alias must point to now (`null`: it must not exist);
   * otherwise `E_CONFLICT` naming the version it does point to, and nothing changes.
   * @default undefined (move whatever the alias points to)
   */
  expected?: number | null;
}

const isValidPrefix = (prefix: string) => {
  try {
    checkBlobKey(`${prefix}${'0'.repeat(64)}`);
    return true;
  } catch {
    return false;
  }
};

/** The schema `ModelRegistry.open` checks its options against. */
export const registryOptionsSchema = z.strictObject({
  db: z.custom<AnyKysely>(isKysely, { message: 'a Kysely instance' }),
  store: z.custom<BlobStore>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      ['put', 'get', 'head'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    { message: 'a BlobStore (put, get, head)' },
  ),
  artifactPrefix: z
    .string()
    .refine(isValidPrefix, {
      message:
        'a blob key prefix such as "models/sha256/" (no leading "/", no "." or ".." segments)',
    })
    .default('models/sha256/'),
  tablePrefix: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,39}$/, 'a SQL name of 1–40 letters, digits and "_"')
    .default('salama_model'),
  clock: commonOptionSchemas.clock.default(systemClock),
  checkArtifact: z
    .custom<NonNullable<ModelRegistryOptions['checkArtifact']>>((v) => typeof v === 'function', {
      message: 'a function (bytes, { name, format }) => void | Promise<void>',
    })
    .optional(),
});

/** Options of {@link ModelRegistry.open}. */
export interface ModelRegistryOptions {
  /** The catalogue's database (SQLite, PostgreSQL, PGlite). The caller's: never closed here. */
  db: AnyKysely;
  /** Where artifacts are stored, at `${artifactPrefix}${sha256}`. The caller's: never closed. */
  store: BlobStore;
  /** Key prefix of the artifacts in `store`. @default 'models/sha256/' */
  artifactPrefix?: string;
  /**
   * Prefix of the tables: `<prefix>_versions`, `<prefix>_aliases`, `<prefix>_alias_moves`.
   * @default 'salama_model'
   */
  tablePrefix?: string;
  /** The source of `createdAt` and alias move times. @default systemClock */
  clock?: Clock;
  /**
   * Called with an artifact before it is stored; throw to refuse it (not a valid ONNX file,
   * say). A thrown `SalamaError` passes through as it is; anything else becomes
   * `E_INVALID_ARGUMENT` with the thrown error as `cause`. @default no check
   */
  checkArtifact?: (
    bytes: Uint8Array,
    info: { name: string; format: string | undefined },
  ) => void | Promise<void>;
}

/** The options after checking, with defaults applied. */
export type ParsedRegistryOptions = z.output<typeof registryOptionsSchema>;
