/**
 * An Autoscaler target in the same process: the instances (worker threads) of a GPUOptimizer.
 * Each instance is a "pod"; its utilisation is the share of the time since the previous
 * `metrics()` call that it spent running batches, read from the optimizer's batch events, so `{ type: 'Resource', name: 'gpu',
 * averageUtilization: 70 }` scales on how busy the instances are. The queue length is there too
 * (`queued`, an External metric).
 */
import type { GPUOptimizer } from '../gpu/gpu-optimizer.js';
import type { MetricReadings, ScaleTarget } from './autoscaler-options.js';

/** Scales `optimizer`'s instance count; see the module comment for the metrics it reports. */
export function gpuScaleTarget(optimizer: GPUOptimizer, now: () => number = Date.now): ScaleTarget {
  const busyMs = new Map<number, number>();
  optimizer.on('batch', (batch) => {
    busyMs.set(batch.instance, (busyMs.get(batch.instance) ?? 0) + batch.executionMs);
  });
  let since = now();
  return {
    replicas: () => optimizer.stats().instances,
    scale: (replicas) => optimizer.resize(replicas),
    metrics(): MetricReadings {
      const at = now();
      const elapsed = Math.max(1, at - since);
      const stats = optimizer.stats();
      const samples = Array.from({ length: stats.instances }, (_, i) => ({
        value: Math.min(100, (100 * (busyMs.get(i) ?? 0)) / elapsed),
      }));
      busyMs.clear();
      since = at;
      return { gpu: samples, queued: stats.queued };
    },
  };
}
