/**
 * `salama/blob`: the {@link BlobStore} contract and its local-directory implementation.
 * The S3-compatible store lives in `salama/backup/s3`.
 */
export {
  type BlobInfo,
  type BlobListOptions,
  type BlobPutOptions,
  type BlobStore,
  checkBlobKey,
  collectBytes,
  compareBlobKeys,
} from './blob-store.js';
export { LocalBlobStore, type LocalBlobStoreOptions } from './local-blob-store.js';
