import { pathToFileURL } from 'node:url';
import { locateModule, runningFromSource } from '../core/module-location.js';
import type { RuntimeSource } from './runtime.js';
// Type-only: importing these loads neither onnxruntime-node nor the runtimes' code.
import type { KServeRuntimeOptions } from './runtimes/kserve-runtime.js';
import type { OnnxRuntimeOptions } from './runtimes/onnx-runtime.js';

function builtIn(source: string, dist: string): string {
  const base = import.meta.url;
  const candidates = runningFromSource(base) ? [source] : [`./gpu/${dist}`, `./${dist}`];
  return locateModule(base, candidates).href;
}

/**
 * A runtime created in each worker by `module`'s default export (a `RuntimeFactory`) from
 * `options`. Use it for TensorFlow.js models or a runtime of your own. `module` is a `file:`
 * URL or path; `options` must survive structured clone (no functions).
 */
export function runtimeModule<O>(
  module: string | URL,
  options: O,
  label?: string,
): RuntimeSource<O> {
  const href =
    module instanceof URL
      ? module.href
      : module.startsWith('file:')
        ? module
        : pathToFileURL(module).href;
  return { module: href, options, label: label ?? href.slice(href.lastIndexOf('/') + 1) };
}

/** Options of {@link onnxRuntime}: those of `OnnxRuntime` (salama/gpu/onnx), plus a label. */
export type OnnxRuntimeSourceOptions = OnnxRuntimeOptions & {
  /** Names the model in stats, logs and events. @default the file name */
  label?: string;
};

/** An ONNX Runtime session per worker (onnxruntime-node, an optional peer dependency). */
export function onnxRuntime(options: OnnxRuntimeSourceOptions): RuntimeSource {
  const { label, ...rest } = options;
  const name =
    typeof options.model === 'string'
      ? options.model.slice(options.model.lastIndexOf('/') + 1)
      : 'onnx-model';
  return {
    module: builtIn('./runtimes/onnx-runtime.ts', 'onnx.js'),
    options: rest,
    label: label ?? name,
  };
}

/**
 * Options of {@link kserveRuntime}: those of `KServeRuntime` (salama/gpu/kserve) that survive
 * structured clone to a worker (not `clock`), plus a label.
 */
export type KServeRuntimeSourceOptions = Omit<KServeRuntimeOptions, 'clock'> & {
  /** Names the model in stats, logs and events. @default the model name */
  label?: string;
};

/** A connection per worker to a KServe v2 / Triton server. */
export function kserveRuntime(options: KServeRuntimeSourceOptions): RuntimeSource {
  const { label, ...rest } = options;
  return {
    module: builtIn('./runtimes/kserve-runtime.ts', 'kserve.js'),
    options: rest,
    label: label ?? options.model,
  };
}
