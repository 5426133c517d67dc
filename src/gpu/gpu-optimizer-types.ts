import type { PreprocessResult } from './preprocess/index.js';
import type { Tensor } from './tensor.js';

/** Per-request options of {@link GPUOptimizer.infer}. */
export interface InferOptions {
  /** Higher is served first. @default 0 */
  priority?: number;
  /** Fail with `E_DEADLINE_EXCEEDED`, without running, if not dispatched within this many ms. */
  deadlineMs?: number;
  /** Aborting removes a queued request (`E_ABORTED`); a running one is answered with `E_ABORTED`. */
  signal?: AbortSignal;
}

/**
 * One item's outputs, by output name, without the batch dimension. Each `data` is a view into
 * the batch's output buffer (no copy): it shares that buffer with the other requests of the
 * batch and keeps it alive while referenced; copy it (`data.slice()`) to keep a result long or
 * to hand it somewhere that must not see the rest of the batch.
 */
export type InferResult = Record<string, Tensor>;

/** What {@link GPUOptimizer.inferImage} resolves with. */
export interface ImageInferResult {
  readonly outputs: InferResult;
  /** Where the image landed in the model input: scale and padding, to map boxes back. */
  readonly placement: PreprocessResult;
}

/** Internal: what a request settles with. */
export interface Settled {
  readonly outputs: InferResult;
  readonly placement: PreprocessResult | undefined;
}

/** Payload of the `batch` event. */
export interface BatchEvent {
  readonly size: number;
  readonly instance: number;
  readonly queueMs: number;
  readonly executionMs: number;
  readonly runtime: string;
}

/** Events of a {@link GPUOptimizer}. */
export interface GPUOptimizerEvents {
  ready: [{ readonly instances: number; readonly provider: string }];
  batch: [BatchEvent];
  'worker:exit': [{ readonly instance: number; readonly error: Error }];
  'worker:restart': [{ readonly instance: number; readonly attempt: number }];
  swap: [{ readonly from: string; readonly to: string }];
  resize: [{ readonly from: number; readonly to: number }];
}

/** Options of {@link GPUOptimizer.close}. */
export interface CloseOptions {
  /** Finish queued work first (`true`), or reject it with `E_CLOSED`. @default true */
  drain?: boolean;
}
