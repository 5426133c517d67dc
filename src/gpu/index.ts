export type { TunedPolicy } from './batch-tuner.js';
export { GPUOptimizer } from './gpu-optimizer.js';
export type { GPUOptimizerOptions } from './gpu-optimizer-options.js';
export type {
  BatchEvent,
  CloseOptions,
  GPUOptimizerEvents,
  ImageInferResult,
  InferOptions,
  InferResult,
} from './gpu-optimizer-types.js';
export type { GPUOptimizerStats, LatencySummary } from './gpu-stats.js';
export type { PaddingRule, UnpadRule } from './padding.js';
export {
  type ChannelOrder,
  type ImageFormat,
  type ImageInput,
  ImagePreprocessor,
  type PreprocessResult,
  type PreprocessSpec,
  preprocessedLength,
  preprocessImage,
  type ResizeMode,
  type ResolvedPreprocessSpec,
  type Triple,
} from './preprocess/index.js';
export type { InferenceRuntime, RuntimeContext, RuntimeFactory, RuntimeSource } from './runtime.js';
export {
  type KServeRuntimeSourceOptions,
  kserveRuntime,
  type OnnxRuntimeSourceOptions,
  onnxRuntime,
  runtimeModule,
} from './runtime-sources.js';
export { elementCount, type Tensor, type TensorData, type TensorSpec } from './tensor.js';
export { type TuneOptions, type TuneResult, type TuneTrial, tune } from './tune.js';
