/**
 * One GPU host of the distributed demo, in a process of its own: a PlateReader (PP-OCRv4
 * detection and recognition, each a GPUOptimizer) behind an InferenceWorker. Prints one JSON
 * line when ready and one per job it takes; stops cleanly on SIGTERM.
 *
 *   node --import tsx examples/distributed-lpr/reader-host.ts PREFIX QUEUE [REDIS_URL]
 */
import { Redis } from 'ioredis';
import { InferenceWorker } from 'salama/scaling/bullmq';
import { PlateReader } from '../lpr-service/plate-reader.js';
import { plateTarget } from './plate-target.js';

const [prefix, name, url = 'redis://127.0.0.1:6379'] = process.argv.slice(2);
if (!prefix || !name) {
  console.error('usage: reader-host.ts PREFIX QUEUE [REDIS_URL]');
  process.exit(2);
}
const reader = new PlateReader();
await reader.ready();
// BullMQ's workers block on their connection, so it must retry forever.
const connection = new Redis(url, { maxRetriesPerRequest: null });
const worker = new InferenceWorker({
  connection,
  name,
  prefix,
  target: plateTarget(reader),
  concurrency: 8,
  // A host that dies is noticed within about 3 s and its jobs run elsewhere.
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
});
worker.on('active', (job) => process.stdout.write(`${JSON.stringify({ active: job?.id })}\n`));
await worker.ready();
process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
process.once('SIGTERM', async () => {
  await worker.close();
  await reader.close();
  connection.disconnect();
  process.exit(0);
});
