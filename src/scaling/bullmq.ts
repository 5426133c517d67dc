/**
 * `salama/scaling/bullmq`: distributed inference on BullMQ (an optional peer dependency, with
 * ioredis). Import this subpath only where BullMQ is installed.
 */
export {
  InferenceQueue,
  type InferenceQueueOptions,
  type SubmitOptions,
} from './distributed/inference-queue.js';
export {
  type InferenceTarget,
  InferenceWorker,
  type InferenceWorkerOptions,
} from './distributed/inference-worker.js';
