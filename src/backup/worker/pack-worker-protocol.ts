import type { PackedBlob } from '../pack.js';

/** One chunk in a batch: its id and where its plaintext sits in the batch's buffer. */
export interface BatchItem {
  readonly id: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * Messages to the pack worker: a batch of chunks copied into one buffer (transferred, and
 * transferred back once encoded), a stored pack's buffer to reuse, or flush.
 */
export type ToPackWorker =
  | { readonly type: 'batch'; readonly buffer: ArrayBuffer; readonly items: readonly BatchItem[] }
  | { readonly type: 'recycle'; readonly buffer: ArrayBuffer }
  | { readonly type: 'flush' };

/**
 * Messages from it: a finished pack (a view of a transferred buffer), a batch's buffer given
 * back, flushed, or an error.
 */
export type FromPackWorker =
  | {
      readonly type: 'pack';
      readonly id: string;
      readonly bytes: Uint8Array;
      readonly blobs: readonly PackedBlob[];
    }
  | { readonly type: 'batch-done'; readonly buffer: ArrayBuffer }
  | { readonly type: 'flushed' }
  | { readonly type: 'error'; readonly message: string };
