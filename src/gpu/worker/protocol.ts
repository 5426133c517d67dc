/**
 * Messages between GPUOptimizer (main thread) and an inference worker. Input tensors travel as
 * SharedArrayBuffers from the MemoryPool (no copy); output buffers are transferred back.
 */
import type { DType } from '../../memory/index.js';
import type { ImageFormat, PreprocessResult, PreprocessSpec } from '../preprocess/index.js';
import type { RuntimeSource } from '../runtime.js';
import type { TensorSpec } from '../tensor.js';

/** A tensor as it crosses the thread boundary: a buffer plus where its elements are. */
export interface WireTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly buffer: ArrayBufferLike;
  /** Element offset of the data in `buffer`. */
  readonly offset: number;
  /** Element count. */
  readonly length: number;
}

/**
 * Raw images for one input, packed back to back in a pooled shared byte buffer; the worker
 * preprocesses them into the model's float32 batch tensor.
 */
export interface WireImages {
  readonly kind: 'images';
  readonly buffer: ArrayBufferLike;
  readonly images: readonly {
    readonly offset: number;
    readonly length: number;
    readonly width: number;
    readonly height: number;
    readonly format: ImageFormat;
  }[];
}

/** Zero-filled batches a worker runs before reporting ready, one per entry. */
export interface WarmupBatch {
  readonly inputs: Readonly<
    Record<string, { readonly dtype: DType; readonly dims: readonly number[] }>
  >;
}

export type ToWorker =
  | {
      readonly type: 'init';
      readonly source: RuntimeSource;
      readonly instance: number;
      /** With image requests: how the worker turns images into the model input. */
      readonly preprocess?: { readonly input: string; readonly spec: PreprocessSpec };
    }
  | { readonly type: 'warmup'; readonly batches: readonly WarmupBatch[] }
  | {
      readonly type: 'run';
      readonly id: number;
      readonly inputs: Readonly<Record<string, WireTensor | WireImages>>;
    }
  | { readonly type: 'dispose' };

/** An error as it crosses the thread boundary; rebuilt as a SalamaError on the main thread. */
export interface WireError {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly context?: Record<string, unknown>;
}

export type FromWorker =
  | {
      readonly type: 'loaded';
      readonly inputs: readonly TensorSpec[];
      readonly outputs: readonly TensorSpec[];
      readonly provider: string;
    }
  | { readonly type: 'warm'; readonly ms: number }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly outputs: Record<string, WireTensor>;
      readonly ms: number;
      /** Where each image landed in the model input, for image batches. */
      readonly placements?: readonly PreprocessResult[];
    }
  | { readonly type: 'failed'; readonly id: number | undefined; readonly error: WireError }
  | { readonly type: 'disposed' }
  | {
      readonly type: 'log';
      readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
      readonly obj: Record<string, unknown>;
      readonly msg: string;
    };
