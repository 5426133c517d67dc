/**
 * The part of TensorFlow.js that salama calls, declared structurally (as kysely declares `pg`),
 * so no tfjs package is a dependency of salama and no tfjs type leaks into its API. The real
 * `tf` namespace, `tf.GraphModel` and `tf.LayersModel` of `@tensorflow/tfjs`,
 * `@tensorflow/tfjs-node` and `@tensorflow/tfjs-node-gpu` 4.x satisfy these interfaces.
 */

/** Element types of tfjs tensors. */
export type TfjsDType = 'float32' | 'int32' | 'bool' | 'complex64' | 'string';

/** What `tensor.data()` resolves to for the numeric dtypes salama accepts. */
export type TfjsTensorData = Float32Array | Int32Array | Uint8Array;

/** The subset of `tf.Tensor` salama calls. */
export interface TfjsTensor {
  readonly shape: readonly number[];
  readonly dtype: string;
  /** Downloads the values (from the GPU where there is one). */
  data(): Promise<unknown>;
  dispose(): void;
}

/** One input or output as a model declares it: `tf.ModelTensorInfo` or `tf.SymbolicTensor`. */
export interface TfjsTensorInfo {
  readonly name: string;
  /** Batch first; `-1` (GraphModel) or `null` (LayersModel) for a dynamic size, or unknown. */
  readonly shape?: readonly (number | null)[] | undefined;
  readonly dtype?: string | undefined;
  /** LayersModel only: the layer that produces it, which names it. */
  readonly sourceLayer?: { readonly name: string } | undefined;
}

/** The subset of `tf.GraphModel` salama calls (models from `tf.loadGraphModel`). */
export interface TfjsGraphModel {
  readonly inputs: readonly TfjsTensorInfo[];
  readonly outputs: readonly TfjsTensorInfo[];
  /** The signature the converter wrote into model.json, when there is one. */
  readonly modelSignature?: unknown;
  /** salama passes a record keyed by input node name, and the output node names. */
  execute(
    inputs: TfjsTensor | TfjsTensor[] | Record<string, TfjsTensor>,
    outputs?: string | string[],
  ): TfjsTensor | TfjsTensor[];
  executeAsync(
    inputs: TfjsTensor | TfjsTensor[] | Record<string, TfjsTensor>,
    outputs?: string | string[],
  ): Promise<TfjsTensor | TfjsTensor[]>;
  dispose(): void;
}

/** The subset of `tf.LayersModel` salama calls (`tf.sequential`, `tf.model`, `tf.loadLayersModel`). */
export interface TfjsLayersModel {
  /** Symbolic tensors in the order `predict` takes the inputs; named by `sourceLayer`. */
  readonly inputs: readonly TfjsTensorInfo[];
  /** Symbolic tensors in the order `predict` returns the outputs. */
  readonly outputs: readonly TfjsTensorInfo[];
  /** `batchSize` is how many items tfjs runs at once; it splits larger batches (default 32). */
  predict(
    inputs: TfjsTensor | TfjsTensor[],
    args?: { batchSize?: number },
  ): TfjsTensor | TfjsTensor[];
  dispose(): unknown;
}

/** A model a {@link TfjsRuntime} can run. */
export type TfjsModel = TfjsGraphModel | TfjsLayersModel;

/** The subset of the `tf` namespace salama calls. */
export interface TfjsNamespace {
  tensor(values: TfjsTensorData, shape: number[], dtype: TfjsDType): TfjsTensor;
  /** Name of the active backend: `'tensorflow'` (tfjs-node), `'cpu'`, `'wasm'`, `'webgl'`. */
  getBackend(): string;
  /** The active backend instance; tfjs-node's says whether it runs on a GPU. */
  backend(): unknown;
  /** Resolves once the best registered backend is initialised. */
  ready(): Promise<void>;
}

/** One entry of a converted model's signature: `{ name: 'x:0', dtype: 'DT_FLOAT', tensorShape }`. */
interface SignatureEntry {
  readonly name?: string;
  readonly dtype?: string;
  readonly tensorShape?: {
    readonly dim?: readonly { readonly size?: string | number }[];
    readonly unknownRank?: boolean;
  };
}

/** TensorFlow dtypes as the tfjs converter maps them to tfjs dtypes. */
const fromTensorflow: Readonly<Record<string, TfjsDType>> = {
  DT_FLOAT: 'float32',
  DT_HALF: 'float32',
  DT_DOUBLE: 'float32',
  DT_INT32: 'int32',
  DT_INT64: 'int32',
  DT_INT16: 'int32',
  DT_INT8: 'int32',
  DT_UINT8: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
  DT_COMPLEX64: 'complex64',
};

/**
 * What a GraphModel declares for its inputs or outputs, with gaps filled from its signature:
 * graph nodes rarely carry the shapes of outputs, while a model converted from a SavedModel
 * has them in the signature.
 */
export function graphTensorInfos(
  model: TfjsGraphModel,
  direction: 'inputs' | 'outputs',
): TfjsTensorInfo[] {
  const signature = model.modelSignature as Partial<
    Record<typeof direction, Record<string, SignatureEntry>>
  > | null;
  const entries = Object.values(signature?.[direction] ?? {});
  const byNode = new Map(entries.map((e) => [String(e.name).split(':')[0], e]));
  return model[direction].map((info) => {
    const entry = byNode.get(info.name);
    if (!entry) return info;
    const { tensorShape } = entry;
    const shape =
      tensorShape === undefined || tensorShape.unknownRank
        ? undefined
        : (tensorShape.dim ?? []).map((d) => Number(d.size ?? -1));
    const dtype =
      entry.dtype === undefined ? undefined : (fromTensorflow[entry.dtype] ?? entry.dtype);
    return { name: info.name, shape: info.shape ?? shape, dtype: info.dtype ?? dtype };
  });
}

/** Whether `value` is a GraphModel rather than a LayersModel. */
export function isGraphModel(model: TfjsModel): model is TfjsGraphModel {
  return typeof (model as Partial<TfjsGraphModel>).executeAsync === 'function';
}

const hasFunctions = (value: unknown, names: readonly string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');

/** Whether `value` has the shape of a tfjs namespace (used by option schemas and the loader). */
export function isTfjsNamespace(value: unknown): value is TfjsNamespace {
  return hasFunctions(value, ['tensor', 'getBackend', 'backend', 'ready']);
}

/** Whether `value` has the shape of a GraphModel or a LayersModel. */
export function isTfjsModel(value: unknown): value is TfjsModel {
  if (!hasFunctions(value, ['dispose'])) return false;
  const model = value as Record<string, unknown>;
  if (!Array.isArray(model.inputs) || !Array.isArray(model.outputs)) return false;
  return hasFunctions(model, ['execute', 'executeAsync']) || hasFunctions(model, ['predict']);
}

/**
 * The provider a {@link TfjsRuntime} reports for the active backend.
 *
 * tfjs-node and tfjs-node-gpu are one code base built twice; both register the backend
 * `'tensorflow'` and both set `tf.version['tfjs-node']`, so neither the backend name nor the
 * version map tells them apart. Their backend instance (`NodeJSKernelBackend`) does:
 * `isGPUPackage` is true when the package is `@tensorflow/tfjs-node-gpu`, and
 * `isUsingGpuDevice` is true when libtensorflow found a CUDA GPU device at start-up. The
 * provider names where inference actually runs, so it is `'tfjs-node-gpu'` only when
 * `isUsingGpuDevice` is true: tfjs-node-gpu on a host without a usable GPU runs on the CPU and
 * reports `'tfjs-node'`. Any other backend is `'tfjs-' + tf.getBackend()`.
 */
export function tfjsProvider(tf: TfjsNamespace): string {
  const name = tf.getBackend();
  if (name !== 'tensorflow') return `tfjs-${name}`;
  const backend = tf.backend() as { isUsingGpuDevice?: unknown } | null | undefined;
  return backend?.isUsingGpuDevice === true ? 'tfjs-node-gpu' : 'tfjs-node';
}
