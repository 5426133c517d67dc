/**
 * `salama/backup/s3`: the {@link BlobStore} over S3-compatible object storage. This entry
 * loads `@aws-sdk/client-s3`, an optional peer dependency: install it to use the entry.
 */
export { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';
