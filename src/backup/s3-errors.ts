/**
 * How `S3BlobStore` turns what the AWS SDK throws into salama errors, in one place so every
 * operation says the same thing: no HTTP answer at all (refused, reset, timed out) is
 * `E_BACKEND_UNAVAILABLE`; `NoSuchKey`, or a HEAD's bodiless 404, is `E_NOT_FOUND`; a failed
 * `If-None-Match` on a put is `E_CONFLICT`; anything else S3 answers is `E_BACKEND_FAILED`
 * with its code. Errors are read by shape, so this file does not load the SDK.
 */
import {
  AbortedError,
  BackendFailedError,
  BackendUnavailableError,
  ConflictError,
  NotFoundError,
  SalamaError,
} from '../core/errors.js';

/** Node's codes for a connection that could not be made or was lost. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The fields of an SDK error read here; no `httpStatusCode` means no HTTP answer arrived. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** The call that failed. */
export interface S3Call {
  /** The `S3BlobStore` method: `put`, `get`, `list`... */
  readonly operation: string;
  /** The key as the caller gave it, relative to the store's prefix. */
  readonly key: string;
  /** The store's `location`, `s3://bucket/prefix`. */
  readonly location: string;
  /** The caller's signal: once it fired, any failure is reported as `E_ABORTED`. */
  readonly signal?: AbortSignal | undefined;
}

/** True when S3 said the key does not exist: GET answers NoSuchKey, HEAD a bodiless 404. */
export function isMissingKey(error: unknown): boolean {
  const sdk = error as SdkError | undefined;
  return (
    sdk?.name === 'NoSuchKey' || (sdk?.name === 'NotFound' && sdk.$metadata?.httpStatusCode === 404)
  );
}

/** `E_CONFLICT` for a put with `ifNotExists` whose key is taken. */
export function keyTakenError(call: S3Call, cause?: unknown): ConflictError {
  return new ConflictError(
    `S3BlobStore.put(${JSON.stringify(call.key)}): an object with this key already exists and ifNotExists was set`,
    { cause, context: { key: call.key, location: call.location } },
  );
}

/** The salama error for `error`, thrown by the SDK (or by salama, returned as it is). */
export function translateS3Error(error: unknown, call: S3Call): Error {
  if (error instanceof SalamaError) return error;
  const sdk = (error ?? {}) as SdkError;
  const status = sdk.$metadata?.httpStatusCode;
  const s3Code = status === undefined ? undefined : sdk.name;
  const where = `S3BlobStore.${call.operation}(${JSON.stringify(call.key)})`;
  const context = {
    key: call.key,
    location: call.location,
    s3Code,
    httpStatus: status,
    requestId: sdk.$metadata?.requestId,
  };
  if (call.signal?.aborted || sdk.name === 'AbortError')
    return new AbortedError(`${where} was aborted`, { cause: error, context });
  if (status === undefined && (NETWORK_ERRORS.has(sdk.code ?? '') || sdk.name === 'TimeoutError'))
    return new BackendUnavailableError(
      `${where} could not reach the S3 endpoint of ${call.location}: ${sdk.message} (${sdk.code ?? sdk.name})`,
      { cause: error, context: { ...context, errno: sdk.code } },
    );
  if (isMissingKey(error))
    return new NotFoundError(
      `S3BlobStore: no object with key ${JSON.stringify(call.key)} in ${call.location}`,
      { cause: error, context },
    );
  // 409 ConditionalRequestConflict: another conditional write to the key is in progress.
  if (call.operation === 'put' && (status === 412 || s3Code === 'ConditionalRequestConflict'))
    return keyTakenError(call, error);
  const answer = status === undefined ? '' : `S3 answered ${status} ${s3Code}: `;
  return new BackendFailedError(`${where} failed: ${answer}${sdk.message}`, {
    cause: error,
    context,
  });
}
