/**
 * Retention policies as users write them, and their validation. A policy either expires rows
 * of a table (`kind: 'table'`, the default) or objects under a prefix of a {@link BlobStore}
 * (`kind: 'blob'`, recordings). Structural checks happen here, at construction; checks that
 * need the database (the table and its columns exist, the filter compiles) happen at the start
 * of every run, before anything is deleted.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import { z } from 'zod';
import type { BlobStore } from '../blob/blob-store.js';
import { positiveDuration } from '../core/duration.js';

/**
 * A row filter written with Kysely's expression builder:
 * `(eb) => eb('status', '=', 'resolved')`.
 */
// biome-ignore lint/suspicious/noExplicitAny: filters are written against the caller's schema
export type RowFilter = (eb: ExpressionBuilder<any, any>) => Expression<SqlBool>;

/**
 * How a timestamp column stores time. `native`: a PostgreSQL `timestamp[tz]`/`date`.
 * `epoch-ms`/`epoch-s`: an integer. `iso`: ISO 8601 text (`2026-11-23T10:00:00.000Z`).
 * `sqlite-datetime`: SQLite's `CURRENT_TIMESTAMP` text (`2026-11-23 10:00:00`, UTC). On SQLite
 * `iso` and `sqlite-datetime` are read alike, so one column may hold both layouts.
 */
export type TimestampFormat = 'native' | 'epoch-ms' | 'epoch-s' | 'iso' | 'sqlite-datetime';

/** Where archived rows go: another table, or compressed JSON lines in a blob store. */
export type ArchiveTarget =
  | { readonly table: string }
  | { readonly store: BlobStore; readonly prefix?: string };

/** Expire rows of a table older than `maxAge`. */
export interface TableRetentionPolicy {
  readonly kind?: 'table';
  /** Unique among the manager's policies; names the policy in reports, leases and archives. */
  readonly name: string;
  /** The table (`schema.table` on PostgreSQL). */
  readonly table: string;
  /** The column holding each row's time. */
  readonly timestampColumn: string;
  /** Rows older than this are expired: milliseconds or `'90d'`, `'12h'`. */
  readonly maxAge: number | string;
  /** Only rows matching this filter expire (`status = 'resolved'`). */
  readonly where?: RowFilter;
  /**
   * Rows to copy before deleting them. `where` narrows the expired rows to archive (for
   * example `severity = 'critical'`); without it every expired row is archived.
   */
  readonly archive?: { readonly where?: RowFilter; readonly to: ArchiveTarget };
  /** A unique, ordered column to walk in key ranges. @default the single-column primary key (SQLite: `rowid`) */
  readonly keyColumn?: string;
  /** Read from the column's declared type when not given; see {@link TimestampFormat}. */
  readonly timestampFormat?: TimestampFormat;
  /** Rows per batch (one short statement or transaction each). @default the manager's batchSize */
  readonly batchSize?: number;
  /** Allow a run that would delete every row of the table. @default false */
  readonly allowAll?: boolean;
}

/** Expire objects under a blob-store prefix whose last modification is older than `maxAge`. */
export interface BlobRetentionPolicy {
  readonly kind: 'blob';
  readonly name: string;
  readonly store: BlobStore;
  /** Only objects whose key starts with this (`recordings/`). */
  readonly prefix: string;
  readonly maxAge: number | string;
  /** Objects per delete call. @default the manager's batchSize */
  readonly batchSize?: number;
  /** Allow a run that would delete every object under the prefix. @default false */
  readonly allowAll?: boolean;
}

export type RetentionPolicy = TableRetentionPolicy | BlobRetentionPolicy;

const identifier = z.string().min(1).max(128);
/** A {@link RowFilter} option. */
export const rowFilterSchema = z.custom<RowFilter>((v) => typeof v === 'function', {
  message: "a function (eb) => expression, such as (eb) => eb('status', '=', 'resolved')",
});
const blobStore = z.custom<BlobStore>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    ['put', 'get', 'list', 'delete'].every(
      (m) => typeof (v as Record<string, unknown>)[m] === 'function',
    ),
  { message: 'a BlobStore (put, get, list, delete)' },
);
const batchSize = z.number().int().min(1).max(10_000);

const archiveTarget = z.union([
  z.strictObject({ table: identifier }),
  z.strictObject({ store: blobStore, prefix: z.string().default('') }),
]);

const tablePolicy = z.strictObject({
  kind: z.literal('table'),
  name: identifier,
  table: identifier,
  timestampColumn: identifier,
  maxAge: positiveDuration,
  where: rowFilterSchema.optional(),
  archive: z.strictObject({ where: rowFilterSchema.optional(), to: archiveTarget }).optional(),
  keyColumn: identifier.optional(),
  timestampFormat: z.enum(['native', 'epoch-ms', 'epoch-s', 'iso', 'sqlite-datetime']).optional(),
  batchSize: batchSize.optional(),
  allowAll: z.boolean().default(false),
});

const blobPolicy = z.strictObject({
  kind: z.literal('blob'),
  name: identifier,
  store: blobStore,
  prefix: z.string(),
  maxAge: positiveDuration,
  batchSize: batchSize.optional(),
  allowAll: z.boolean().default(false),
});

/** A table policy after validation: durations in milliseconds, defaults filled in. */
export type ParsedTablePolicy = z.output<typeof tablePolicy>;
/** A blob policy after validation. */
export type ParsedBlobPolicy = z.output<typeof blobPolicy>;
export type ParsedPolicy = ParsedTablePolicy | ParsedBlobPolicy;

export const policySchema = z.preprocess(
  (value) =>
    typeof value === 'object' && value !== null && !('kind' in value)
      ? { kind: 'table', ...value }
      : value,
  z.discriminatedUnion('kind', [tablePolicy, blobPolicy]),
);

export const policyDefaults = { batchSize };
