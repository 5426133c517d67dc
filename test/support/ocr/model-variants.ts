/**
 * Model fixtures for validation and rollout tests, made from a real ONNX model in the test:
 * a candidate whose weights are perturbed (it loads and runs but reads badly), the same network
 * re-saved by ONNX Runtime (other bytes, same answers), and bytes that are not a model at all.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { contentTimesteps, ctcGreedyDecode, loadDictionary, ocrModelPaths } from './ctc.js';
import { mulberry32, type PlateCrop, plateKey } from './plates.js';

// onnx-proto is CommonJS whose `onnx` export Node's ESM loader cannot see as a named export.
const { onnx } = createRequire(import.meta.url)('onnx-proto') as typeof import('onnx-proto');

type TensorProto = OnnxNamespace.TensorProto;

const FLOAT = 1; // TensorProto.DataType.FLOAT

/** Hex SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** How {@link perturbedModel} disturbs the weights. */
export interface PerturbOptions {
  /** Seeds the noise: the same seed writes the same bytes. @default 1 */
  readonly seed?: number;
  /**
   * Noise standard deviation as a fraction of each tensor's own standard deviation. Noise on
   * every layer compounds, so PP-OCRv4's recogniser falls off a cliff whose place depends on
   * the seed. On 300 rendered plates (99% read exactly), seed 1 reads 85% at 0.03, 67% at 0.04,
   * 28% at 0.045, 0–1% at 0.05 (still emitting plate-like strings for most crops) and only
   * blanks from 0.06; seeds 2 and 3 read 8% and 40% at 0.05. The default, with the default
   * seed, fails on accuracy with finite probabilities, never on loading. @default 0.05
   */
  readonly scale?: number;
  /** Tensors with fewer elements (scalars such as epsilons and clip bounds) are kept. @default 16 */
  readonly minElements?: number;
}

/** What {@link perturbedModel} changed and wrote. */
export interface PerturbStats {
  /** Float weight tensors that received noise. */
  readonly tensors: number;
  /** Values changed across them. */
  readonly parameters: number;
  /** Float tensors left alone: too small, constant, or batch-norm running statistics. */
  readonly kept: number;
  /** SHA-256 of the written file. */
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * Reads the ONNX model at `sourcePath` with onnx-proto, adds seeded Gaussian noise of
 * `scale × std(tensor)` to every float32 weight tensor (graph initializers and `Constant` nodes'
 * values, as paddle2onnx stores them; `float_data` or little-endian `raw_data`), and writes the
 * model to `outPath`. BatchNormalization's running mean and variance are kept: noisy variance
 * could go negative and turn outputs into NaN, and the fixture must fail on accuracy, not run.
 */
export async function perturbedModel(
  sourcePath: string,
  outPath: string,
  options: PerturbOptions = {},
): Promise<PerturbStats> {
  const scale = options.scale ?? 0.05;
  const minElements = options.minElements ?? 16;
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new RangeError(`scale must be a positive number, received ${scale}`);
  }
  const model = onnx.ModelProto.decode(await readFile(sourcePath));
  const graph = model.graph;
  if (!graph) throw new Error(`${sourcePath} has no graph`);

  // Decoded messages fill every repeated field, but onnx-proto types them as optional.
  const nodes = graph.node ?? [];
  const tensors = new Map<string, TensorProto>();
  for (const init of graph.initializer ?? []) tensors.set(init.name ?? '', init as TensorProto);
  for (const node of nodes) {
    if (node.opType !== 'Constant') continue;
    const value = node.attribute?.find((a) => a.name === 'value')?.t;
    const output = node.output?.[0];
    if (value && output !== undefined) tensors.set(output, value as TensorProto);
  }
  const statistics = new Set<string>();
  for (const node of nodes) {
    if (node.opType !== 'BatchNormalization') continue;
    for (const name of node.input?.slice(3, 5) ?? []) statistics.add(name);
  }

  const gaussian = normal(mulberry32(options.seed ?? 1));
  let changed = 0;
  let parameters = 0;
  let kept = 0;
  for (const [name, tensor] of tensors) {
    if (tensor.dataType !== FLOAT) continue;
    const values = floatValues(tensor);
    if (values.length < minElements || statistics.has(name)) {
      kept++;
      continue;
    }
    const std = standardDeviation(values);
    if (!(std > 0)) {
      kept++;
      continue;
    }
    const sigma = scale * std;
    for (let i = 0; i < values.length; i++) values[i] = (values[i] ?? 0) + sigma * gaussian();
    setFloatValues(tensor, values);
    changed++;
    parameters += values.length;
  }

  const bytes = onnx.ModelProto.encode(model).finish();
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, bytes);
  return { tensors: changed, parameters, kept, sha256: sha256(bytes), bytes: bytes.length };
}

function floatValues(tensor: TensorProto): Float32Array {
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    // raw_data is little-endian and may sit at any offset of the decoded buffer.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = new Float32Array(raw.byteLength / 4);
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
    return values;
  }
  return Float32Array.from(tensor.floatData ?? []);
}

function setFloatValues(tensor: TensorProto, values: Float32Array): void {
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] ?? 0, true);
    tensor.rawData = raw;
  } else {
    tensor.floatData = Array.from(values);
  }
}

function standardDeviation(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return Math.sqrt(squares / values.length);
}

/** Standard normal draws from a uniform source (Box–Muller, both values used). */
function normal(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const u = 1 - random(); // (0, 1]: log stays finite
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** How {@link optimizedModel} re-saves the model. */
export interface OptimizeOptions {
  /**
   * ONNX Runtime's graph optimisation level for the saved file. `'basic'` folds constants and
   * fuses with standard ONNX operators only; `'extended'` adds ONNX Runtime's contrib operators
   * (CPU-loadable by onnxruntime-node); `'all'` writes layouts tied to this machine, which ONNX
   * Runtime advises against saving. @default 'basic'
   */
  readonly level?: 'basic' | 'extended';
}

/** The file {@link optimizedModel} wrote. */
export interface OptimizedStats {
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * The same network re-saved by ONNX Runtime: a CPU session on `sourcePath` with
 * `optimizedModelFilePath: outPath`. The file's bytes (and SHA-256) differ from the source's;
 * its answers match up to floating-point rounding of the fused operators.
 */
export async function optimizedModel(
  sourcePath: string,
  outPath: string,
  options: OptimizeOptions = {},
): Promise<OptimizedStats> {
  await mkdir(dirname(outPath), { recursive: true });
  const session = await InferenceSession.create(sourcePath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: options.level ?? 'basic',
    optimizedModelFilePath: outPath,
  });
  await session.release();
  const bytes = await readFile(outPath);
  return { sha256: sha256(bytes), bytes: bytes.length };
}

/** What {@link notAModel} writes. */
export interface NotAModelOptions {
  /**
   * `'random'`: seeded random bytes; `'truncated'`: the first half of `source`, a real model
   * cut mid-graph. @default 'random'
   */
  readonly kind?: 'random' | 'truncated';
  /** The model `'truncated'` cuts. @default the PP-OCRv4 recogniser */
  readonly source?: string;
  /** Seeds `'random'`. @default 1 */
  readonly seed?: number;
  /** Length of `'random'`. @default 4096 */
  readonly bytes?: number;
}

/** Writes bytes ONNX Runtime refuses to load as a model; returns their SHA-256. */
export async function notAModel(
  outPath: string,
  options: NotAModelOptions = {},
): Promise<{ sha256: string; bytes: number }> {
  let bytes: Uint8Array;
  if (options.kind === 'truncated') {
    const whole = await readFile(options.source ?? ocrModelPaths.recognizer);
    bytes = whole.subarray(0, Math.floor(whole.length / 2));
  } else {
    const random = mulberry32(options.seed ?? 1);
    bytes = new Uint8Array(options.bytes ?? 4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  }
  await mkdir(dirname(outPath), { recursive: true });
  await writeFile(outPath, bytes);
  return { sha256: sha256(bytes), bytes: bytes.length };
}

/** The files {@link modelVariants} made, with what each one's generator reported. */
export interface ModelVariants {
  /** The source model, untouched. */
  readonly original: string;
  readonly originalSha256: string;
  /** Re-saved by ONNX Runtime: other bytes, same answers. */
  readonly optimized: string;
  readonly optimizedStats: OptimizedStats;
  /** Noisy weights: loads and runs, reads badly. */
  readonly perturbed: string;
  readonly perturbedStats: PerturbStats;
  /** Random bytes. */
  readonly notAModel: string;
  /** The first half of the source. */
  readonly truncated: string;
}

/** What {@link modelVariants} builds from. */
export interface ModelVariantsOptions {
  /** @default the PP-OCRv4 recogniser */
  readonly source?: string;
  readonly perturb?: PerturbOptions;
  readonly optimize?: OptimizeOptions;
}

const built = new Map<string, Promise<ModelVariants>>();

/**
 * All four fixtures of `source` in `dir`, built once per process for the same `dir`, source and
 * options (a second call returns the first call's promise). About a second for the recogniser.
 */
export function modelVariants(
  dir: string,
  options: ModelVariantsOptions = {},
): Promise<ModelVariants> {
  const source = options.source ?? ocrModelPaths.recognizer;
  const key = JSON.stringify([dir, source, options.perturb ?? {}, options.optimize ?? {}]);
  let variants = built.get(key);
  if (!variants) {
    variants = buildVariants(dir, source, options);
    built.set(key, variants);
    variants.catch(() => built.delete(key));
  }
  return variants;
}

async function buildVariants(
  dir: string,
  source: string,
  options: ModelVariantsOptions,
): Promise<ModelVariants> {
  const paths = {
    optimized: join(dir, 'optimized.onnx'),
    perturbed: join(dir, 'perturbed.onnx'),
    notAModel: join(dir, 'not-a-model.onnx'),
    truncated: join(dir, 'truncated.onnx'),
  };
  const [originalBytes, optimizedStats, perturbedStats] = await Promise.all([
    readFile(source),
    optimizedModel(source, paths.optimized, options.optimize),
    perturbedModel(source, paths.perturbed, options.perturb),
    notAModel(paths.notAModel),
    notAModel(paths.truncated, { kind: 'truncated', source }),
  ]);
  return {
    original: source,
    originalSha256: sha256(originalBytes),
    optimizedStats,
    perturbedStats,
    ...paths,
  };
}

/** What {@link readPlates} read, in the order of the crops. */
export interface PlateReading {
  /** Decoded text per crop, over the steps that cover the crop rather than its padding. */
  readonly texts: readonly string[];
  /** Crops whose text matches the label, compared with {@link plateKey}. */
  readonly exact: number;
  /** `exact / crops.length`. */
  readonly accuracy: number;
  /** Every output value was a finite number. */
  readonly finite: boolean;
}

/** How {@link readPlates} runs the model. */
export interface ReadPlatesOptions {
  /** Crops per `session.run`. @default 32 */
  readonly batchSize?: number;
}

/**
 * Runs a recogniser on `crops` with onnxruntime-node (CPU) in batches and decodes each output
 * with greedy CTC: an evaluator for plate accuracy. The crops must share one padded shape, as
 * `plateCrops(n, seed, { width })` makes them.
 */
export async function readPlates(
  model: string | Uint8Array,
  crops: readonly PlateCrop[],
  options: ReadPlatesOptions = {},
): Promise<PlateReading> {
  const first = crops[0];
  if (!first) return { texts: [], exact: 0, accuracy: 0, finite: true };
  const dims = first.input.dims;
  for (const crop of crops) {
    if (crop.input.dims.join() !== dims.join()) {
      throw new RangeError(`crops differ in shape: [${dims}] and [${crop.input.dims}]; pad them`);
    }
  }
  const dictionary = loadDictionary();
  const sessionOptions = { executionProviders: ['cpu'] };
  const session =
    typeof model === 'string'
      ? await InferenceSession.create(model, sessionOptions)
      : await InferenceSession.create(model, sessionOptions);
  const batchSize = options.batchSize ?? 32;
  const itemSize = dims[0] * dims[1] * dims[2];
  const texts: string[] = [];
  let finite = true;
  try {
    for (let start = 0; start < crops.length; start += batchSize) {
      const batch = crops.slice(start, start + batchSize);
      const data = new Float32Array(batch.length * itemSize);
      for (const [i, crop] of batch.entries()) data.set(crop.input.data, i * itemSize);
      const outputs = await session.run({
        [session.inputNames[0] ?? 'x']: new Tensor('float32', data, [batch.length, ...dims]),
      });
      const probs = outputs[session.outputNames[0] ?? ''];
      if (!probs) throw new Error('the recogniser returned no output');
      const [, timesteps = 0, classes = 0] = probs.dims;
      const values = probs.data as Float32Array;
      for (const v of values) {
        if (!Number.isFinite(v)) {
          finite = false;
          break;
        }
      }
      batch.forEach((crop, i) => {
        const item = values.subarray(i * timesteps * classes, (i + 1) * timesteps * classes);
        const steps = contentTimesteps(crop.input.contentWidth, dims[2], timesteps);
        texts.push(
          ctcGreedyDecode(item, timesteps, classes, dictionary, { contentTimesteps: steps }).text,
        );
      });
    }
  } finally {
    await session.release();
  }
  const exact = crops.filter((crop, i) => plateKey(texts[i] ?? '') === plateKey(crop.label)).length;
  return { texts, exact, accuracy: exact / crops.length, finite };
}
