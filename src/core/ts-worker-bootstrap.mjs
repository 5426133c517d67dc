// Development only: lets a worker thread run the TypeScript sources (tests, examples, benches
// run from src/). Published builds start the built worker files directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
