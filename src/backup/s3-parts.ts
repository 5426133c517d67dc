/**
 * Cutting a streamed put into multipart-upload parts for `S3BlobStore`. Each chunk is copied
 * into a part buffer as it arrives, so a source may reuse its buffers (a pooled reader does),
 * and every part but the last has exactly `partSize` bytes, as S3 prefers.
 */
import { describeValue, InvalidArgumentError, SalamaError } from '../core/errors.js';

/** Carries an error thrown by the caller's data source, so `put` rethrows it unchanged. */
export class SourceFailure {
  constructor(readonly error: unknown) {}
}

/** Throws an `AbortError` (reported as `E_ABORTED`) once `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
}

/**
 * Parts of exactly `partSize` bytes, the last one shorter, and one empty part for an empty
 * stream. Holds one part in memory besides those the consumer keeps. Errors of `source` come
 * out as {@link SourceFailure}.
 */
export async function* cutIntoParts(
  source: AsyncIterable<Uint8Array>,
  partSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let part = Buffer.allocUnsafe(partSize);
  let filled = 0;
  let yielded = false;
  try {
    for await (const chunk of source) {
      throwIfAborted(signal);
      if (!(chunk instanceof Uint8Array))
        throw new InvalidArgumentError(
          `S3BlobStore.put(): expected the data stream to yield Uint8Array chunks, received ${describeValue(chunk)}`,
        );
      for (let offset = 0; offset < chunk.byteLength; ) {
        const n = Math.min(partSize - filled, chunk.byteLength - offset);
        part.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === partSize) {
          yield part;
          yielded = true;
          part = Buffer.allocUnsafe(partSize);
          filled = 0;
        }
      }
    }
  } catch (error) {
    if (error instanceof SalamaError || (error as Error | undefined)?.name === 'AbortError')
      throw error;
    throw new SourceFailure(error);
  }
  if (filled > 0 || !yielded) yield part.subarray(0, filled);
}

/** The items of `head`, then those of `rest`. */
export async function* chain<T>(head: readonly T[], rest: AsyncIterable<T>): AsyncGenerator<T> {
  yield* head;
  yield* rest;
}
