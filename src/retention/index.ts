/**
 * `salama/retention`: retention policies, PostgreSQL partition maintenance and database
 * maintenance on a Kysely instance (SQLite, PostgreSQL, PGlite).
 */

export { decodeArchive, encodeArchive, readArchive } from './archive-file.js';
export {
  DatabaseMaintenance,
  type DatabaseMaintenanceOptions,
  type MaintenanceOperation,
  type MaintenanceProgress,
  type MaintenanceReport,
  type MaintenanceRunOptions,
  type MaintenanceStep,
  type MaintenanceStepStatus,
  WHOLE_DATABASE,
} from './database-maintenance.js';
export type { PartitionInterval } from './partition-bounds.js';
export { PartitionManager } from './partition-manager.js';
export type {
  DeletedRows,
  MovedRows,
  PartitionFailure,
  PartitionManagerOptions,
  PartitionRunOptions,
  PartitionRunReport,
  RetentionMode,
} from './partition-options.js';
export {
  RetentionManager,
  type RetentionManagerOptions,
  type RetentionPolicyReport,
  type RetentionProgress,
  type RetentionReport,
  type RetentionRunOptions,
} from './retention-manager.js';
export type {
  ArchiveTarget,
  BlobRetentionPolicy,
  RetentionPolicy,
  RowFilter,
  TableRetentionPolicy,
  TimestampFormat,
} from './retention-policy.js';
export {
  type ColumnInfo,
  detectDialect,
  type SqlDialect,
  type TableInfo,
} from './sql.js';
