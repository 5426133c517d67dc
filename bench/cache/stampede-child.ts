/**
 * One of the processes of the distributed stampede (spawned by bench/cache.ts): its own salama
 * MultiLevelCache (MemoryStore + RedisStore) on the shared Redis. For each round it waits at a
 * Redis barrier (BLPOP), then calls `getOrSet(coldKey, loader, { distributedLock: true })`
 * `CONCURRENCY` times at once; the loader counts its calls in Redis. Talks to the parent in
 * JSON lines on stdout.
 *
 * argv: runId rounds concurrency
 */
import { Redis } from 'ioredis';
import { MemoryStore, MultiLevelCache } from 'salama/cache';
import { RedisStore } from 'salama/cache/redis';
import {
  LOADER_MS,
  makeValue,
  percentile,
  REDIS_HOST,
  REDIS_PORT,
  ROOT_PREFIX,
  round,
  sleep,
  TTL_MS,
} from './shared.js';

const [runId = 'x', roundsArg = '1', concurrencyArg = '250'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const concurrency = Number(concurrencyArg);

const send = (message: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ...message })}\n`);

const client = new Redis({
  host: REDIS_HOST,
  port: REDIS_PORT,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
});
const blocking = new Redis({ host: REDIS_HOST, port: REDIS_PORT });
await Promise.all(
  [client, blocking].map((c) => new Promise((resolve) => c.once('ready', resolve))),
);
const cache = new MultiLevelCache({
  stores: [
    new MemoryStore({ maxEntries: 1000 }),
    new RedisStore({ client, prefix: `${ROOT_PREFIX}dist:` }),
  ],
  ttlMs: TTL_MS,
});
const value = makeValue(0);
send({ type: 'ready' });

for (let r = 0; r < rounds; r++) {
  await blocking.blpop(`${ROOT_PREFIX}dist:go:${runId}:${r}`, 0);
  const counter = `${ROOT_PREFIX}dist:calls:${runId}:${r}`;
  let localCalls = 0;
  const loader = async () => {
    localCalls++;
    await client.incr(counter);
    await sleep(LOADER_MS);
    return value;
  };
  const key = `cold:${runId}:${r}`;
  const latencies = new Float64Array(concurrency);
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const t = performance.now();
      try {
        const got = await cache.getOrSet(key, loader, { distributedLock: true });
        if ((got as { id?: number }).id !== 0) errors++;
      } catch (error) {
        errors++;
        const code = (error as { code?: string }).code ?? (error as Error).name;
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
      latencies[i] = performance.now() - t;
    }),
  );
  const wallMs = performance.now() - start;
  latencies.sort();
  send({
    type: 'round',
    round: r,
    localLoaderCalls: localCalls,
    errors,
    errorCodes,
    wallMs: round(wallMs),
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
  });
}

await cache.close();
client.disconnect();
blocking.disconnect();
