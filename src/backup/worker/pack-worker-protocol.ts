import type { PackedBlob } from '../pack.js';

/** Messages to the pack worker: a chunk to encode (its buffer transferred), or flush. */
export type ToPackWorker =
  | { readonly type: 'chunk'; readonly id: string; readonly data: ArrayBuffer }
  | { readonly type: 'flush' };

/** Messages from it: a finished pack (bytes transferred), progress, flushed, or an error. */
export type FromPackWorker =
  | {
      readonly type: 'pack';
      readonly id: string;
      readonly bytes: Uint8Array;
      readonly blobs: readonly PackedBlob[];
    }
  | { readonly type: 'done'; readonly bytes: number }
  | { readonly type: 'flushed' }
  | { readonly type: 'error'; readonly message: string };
