/**
 * `salama/retention`: retention policies, PostgreSQL partition maintenance and database
 * maintenance on a Kysely instance (SQLite, PostgreSQL, PGlite).
 */
export {
  type ColumnInfo,
  detectDialect,
  type SqlDialect,
  type TableInfo,
} from './sql.js';
