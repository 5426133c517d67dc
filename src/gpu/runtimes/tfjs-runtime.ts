import { z } from 'zod';
import { BackendFailedError, SalamaError } from '../../core/errors.js';
import { Lifecycle } from '../../core/lifecycle.js';
import { componentLogger, type Logger } from '../../core/logger.js';
import { commonOptionSchemas, parseOptions } from '../../core/options.js';
import type { InferenceRuntime } from '../runtime.js';
import type { Tensor, TensorSpec } from '../tensor.js';
import {
  graphTensorInfos,
  isGraphModel,
  isTfjsModel,
  isTfjsNamespace,
  type TfjsGraphModel,
  type TfjsModel,
  type TfjsNamespace,
  type TfjsTensor,
  type TfjsTensorData,
  type TfjsTensorInfo,
  tfjsProvider,
} from './tfjs-backend.js';
import { bindTensors, checkBatch, readOutput, type TfjsBinding } from './tfjs-bindings.js';

export {
  type TfjsDType,
  type TfjsGraphModel,
  type TfjsLayersModel,
  type TfjsModel,
  type TfjsNamespace,
  type TfjsTensor,
  type TfjsTensorData,
  type TfjsTensorInfo,
  tfjsProvider,
} from './tfjs-backend.js';
export {
  type ImportTfjsOptions,
  importTfjs,
  TFJS_PACKAGES,
  type TfjsImport,
  type TfjsImportFailure,
  type TfjsPackage,
} from './tfjs-loader.js';

/** Options of {@link TfjsRuntime}. */
export interface TfjsRuntimeOptions {
  /** The `tf` namespace of `@tensorflow/tfjs-node-gpu`, `-node` or `@tensorflow/tfjs`. */
  tf: TfjsNamespace;
  /** A loaded `tf.GraphModel` or `tf.LayersModel`; the runtime owns it unless `disposeModel` is false. */
  model: TfjsModel;
  /**
   * Input specs (per item, no batch dimension) that replace what the model declares, matched by
   * name: for models that do not declare a shape or dtype, or to accept `uint8` frames for an
   * `int32` input. Inputs not listed are derived from the model.
   * @default derived from the model
   */
  inputs?: readonly TensorSpec[];
  /**
   * Output specs that replace what the model declares, matched by name: for GraphModel outputs
   * that neither the graph nor its signature gives a shape, or to read an output in another
   * dtype (values are converted, as `Float32Array.from(int32Values)` would).
   * @default derived from the model and, for a GraphModel, its signature
   */
  outputs?: readonly TensorSpec[];
  /** Dispose the model (its weights) in `dispose()`. @default true */
  disposeModel?: boolean;
  /**
   * How a GraphModel runs: `'sync'` with `execute`, `'async'` with `executeAsync` (needed for
   * control flow and dynamic shapes), or `'auto'`: `execute` until tfjs says the graph needs
   * `executeAsync`, then `executeAsync` for good. Ignored for a LayersModel.
   * @default 'auto'
   */
  graphExecution?: 'auto' | 'sync' | 'async';
  /** A pino-compatible logger. @default silent */
  logger?: Logger;
}

const specSchema = z
  .object({
    name: z.string().min(1),
    dtype: z.enum(['float32', 'float64', 'float16', 'int32', 'uint8']),
    dims: z.array(z.number().int().nonnegative().nullable()),
  })
  .strict();

const optionsSchema = z
  .object({
    tf: z.custom<TfjsNamespace>(isTfjsNamespace, {
      message: 'a tfjs namespace (tensor, getBackend, backend, ready)',
    }),
    model: z.custom<TfjsModel>(isTfjsModel, { message: 'a tf.GraphModel or tf.LayersModel' }),
    inputs: z.array(specSchema).optional(),
    outputs: z.array(specSchema).optional(),
    disposeModel: z.boolean().default(true),
    graphExecution: z.enum(['auto', 'sync', 'async']).default('auto'),
    logger: commonOptionSchemas.logger.optional(),
  })
  .strict();

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * An {@link InferenceRuntime} over a TensorFlow.js model. Every tfjs tensor it creates, and every
 * tensor the model returns, is disposed before `run` settles, whether it succeeds or fails.
 */
export class TfjsRuntime implements InferenceRuntime {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly #tf: TfjsNamespace;
  readonly #model: TfjsModel;
  readonly #inputBindings: readonly TfjsBinding[];
  readonly #outputBindings: readonly TfjsBinding[];
  readonly #log: Logger;
  readonly #lifecycle: Lifecycle;
  #graphExecution: 'auto' | 'sync' | 'async';
  #running: Promise<unknown> | undefined;

  /**
   * Wraps `model`; throws `E_INVALID_OPTIONS` for bad options or a model that does not declare
   * what `inputs`/`outputs` must then supply, `E_INVALID_TYPE` for dtypes tfjs lacks.
   * Use {@link TfjsRuntime.create} when the tfjs backend may still be initialising.
   */
  constructor(options: TfjsRuntimeOptions) {
    const o = parseOptions('TfjsRuntime', optionsSchema, options);
    this.#tf = o.tf;
    this.#model = o.model;
    this.#graphExecution = o.graphExecution;
    const model = o.model;
    const graph = isGraphModel(model);
    // A GraphModel is fed and read by node name; a LayersModel by position, named by its layers
    // (a Sequential model's inputNames stay empty until it is built; its layer names do not).
    const inputInfos = graph ? graphTensorInfos(model, 'inputs') : model.inputs;
    const outputInfos = graph ? graphTensorInfos(model, 'outputs') : model.outputs;
    const nameOf = (info: TfjsTensorInfo) => info.sourceLayer?.name ?? info.name;
    const inputNames = inputInfos.map(nameOf);
    const outputNames = outputInfos.map(nameOf);
    this.#inputBindings = bindTensors('input', inputNames, inputInfos, o.inputs);
    this.#outputBindings = bindTensors('output', outputNames, outputInfos, o.outputs);
    this.inputs = Object.freeze(this.#inputBindings.map((b) => b.spec));
    this.outputs = Object.freeze(this.#outputBindings.map((b) => b.spec));
    this.#log = componentLogger(o.logger, 'TfjsRuntime');
    this.#lifecycle = new Lifecycle('TfjsRuntime', async () => {
      await this.#running?.catch(() => {});
      if (o.disposeModel) o.model.dispose();
    });
    this.#log.debug(
      { provider: this.provider, model: graph ? 'GraphModel' : 'LayersModel', inputs: this.inputs },
      'tfjs runtime ready',
    );
  }

  /** Waits for the tfjs backend to be ready (`tf.ready()`), then constructs the runtime. */
  static async create(options: TfjsRuntimeOptions): Promise<TfjsRuntime> {
    if (isTfjsNamespace(options?.tf)) await options.tf.ready();
    return new TfjsRuntime(options);
  }

  /** Where inference runs: `'tfjs-node-gpu'`, `'tfjs-node'`, `'tfjs-cpu'`, `'tfjs-wasm'`, ... */
  get provider(): string {
    return tfjsProvider(this.#tf);
  }

  /**
   * Runs one batch (batch dimension first). Throws `E_INVALID_INPUT` for a missing, unknown or
   * mis-shaped input, `E_BACKEND_FAILED` (with tfjs's error as `cause`) when tfjs fails the
   * batch, `E_CLOSED` after `dispose()`.
   */
  async run(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    this.#lifecycle.assertOpen('run');
    const batch = checkBatch(this.#inputBindings, inputs);
    const running = this.#execute(inputs, batch);
    this.#running = running;
    try {
      return await running;
    } finally {
      this.#running = undefined;
    }
  }

  /** Frees the model (unless `disposeModel` is false) once a batch in flight has finished. */
  dispose(): Promise<void> {
    return this.#lifecycle.close();
  }

  /** Same as {@link TfjsRuntime.dispose}. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#lifecycle.close();
  }

  async #execute(inputs: Readonly<Record<string, Tensor>>, batch: number) {
    const created: TfjsTensor[] = [];
    let returned: TfjsTensor[] = [];
    try {
      for (const { spec, tfDtype } of this.#inputBindings) {
        const { data, dims } = inputs[spec.name] as Tensor;
        created.push(this.#tf.tensor(data as TfjsTensorData, [...dims], tfDtype));
      }
      const result = await this.#invoke(created, batch);
      returned = Array.isArray(result) ? result : [result];
      if (returned.length !== this.#outputBindings.length) {
        throw new BackendFailedError(
          `TfjsRuntime: the model returned ${returned.length} outputs where it declares ${this.#outputBindings.length}`,
        );
      }
      const inputBuffers = new Set(Object.values(inputs).map((t) => t.data.buffer));
      const outputs: Record<string, Tensor> = {};
      for (const [i, binding] of this.#outputBindings.entries()) {
        const tensor = returned[i] as TfjsTensor;
        outputs[binding.spec.name] = await readOutput(binding, tensor, batch, inputBuffers);
      }
      return outputs;
    } catch (error) {
      if (error instanceof SalamaError) throw error;
      const provider = this.provider;
      throw new BackendFailedError(
        `TfjsRuntime failed the batch on ${provider}: ${messageOf(error)}`,
        {
          cause: error,
          context: { provider, batch },
        },
      );
    } finally {
      // A GraphModel may return an input tensor as an output; disposing twice is harmless.
      for (const tensor of [...created, ...returned]) tensor.dispose();
    }
  }

  #invoke(
    inputs: TfjsTensor[],
    batch: number,
  ): Promise<TfjsTensor | TfjsTensor[]> | TfjsTensor | TfjsTensor[] {
    const model = this.#model;
    if (!isGraphModel(model)) return model.predict(inputs, { batchSize: Math.max(batch, 1) });
    const feeds = Object.fromEntries(
      this.#inputBindings.map((b, i) => [b.spec.name, inputs[i] as TfjsTensor]),
    );
    const outputs = this.#outputBindings.map((b) => b.spec.name);
    return this.#graphExecution === 'async'
      ? model.executeAsync(feeds, outputs)
      : this.#executeSync(model, feeds, outputs);
  }

  #executeSync(model: TfjsGraphModel, feeds: Record<string, TfjsTensor>, outputs: string[]) {
    try {
      return model.execute(feeds, outputs);
    } catch (error) {
      // tfjs names executeAsync() in the error when the graph has control flow or dynamic ops.
      if (this.#graphExecution !== 'auto' || !messageOf(error).includes('executeAsync()'))
        throw error;
      this.#graphExecution = 'async';
      this.#log.debug(
        { reason: messageOf(error) },
        'graph needs executeAsync; using it from now on',
      );
      return model.executeAsync(feeds, outputs);
    }
  }
}
