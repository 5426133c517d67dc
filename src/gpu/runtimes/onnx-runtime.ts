/**
 * OnnxRuntime: the {@link InferenceRuntime} on onnxruntime-node, an optional peer dependency
 * imported only here, dynamically, so a user who never runs ONNX models never loads it.
 * onnx-session.ts holds the session opening and execution-provider fallback.
 */
import { z } from 'zod';
import {
  BackendFailedError,
  BackendUnavailableError,
  InvalidInputError,
} from '../../core/errors.js';
import { Lifecycle } from '../../core/lifecycle.js';
import { silentLogger } from '../../core/logger.js';
import { parseOptions } from '../../core/options.js';
import type { InferenceRuntime, RuntimeContext, RuntimeFactory } from '../runtime.js';
import type { Tensor, TensorData, TensorSpec } from '../tensor.js';
import {
  assertModelFile,
  type OnnxExecutionProvider,
  type OrtModule,
  type OrtSession,
  type OrtTensor,
  openSession,
  reasonOf,
  StagingBuffers,
  tensorSpecOf,
} from './onnx-session.js';

export type { OnnxExecutionProvider } from './onnx-session.js';

/** Options of {@link OnnxRuntime.create}. Data only, so they cross to a worker thread. */
export interface OnnxRuntimeOptions {
  /**
   * The ONNX model: a file path, or the model's bytes. Bytes in a SharedArrayBuffer are copied
   * once, because onnxruntime-node reads only ArrayBuffer-backed memory.
   */
  model: string | Uint8Array;
  /**
   * Execution providers in order of preference. Each is tried alone; one whose libraries are
   * missing is logged at `warn` and the next is tried. ONNX Runtime still runs on the CPU the
   * operators a GPU provider lacks.
   * @default ['cpu']
   */
  executionProviders?: readonly OnnxExecutionProvider[];
  /** The GPU `cuda` and `tensorrt` run on. @default 0 */
  deviceId?: number;
  /** Threads one operator may use. @default ONNX Runtime's choice (one per physical core) */
  intraOpNumThreads?: number;
  /**
   * Whether ONNX Runtime's intra-op threads busy-wait for work between operators instead of
   * sleeping (its `session.intra_op.allow_spinning`). Spinning saves a few microseconds per
   * operator on an otherwise idle machine, but a spinning thread holds its core: under
   * GPUOptimizer the sessions of the other instances and the main thread (batching, routing,
   * garbage collection) need those cores. Measured on a 2-core machine with the PP-OCRv4
   * recogniser, two sessions of 2 threads each ran 80 items/s spinning and 124 not; with one
   * thread per session (no thread pool) the setting has no effect. Only matters with
   * `intraOpNumThreads` above 1 (or left to ONNX Runtime, which picks one per core).
   * @default false (ONNX Runtime's own default is to spin)
   */
  intraOpSpinning?: boolean;
  /**
   * Threads running independent operators at once, with `executionMode: 'parallel'`.
   * @default ONNX Runtime's choice
   */
  interOpNumThreads?: number;
  /**
   * How much ONNX Runtime rewrites the graph when loading it: `'all'` loads slower and runs
   * faster.
   * @default 'all'
   */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Run the graph's operators one at a time, or independent branches at once.
   * @default 'sequential'
   */
  executionMode?: 'sequential' | 'parallel';
}

const optionsSchema = z
  .object({
    model: z.union([z.string().min(1), z.instanceof(Uint8Array)]),
    executionProviders: z
      .array(z.enum(['tensorrt', 'cuda', 'cpu']))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'a list without repeats')
      .default(['cpu']),
    deviceId: z.number().int().nonnegative().default(0),
    intraOpNumThreads: z.number().int().positive().optional(),
    interOpNumThreads: z.number().int().positive().optional(),
    intraOpSpinning: z.boolean().default(false),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
    executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
  })
  .strict();

/**
 * Runs one ONNX model in one onnxruntime-node session on the first requested execution provider
 * that works. Create it with {@link OnnxRuntime.create}, or in a worker thread through this
 * module's default export.
 */
export class OnnxRuntime implements InferenceRuntime {
  /** The model's inputs per item, read from the session (batch dimension dropped). */
  readonly inputs: readonly TensorSpec[];
  /** The model's outputs per item, read from the session (batch dimension dropped). */
  readonly outputs: readonly TensorSpec[];
  /** The execution provider the session runs on, after fallback. */
  readonly provider: OnnxExecutionProvider;
  /** The providers asked for, in order of preference. */
  readonly requestedProviders: readonly OnnxExecutionProvider[];
  /** Names the model in logs and errors: its path, or its size when given as bytes. */
  readonly label: string;
  readonly #staging = new StagingBuffers();
  readonly #ort: OrtModule;
  readonly #session: OrtSession;
  readonly #lifecycle: Lifecycle;

  private constructor(
    ort: OrtModule,
    session: OrtSession,
    opened: Pick<OnnxRuntime, 'label' | 'provider' | 'requestedProviders'>,
  ) {
    this.#ort = ort;
    this.#session = session;
    this.label = opened.label;
    this.provider = opened.provider;
    this.requestedProviders = opened.requestedProviders;
    this.inputs = Object.freeze(session.inputMetadata.map((m) => tensorSpecOf(m, this.label)));
    this.outputs = Object.freeze(session.outputMetadata.map((m) => tensorSpecOf(m, this.label)));
    this.#lifecycle = new Lifecycle('OnnxRuntime', () => session.release());
  }

  /**
   * Loads the model and opens a session; `context.logger` hears which provider is used. Throws
   * `E_INVALID_OPTIONS` for bad options, `E_NOT_FOUND` when the model file is missing,
   * `E_BACKEND_FAILED` when it is not an ONNX model, `E_BACKEND_UNAVAILABLE` when no requested
   * provider works, and `E_INVALID_TYPE` when an input or output has an element type salama
   * has no dtype for.
   */
  static async create(
    options: OnnxRuntimeOptions,
    context: Partial<RuntimeContext> = {},
  ): Promise<OnnxRuntime> {
    const settings = parseOptions('OnnxRuntime', optionsSchema, options);
    const { model } = settings;
    const label =
      context.label ?? (typeof model === 'string' ? model : `<${model.byteLength}-byte model>`);
    if (typeof model === 'string') await assertModelFile(model);
    const ort = await importOrt();
    const logger = context.logger ?? silentLogger;
    const { session, provider } = await openSession(ort, settings, label, logger);
    try {
      const requestedProviders = Object.freeze([...settings.executionProviders]);
      return new OnnxRuntime(ort, session, { label, provider, requestedProviders });
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /**
   * Runs one batch. Inputs backed by an ArrayBuffer reach ONNX Runtime without a copy (those
   * backed by a SharedArrayBuffer are copied once); outputs are ONNX Runtime's own arrays.
   * Throws `E_INVALID_INPUT` for a missing, unknown or mis-shaped input and `E_BACKEND_FAILED`
   * when ONNX Runtime fails the batch.
   */
  async run(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    this.#lifecycle.assertOpen('run');
    const feeds: Record<string, OrtTensor> = {};
    for (const spec of this.inputs) feeds[spec.name] = this.#feed(spec, inputs[spec.name]);
    for (const name of Object.keys(inputs)) {
      if (!(name in feeds)) throw this.#invalidInput(name, 'is not an input of the model');
    }
    let results: Record<string, OrtTensor>;
    try {
      results = await this.#session.run(feeds);
    } catch (error) {
      throw new BackendFailedError(`OnnxRuntime failed to run ${this.label}: ${reasonOf(error)}`, {
        cause: error,
        context: { model: this.label, provider: this.provider },
      });
    }
    const outputs: Record<string, Tensor> = {};
    for (const { name, dtype } of this.outputs) {
      const { dims, data } = results[name] as OrtTensor;
      outputs[name] = { dtype, dims, data: data as TensorData };
    }
    return outputs;
  }

  /** Releases the session. Later calls return the first call's promise. */
  dispose(): Promise<void> {
    return this.#lifecycle.close();
  }

  /** {@link OnnxRuntime.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #feed(spec: TensorSpec, tensor: Tensor | undefined): OrtTensor {
    if (tensor === undefined) throw this.#invalidInput(spec.name, 'is missing');
    const { dtype, dims, data } = tensor;
    if (dtype !== spec.dtype) {
      throw this.#invalidInput(spec.name, `must be ${spec.dtype}, received ${dtype}`);
    }
    const fits =
      dims.length === spec.dims.length + 1 &&
      spec.dims.every((d, i) => d === null || d === dims[i + 1]);
    if (!fits) {
      const expected = `[batch, ${spec.dims.map((d) => d ?? 'any').join(', ')}]`;
      throw this.#invalidInput(spec.name, `must have dims ${expected}, received [${dims}]`);
    }
    try {
      return new this.#ort.Tensor(dtype, this.#staging.unshared(spec.name, data), dims);
    } catch (error) {
      throw this.#invalidInput(spec.name, `was refused: ${reasonOf(error)}`, error);
    }
  }

  #invalidInput(name: string, problem: string, cause?: unknown): InvalidInputError {
    const names = this.inputs.map((s) => s.name).join(', ');
    return new InvalidInputError(
      `OnnxRuntime input "${name}" ${problem} (${this.label} takes: ${names})`,
      { cause, context: { model: this.label, input: name } },
    );
  }
}

/** Creates an {@link OnnxRuntime} in a worker thread from structured-cloned options. */
const createOnnxRuntime = (
  options: OnnxRuntimeOptions,
  context: RuntimeContext,
): Promise<OnnxRuntime> => OnnxRuntime.create(options, context);

export default createOnnxRuntime satisfies RuntimeFactory<OnnxRuntimeOptions>;

async function importOrt(): Promise<OrtModule> {
  try {
    return await import('onnxruntime-node');
  } catch (error) {
    throw new BackendUnavailableError(
      `OnnxRuntime needs onnxruntime-node, which did not load (${reasonOf(error)}); install it with \`npm install onnxruntime-node\``,
      { cause: error, context: { package: 'onnxruntime-node' } },
    );
  }
}
