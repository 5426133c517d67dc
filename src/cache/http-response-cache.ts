import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { BackendFailedError } from '../core/errors.js';
import type { CacheApi } from './cache-api.js';
import type { CacheFetchState } from './cache-events.js';
import type { GetOrSetOptions } from './cache-options.js';

/** A response to send and, when its status is cacheable, to cache. */
export interface HttpResponseData {
  /** @default 200 */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

/** Options of {@link serveCached}. */
export interface ServeCachedOptions extends GetOrSetOptions {
  /** Statuses that are cached; others are sent and forgotten. @default [200, 203, 204, 300, 301, 404, 410] */
  cacheableStatuses?: readonly number[];
}

/** The cached form: JSON-serialisable, body as base64. */
interface StoredResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly etag: string;
}

const DEFAULT_CACHEABLE: readonly number[] = [200, 203, 204, 300, 301, 404, 410];

/**
 * Thrown by the loader for a response that must not be stored: the cache stores nothing, and
 * every request that joined the same load receives this error, so each can send the response.
 */
class UncacheableResponseError extends BackendFailedError {
  readonly response: StoredResponse;

  constructor(key: string, response: StoredResponse) {
    super(
      `serveCached("${key}"): the response has status ${response.status}, which is not in cacheableStatuses; it was sent, not cached`,
      { context: { key, status: response.status } },
    );
    this.response = response;
  }
}

/** RFC 9110 §13.2.1: preconditions apply only to a response that would otherwise be 2xx. */
const isSuccess = (status: number) => status >= 200 && status < 300;

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === bare);
}

/**
 * Answers a node:http request from `cache` under `key`, producing the response with `produce`
 * on a miss. Sets `X-Cache: HIT | MISS | STALE`, a strong `ETag` of the body and `Age`, and
 * answers `304 Not Modified` when `If-None-Match` matches a 2xx response. A response whose
 * status is not cacheable is sent to every request waiting on that load and stored nowhere; to
 * the cache it is a failed load, so with `failSafe` a stale copy within `graceMs` is served
 * instead. Resolves to how it was answered.
 */
export async function serveCached(
  cache: CacheApi,
  request: IncomingMessage,
  response: ServerResponse,
  key: string,
  produce: () => Promise<HttpResponseData>,
  options: ServeCachedOptions = {},
): Promise<CacheFetchState> {
  const { cacheableStatuses = DEFAULT_CACHEABLE, ...cacheOptions } = options;
  let stored: StoredResponse;
  let state: CacheFetchState;
  let ageMs = 0;
  try {
    const result = await cache.fetch<StoredResponse>(
      key,
      async () => {
        const data = await produce();
        const body =
          typeof data.body === 'string' ? Buffer.from(data.body, 'utf8') : Buffer.from(data.body);
        const produced: StoredResponse = {
          status: data.status ?? 200,
          headers: { ...data.headers },
          body: body.toString('base64'),
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        };
        if (!cacheableStatuses.includes(produced.status)) {
          throw new UncacheableResponseError(key, produced);
        }
        return produced;
      },
      cacheOptions,
    );
    stored = result.value;
    state = result.state;
    ageMs = result.ageMs;
  } catch (error) {
    if (!(error instanceof UncacheableResponseError)) throw error;
    stored = error.response;
    state = 'miss';
  }
  const headers: OutgoingHttpHeaders = {
    ...stored.headers,
    etag: stored.etag,
    'x-cache': state.toUpperCase(),
    age: String(Math.floor(ageMs / 1000)),
  };
  if (
    isSuccess(stored.status) &&
    etagMatches(request.headers['if-none-match'], stored.etag) &&
    (request.method === 'GET' || request.method === 'HEAD')
  ) {
    response.writeHead(304, headers);
    response.end();
    return state;
  }
  const body = Buffer.from(stored.body, 'base64');
  headers['content-length'] = String(body.byteLength);
  response.writeHead(stored.status, headers);
  response.end(request.method === 'HEAD' ? undefined : body);
  return state;
}
