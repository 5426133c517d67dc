/**
 * One blob policy: objects under a prefix (recordings) whose last modification is older than
 * the policy's age are deleted in batches of keys. A first listing counts what the policy
 * matches (and refuses to empty the prefix without `allowAll`); a second listing deletes,
 * re-checking each object's time, so an object rewritten meanwhile is kept.
 */
import { InvalidOptionsError } from '../core/errors.js';
import type { ParsedBlobPolicy } from './retention-policy.js';

/** A blob policy counted for one run. */
export interface PreparedBlobPolicy {
  readonly policy: ParsedBlobPolicy;
  readonly cutoff: Date;
  readonly batchSize: number;
  readonly counts: {
    readonly total: number;
    readonly expired: number;
    readonly bytes: number;
    readonly oldest: Date | undefined;
    readonly newest: Date | undefined;
  };
}

export async function prepareBlobPolicy(
  policy: ParsedBlobPolicy,
  now: number,
  defaultBatchSize: number,
): Promise<PreparedBlobPolicy> {
  const cutoff = new Date(now - policy.maxAge);
  let total = 0;
  let expired = 0;
  let bytes = 0;
  let oldest: Date | undefined;
  let newest: Date | undefined;
  for await (const info of policy.store.list({ prefix: policy.prefix })) {
    total++;
    if (info.lastModified >= cutoff) continue;
    expired++;
    bytes += info.size;
    if (!oldest || info.lastModified < oldest) oldest = info.lastModified;
    if (!newest || info.lastModified > newest) newest = info.lastModified;
  }
  if (total > 0 && expired === total && !policy.allowAll)
    throw new InvalidOptionsError(
      `Retention policy "${policy.name}": expected a run to leave some objects under "${policy.prefix}", received a policy that matches all ${total}; pass allowAll: true to empty the prefix`,
      { context: { policy: policy.name, prefix: policy.prefix, objects: total } },
    );
  return {
    policy,
    cutoff,
    batchSize: policy.batchSize ?? defaultBatchSize,
    counts: { total, expired, bytes, oldest, newest },
  };
}

/** Progress of one blob policy's run. */
export interface BlobBatchProgress {
  readonly batches: number;
  readonly deleted: number;
  readonly bytes: number;
}

export async function expireBlobs(
  prepared: PreparedBlobPolicy,
  afterBatch: (progress: BlobBatchProgress, final: boolean) => Promise<void>,
): Promise<BlobBatchProgress> {
  const { policy, cutoff, batchSize } = prepared;
  const progress = { batches: 0, deleted: 0, bytes: 0 };
  let keys: string[] = [];
  let pendingBytes = 0;
  const flush = async (final: boolean) => {
    progress.deleted += await policy.store.delete(keys);
    progress.bytes += pendingBytes;
    progress.batches++;
    keys = [];
    pendingBytes = 0;
    await afterBatch({ ...progress }, final);
  };
  for await (const info of policy.store.list({ prefix: policy.prefix })) {
    if (info.lastModified >= cutoff) continue;
    keys.push(info.key);
    pendingBytes += info.size;
    if (keys.length >= batchSize) await flush(false);
  }
  if (keys.length > 0) await flush(true);
  return progress;
}
