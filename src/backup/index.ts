/**
 * `salama/backup`: deduplicated, compressed, optionally encrypted snapshots of directories,
 * databases and streams in any {@link BlobStore}, with restore, verify, forget and prune; and
 * DisasterRecovery on top. The S3-compatible store is `salama/backup/s3`.
 */
export {
  type BackupOptions,
  type BackupProgress,
  type BackupReport,
  BackupService,
  type BackupServiceOptions,
} from './backup-service.js';
export { type ChunkerParams, DEFAULT_CHUNKER_PARAMS } from './chunker.js';
export {
  type RestoreDatabaseOptions,
  type RestoreDatabaseReport,
  restoreDatabase,
} from './database-restore.js';
export { type DatabaseSourceOptions, databaseSource } from './database-source.js';
export {
  DisasterRecovery,
  type DisasterRecoveryOptions,
  type HealthCheck,
  type RecoveryEvent,
  type RecoveryResult,
  type RecoveryStep,
} from './disaster-recovery.js';
export type { ForgetPolicy } from './forget-policy.js';
export type {
  ForgetCandidate,
  ForgetOptions,
  ForgetReport,
  PruneOptions,
  PruneReport,
} from './prune.js';
export type { InitOptions } from './repository-config.js';
export type { LockTiming } from './repository-lock.js';
export type { RestoreOptions, RestoreReport } from './restore.js';
export type { SnapshotManifest, SnapshotSummary, TreeEntry } from './snapshot.js';
export {
  type BackupSource,
  type PathSourceOptions,
  pathSource,
  type SourceEntry,
  streamSource,
} from './sources.js';
export type { VerifyOptions, VerifyProblem, VerifyReport } from './verify.js';
