/**
 * The onnxruntime-node side of OnnxRuntime: the structural subset of its types that salama
 * calls (so its types never reach salama's), opening a session on the first requested execution
 * provider that works, and turning its metadata into salama's tensor specs.
 */
import { stat } from 'node:fs/promises';
import {
  BackendFailedError,
  BackendUnavailableError,
  InvalidTypeError,
  NotFoundError,
} from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { DType } from '../../memory/index.js';
import type { TensorData, TensorSpec } from '../tensor.js';

/** An execution provider onnxruntime-node offers on Linux. */
export type OnnxExecutionProvider = 'tensorrt' | 'cuda' | 'cpu';

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}
interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}
interface OrtSessionOptions {
  executionProviders: (OnnxExecutionProvider | { name: OnnxExecutionProvider; deviceId: number })[];
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  executionMode: 'sequential' | 'parallel';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** Session config entries (`AddConfigEntry`), nested by the dots of their keys. */
  extra?: { session: { intra_op: { allow_spinning: '0' | '1' } } };
}
export interface OrtSession {
  readonly inputMetadata: readonly OrtValueMetadata[];
  readonly outputMetadata: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  readonly InferenceSession: {
    create(path: string, options: OrtSessionOptions): Promise<OrtSession>;
    create(bytes: Uint8Array, options: OrtSessionOptions): Promise<OrtSession>;
  };
  readonly Tensor: new (type: DType, data: TensorData, dims: readonly number[]) => OrtTensor;
  listSupportedBackends(): readonly { readonly name: string; readonly bundled: boolean }[];
}

/** What opening a session needs: the validated OnnxRuntime options. */
export interface SessionSettings extends Omit<OrtSessionOptions, 'executionProviders' | 'extra'> {
  readonly model: string | Uint8Array;
  readonly executionProviders: readonly OnnxExecutionProvider[];
  readonly deviceId: number;
  readonly intraOpSpinning: boolean;
}

/** Throws `E_NOT_FOUND` unless `path` is a file, before ONNX Runtime gives a vaguer error. */
export async function assertModelFile(path: string): Promise<void> {
  const stats = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (!stats?.isFile()) {
    const problem = stats ? 'is not a file' : 'does not exist';
    throw new NotFoundError(`OnnxRuntime model file ${path} ${problem}`, {
      context: { model: path },
    });
  }
}

/** Errors from loading the model itself: every other provider would fail the same way. */
const modelLoadFailure = /load model|protobuf parsing failed/i;

interface ProviderFailure {
  readonly provider: OnnxExecutionProvider;
  readonly reason: string;
  readonly error?: unknown;
}

/**
 * Opens a session on the first of `settings.executionProviders` that works, logging each one
 * that does not at `warn` and the one chosen at `info`. Throws `E_BACKEND_FAILED` when the
 * model does not load and `E_BACKEND_UNAVAILABLE` when no provider works.
 */
export async function openSession(
  ort: OrtModule,
  settings: SessionSettings,
  label: string,
  logger: Logger,
): Promise<{ session: OrtSession; provider: OnnxExecutionProvider }> {
  const requested = settings.executionProviders;
  const built = ort.listSupportedBackends().map((b) => b.name);
  const failures: ProviderFailure[] = [];
  for (const [index, provider] of requested.entries()) {
    let failure: ProviderFailure;
    if (!built.includes(provider)) {
      failure = { provider, reason: `not in this onnxruntime-node build (${built.join(', ')})` };
    } else {
      try {
        const session = await createSession(ort, settings, provider);
        const fallbacks = failures.map((f) => `${f.provider} unavailable: ${f.reason}`);
        logger.info(
          { provider, requested, model: label },
          `OnnxRuntime using ${provider}${fallbacks.length ? ` (${fallbacks.join('; ')})` : ''}`,
        );
        return { session, provider };
      } catch (error) {
        const reason = reasonOf(error);
        if (modelLoadFailure.test(reason)) {
          throw new BackendFailedError(
            `OnnxRuntime cannot load ${label}: not a valid ONNX model (${reason})`,
            { cause: error, context: { model: label, provider } },
          );
        }
        failure = { provider, reason, error };
      }
    }
    failures.push(failure);
    const next = requested[index + 1];
    logger.warn(
      { provider, model: label, err: failure.error },
      `OnnxRuntime cannot use ${provider}: ${failure.reason}${next ? `; trying ${next}` : ''}`,
    );
  }
  const lines = failures.map((f) => `  - ${f.provider}: ${f.reason}`).join('\n');
  throw new BackendUnavailableError(
    `OnnxRuntime found no usable execution provider for ${label}:\n${lines}`,
    {
      cause: new AggregateError(failures.map((f) => f.error ?? new Error(f.reason))),
      context: { model: label, requested, failures: failures.map(({ error, ...f }) => f) },
    },
  );
}

function createSession(
  ort: OrtModule,
  settings: SessionSettings,
  provider: OnnxExecutionProvider,
): Promise<OrtSession> {
  const options: OrtSessionOptions = {
    // One provider per attempt: given several, onnxruntime-node fails outright when the first
    // is missing instead of moving on, so the fallback happens here.
    executionProviders: [
      provider === 'cpu' ? 'cpu' : { name: provider, deviceId: settings.deviceId },
    ],
    graphOptimizationLevel: settings.graphOptimizationLevel,
    executionMode: settings.executionMode,
    extra: { session: { intra_op: { allow_spinning: settings.intraOpSpinning ? '1' : '0' } } },
  };
  if (settings.intraOpNumThreads) options.intraOpNumThreads = settings.intraOpNumThreads;
  if (settings.interOpNumThreads) options.interOpNumThreads = settings.interOpNumThreads;
  const { model } = settings;
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(
        model.buffer instanceof SharedArrayBuffer ? model.slice() : model,
        options,
      );
}

// ONNX Runtime holds float16 data in a Float16Array where the runtime has one (Node.js 24+),
// as salama's float16 dtype requires; on older runtimes it falls back to raw Uint16Array bits.
const dtypeOfOrtType: Readonly<Record<string, DType>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int32: 'int32',
  uint8: 'uint8',
};

/**
 * One input's or output's spec from ONNX Runtime's metadata: the leading (batch) dimension
 * dropped, symbolic dimensions as `null`. Throws `E_INVALID_TYPE` for an element type salama
 * has no {@link DType} for, a non-tensor value, or a scalar.
 */
export function tensorSpecOf(metadata: OrtValueMetadata, label: string): TensorSpec {
  const { name, type, shape } = metadata;
  const dtype = type === undefined ? undefined : dtypeOfOrtType[type];
  const invalid = (problem: string) =>
    new InvalidTypeError(`OnnxRuntime cannot serve ${label}: tensor "${name}" ${problem}`, {
      context: { model: label, tensor: name, type: type ?? 'non-tensor' },
    });
  if (!metadata.isTensor || shape === undefined) throw invalid('is not a tensor');
  if (dtype === undefined) {
    const known = Object.keys(dtypeOfOrtType).join(', ');
    throw invalid(`has element type ${type}, which salama does not support (only ${known})`);
  }
  if (shape.length === 0) throw invalid('is a scalar, so it has no batch dimension');
  const dims = shape.slice(1).map((d) => (typeof d === 'number' ? d : null));
  return Object.freeze({ name, dtype, dims: Object.freeze(dims) });
}

/**
 * onnxruntime-node 1.30 accepts a view of a SharedArrayBuffer in `new Tensor`, but its native
 * `run` refuses one with "Invalid argument" (measured on Node 20), so such data is copied once
 * into an ArrayBuffer. The ArrayBuffer is kept per input and reused by the next batch (a
 * runtime runs one batch at a time and ONNX Runtime does not keep its inputs): a fresh one per
 * batch cost the GPUOptimizer benchmark page faults worth several percent of its throughput.
 * ArrayBuffer-backed data is passed through untouched.
 */
export class StagingBuffers {
  readonly #buffers = new Map<string, ArrayBuffer>();

  unshared<D extends TensorData>(name: string, data: D): D {
    if (!(data.buffer instanceof SharedArrayBuffer)) return data;
    let buffer = this.#buffers.get(name);
    if (buffer === undefined || buffer.byteLength < data.byteLength) {
      buffer = new ArrayBuffer(data.byteLength);
      this.#buffers.set(name, buffer);
    }
    const View = data.constructor as new (b: ArrayBuffer, o: number, l: number) => D;
    const copy = new View(buffer, 0, data.length);
    (copy as unknown as Uint8Array).set(data as unknown as Uint8Array);
    return copy;
  }
}

/** The first line of an error's message: ONNX Runtime's can run to many lines. */
export function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n')[0] ?? message;
}
