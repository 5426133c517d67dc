/**
 * `npm run demo:distributed`: plate reading spread over hosts with BullMQ on Redis. Starts two
 * reader hosts (processes, each batching on its own GPUOptimizers), sends rendered camera
 * frames through one InferenceQueue, kills the first host with SIGKILL while it holds jobs,
 * and shows that every frame is still answered once, by the host that survived.
 *
 *   npm run demo:distributed                  # 120 frames, Redis on 127.0.0.1:6379
 *   DEMO_IMAGES=300 REDIS_URL=redis://host:6379 npm run demo:distributed
 */
import { runDistributedDemo } from './run.js';

const report = await runDistributedDemo({
  images: Number(process.env.DEMO_IMAGES ?? 120),
  ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
  log: (line) => console.log(line),
});
const { images, seconds, perSecond, exact, taken, killed } = report;
console.log(
  `\n${images} frames in ${seconds} s (${perSecond} frames/s), ${exact} read exactly (${((100 * exact) / images).toFixed(1)} %)`,
);
console.log(
  `jobs taken per host: ${taken.join(', ')} (${taken.reduce((a, b) => a + b, 0) - images} taken again after the kill)`,
);
if (killed)
  console.log(
    `host ${killed.host} was killed after taking ${killed.afterJobs} jobs; every frame was answered once`,
  );
