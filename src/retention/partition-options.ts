/**
 * What {@link PartitionManager} accepts and what its `run()` reports. Options are validated
 * once, at construction; the table itself is checked against them at the start of every run.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { positiveDuration } from '../core/duration.js';
import type { SalamaError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { commonOptionSchemas } from '../core/options.js';
import type { PartitionInterval } from './partition-bounds.js';
import { type RowFilter, rowFilterSchema } from './retention-policy.js';
import { type AnyKysely, isKysely } from './sql.js';

/** What `run()` does with partitions past `retention`. */
export type RetentionMode = 'drop' | 'detach';

/** Options of {@link PartitionManager}. */
export interface PartitionManagerOptions {
  /** The PostgreSQL (or PGlite) database. salama never closes it. */
  db: AnyKysely;
  /**
   * The parent table, created by the caller with `PARTITION BY RANGE (column)`; `schema.table`
   * or a bare name in the current schema. Its name plus `_p20260101` must fit PostgreSQL's
   * 63-byte identifiers.
   */
  table: string;
  /** The partition key: a `timestamptz` or `timestamp` column (a `timestamp` is read as UTC). */
  column: string;
  /** The span of one partition, in UTC: a day, an ISO week starting Monday, or a month. */
  interval: PartitionInterval;
  /**
   * Partitions kept ready after the one containing now (the clock's now, not the newest row).
   * `0` keeps only the current one.
   * @default 4
   */
  premake?: number;
  /**
   * Partitions whose upper bound is at least this far in the past are removed: milliseconds,
   * or `'90d'`, `'12w'`. Without it nothing is removed.
   */
  retention?: number | string;
  /**
   * `'drop'` drops expired partitions; `'detach'` detaches them and keeps them as ordinary
   * tables under the same name (to archive or drop later).
   * @default 'drop'
   */
  retentionMode?: RetentionMode;
  /**
   * Keep a `<table>_default` partition so rows outside every partition are stored rather than
   * rejected; `run()` moves them into proper partitions.
   * @default true
   */
  defaultPartition?: boolean;
  /**
   * `lock_timeout` of each statement that changes a partition (create, attach, drop, detach),
   * so maintenance never queues behind a long query and blocks the queries behind it.
   * @default 1000
   */
  lockTimeoutMs?: number;
  /**
   * Further tries of a statement that hit `lockTimeoutMs`, with a growing pause (50 ms,
   * doubling, at most 1 s) between tries. A partition still locked after them is reported in
   * `failed` and tried again on the next run.
   * @default 5
   */
  dropRetries?: number;
  /**
   * Rows to copy into `archive.table` before their partition is dropped or detached, or
   * before expired rows are deleted from the default partition: those matching `where`, or
   * all. The copy and the drop commit together, so each row is archived exactly once. The
   * table is created like the parent (columns and defaults) when missing.
   */
  archive?: { readonly table: string; readonly where?: RowFilter };
  /** Where "now" comes from. @default systemClock */
  clock?: Clock;
  /** A pino-compatible logger; changes are logged at `info`, skipped work at `warn`. @default silent */
  logger?: Logger;
}

export const partitionManagerOptionsSchema = z.strictObject({
  db: z.custom<AnyKysely>(isKysely, { message: 'a Kysely instance' }),
  table: z.string().min(1),
  column: z.string().min(1),
  interval: z.enum(['day', 'week', 'month']),
  premake: z.number().int().min(0).max(1000).default(4),
  retention: positiveDuration.optional(),
  retentionMode: z.enum(['drop', 'detach']).default('drop'),
  defaultPartition: z.boolean().default(true),
  lockTimeoutMs: z.number().int().min(1).max(3_600_000).default(1000),
  dropRetries: z.number().int().min(0).max(100).default(5),
  archive: z
    .strictObject({ table: z.string().min(1), where: rowFilterSchema.optional() })
    .optional(),
  clock: commonOptionSchemas.clock.optional(),
  logger: commonOptionSchemas.logger.optional(),
});

/** The options after validation: defaults filled in, `retention` in milliseconds. */
export type ParsedPartitionOptions = z.output<typeof partitionManagerOptionsSchema>;

/** Options of one {@link PartitionManager.run}. */
export interface PartitionRunOptions {
  /** Stops the run between statements; the run then rejects with `E_ABORTED`. */
  signal?: AbortSignal;
}

/** Rows moved out of the default partition into the partition of their interval. */
export interface MovedRows {
  /** The partition (or, for expired rows in `'detach'` mode, the unattached table) they went to. */
  readonly partition: string;
  readonly rows: number;
  /** False for expired rows in `'detach'` mode: their table is kept but never attached. */
  readonly attached: boolean;
}

/** Expired rows deleted from the default partition in `'drop'` mode. */
export interface DeletedRows {
  /** The partition their interval would have had. */
  readonly partition: string;
  readonly rows: number;
}

/** A partition the run could not create, fill, drop or detach; the next run tries again. */
export interface PartitionFailure {
  readonly partition: string;
  readonly action: 'create' | 'drop' | 'detach';
  /** `E_LOCKED` when the table stayed locked through every try; `E_BACKEND_FAILED` otherwise. */
  readonly error: SalamaError;
}

/** What one {@link PartitionManager.run} did. */
export interface PartitionRunReport {
  /** Partitions created and attached, the default partition included, oldest first. */
  readonly created: readonly string[];
  /** Expired partitions dropped, oldest first. */
  readonly dropped: readonly string[];
  /** Expired partitions detached and kept as tables, oldest first. */
  readonly detached: readonly string[];
  /** Rows taken out of the default partition, per destination. */
  readonly movedFromDefault: readonly MovedRows[];
  /** Expired rows found in the default partition and deleted (`'drop'` mode). */
  readonly deletedFromDefault: readonly DeletedRows[];
  /** What could not be done this time (a partition locked by a long query, a name taken). */
  readonly failed: readonly PartitionFailure[];
  /** Rows copied to the `archive` table before their partition or default rows went. */
  readonly archived: number;
  /** Set when another process held the table's maintenance lock; nothing was done. */
  readonly skipped?: 'locked';
  /** Wall-clock milliseconds the run took. */
  readonly durationMs: number;
}
