import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'memory/index': 'src/memory/index.ts',
    'gpu/index': 'src/gpu/index.ts',
    'gpu/onnx': 'src/gpu/runtimes/onnx-runtime.ts',
    'gpu/kserve': 'src/gpu/runtimes/kserve-runtime.ts',
    'gpu/tfjs': 'src/gpu/runtimes/tfjs-runtime.ts',
    'cache/index': 'src/cache/index.ts',
    'cache/redis': 'src/cache/redis.ts',
    'blob/index': 'src/blob/index.ts',
    'retention/index': 'src/retention/index.ts',
    'models/index': 'src/models/index.ts',
    'scaling/index': 'src/scaling/index.ts',
    'scaling/bullmq': 'src/scaling/bullmq.ts',
    'ops/index': 'src/ops/index.ts',
    'ops/prometheus': 'src/ops/prometheus.ts',
    'backup/index': 'src/backup/index.ts',
    'backup/s3': 'src/backup/s3.ts',
    // Started by BackupService in a worker thread; not imported by users.
    'backup/pack-worker': 'src/backup/worker/pack-worker.ts',
    // Started by GPUOptimizer in each worker thread; not imported by users.
    'gpu/inference-worker': 'src/gpu/worker/inference-worker.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  treeshake: true,
  // Error classes read their name from the constructor; keep it through bundling.
  keepNames: true,
});
