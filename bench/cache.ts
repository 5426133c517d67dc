/**
 * salama's MultiLevelCache against the caches a Node.js service would otherwise pick, and
 * against the raw clients underneath them, in one process on the same data: 100k keys of
 * 1 KiB JSON values read in a Zipf(0.99) order, one Redis (127.0.0.1:6379), each peer under
 * its own key prefix. Peers:
 *   - lru_cache      raw `LRUCache#get` (the floor of an in-memory tier)
 *   - raw_ioredis    raw ioredis `GET` + `JSON.parse` (the floor of a Redis tier)
 *   - bentocache     bentocache 1.6 (memory driver, redis driver on ioredis)
 *   - cache_manager  cache-manager 7 over keyv 5 (in-memory Keyv, @keyv/redis 5 on node-redis)
 *   - salama         MultiLevelCache (MemoryStore, RedisStore on ioredis)
 * Scenarios:
 *   - l1_hit         `get` of preloaded keys, memory tier only
 *   - l2_hit         `get` with no memory tier (each library's Redis-only configuration)
 *   - getorset_hot   `getOrSet` of one cached key, memory + Redis configuration
 *   - stampede       1,000 concurrent `getOrSet` of a cold key, 50 ms loader; loader calls
 *                    counted; also salama across 4 processes with the distributed lock
 *   - redis_down     `get` with an empty memory tier while Redis hangs (a proxy that goes
 *                    silent) and while its port refuses connections
 * The sequential scenarios time every awaited call with `process.hrtime.bigint()`; peers take
 * turns in `ROUNDS` slots (the starting peer rotates) and each peer's figures add up its slots,
 * since this machine's speed drifts. `CACHE_BENCH_ROUNDS` (default 5) sets the number of rounds.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient, createKeyv, createKeyvNonBlocking } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache } from 'cache-manager';
import { Redis, type RedisOptions } from 'ioredis';
import { Keyv } from 'keyv';
import { LRUCache } from 'lru-cache';
import { MemoryStore, MultiLevelCache } from 'salama/cache';
import { RedisStore } from 'salama/cache/redis';
import { BlackholeProxy } from './cache/blackhole.js';
import {
  type CachedValue,
  KEY_COUNT,
  keyOf,
  LOADER_MS,
  makeValue,
  percentile,
  REDIS_HOST,
  REDIS_PORT,
  Recorder,
  ROOT_PREFIX,
  round,
  sleep,
  TTL_MS,
  VALUE_BYTES,
  ZIPF_S,
  zipfSequence,
} from './cache/shared.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.CACHE_BENCH_ROUNDS ?? 5);
const SLOT_MS = { l1_hit: 300, l2_hit: 600, getorset_hot: 300 } as const;
const STAMPEDE_CALLS = 1000;
const STAMPEDE_ROUNDS = 5;
const DIST_PROCESSES = 4;
const DIST_ROUNDS = 3;
const L2_TIMEOUT_MS = 50;
const BREAK_MS = 10_000;
const DOWN_CALLS = 100;
/** The benchmark's own bound on one call while Redis is down. */
const DOWN_BOUND_MS = 1000;
/** A peer whose calls go unanswered this many times in a row is not called further. */
const DOWN_GIVE_UP = 5;
const SEQ_LENGTH = 1 << 20;
const SEQ_MASK = SEQ_LENGTH - 1;

const gc = (globalThis as { gc?: () => void }).gc;

type Op = (key: string) => unknown;
type GetOrSet = (key: string, loader: () => Promise<CachedValue>) => Promise<unknown>;

interface SeqPeer {
  readonly name: string;
  readonly op: Op;
  /** Keys as this peer is called with them (the raw client gets them prefixed). */
  readonly keys: readonly string[];
  readonly rec: Recorder;
  cursor: number;
}

const us = (ns: number) => round(ns / 1000, 3);

function summary(rec: Recorder) {
  const sorted = rec.sorted();
  return {
    ops_per_s: Math.round(rec.count / (rec.wallNs / 1e9)),
    p50_us: us(percentile(sorted, 0.5)),
    p99_us: us(percentile(sorted, 0.99)),
    p50_ns: Math.round(percentile(sorted, 0.5)),
    samples: rec.count,
    misses: rec.misses,
  };
}

/** Redis keys under `prefix`, removed with SCAN + UNLINK. */
async function dropKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) removed += await client.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

/** Commands Redis has executed so far (all clients), from INFO commandstats. */
async function commandCount(control: Redis): Promise<number> {
  const info = await control.info('commandstats');
  let total = 0;
  for (const match of info.matchAll(/calls=(\d+)/g)) total += Number(match[1]);
  return total;
}

async function inChunks(count: number, size: number, task: (i: number) => Promise<unknown>) {
  for (let start = 0; start < count; start += size) {
    const jobs: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(count, start + size); i++) jobs.push(task(i));
    await Promise.all(jobs);
  }
}

async function ioredis(options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis({
    host: REDIS_HOST,
    port: REDIS_PORT,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    ...options,
  });
  client.on('error', () => {});
  if (options.lazyConnect !== true) await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

/** Runs `peer` sequentially for `ms`: one awaited call at a time, each timed. */
async function slot(peer: SeqPeer, seq: Int32Array, ms: number): Promise<void> {
  const { op, keys, rec } = peer;
  let i = peer.cursor;
  const end = performance.now() + ms;
  const t0 = process.hrtime.bigint();
  do {
    for (let j = 0; j < 64; j++) {
      const key = keys[seq[i++ & SEQ_MASK] as number] as string;
      const start = process.hrtime.bigint();
      let value = op(key);
      if (value instanceof Promise) value = await value;
      rec.push(Number(process.hrtime.bigint() - start));
      if (value === undefined) rec.misses++;
    }
  } while (performance.now() < end);
  rec.wallNs += Number(process.hrtime.bigint() - t0);
  peer.cursor = i;
}

async function settle(): Promise<void> {
  gc?.();
  await sleep(5);
}

/** Warm-up slot per peer (discarded), then `ROUNDS` rounds, the first peer rotating. */
async function interleave(peers: SeqPeer[], seq: Int32Array, ms: number): Promise<void> {
  for (const peer of peers) {
    const warm = { ...peer, rec: new Recorder() };
    await slot(warm, seq, Math.min(ms, 200));
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (let p = 0; p < peers.length; p++) {
      await settle();
      await slot(peers[(p + r) % peers.length] as SeqPeer, seq, ms);
    }
  }
}

/** 1,000 concurrent calls of a cold key; returns the loader calls. */
async function stampede(
  rec: Recorder,
  getOrSet: GetOrSet,
  key: string,
  value: CachedValue,
): Promise<number> {
  let calls = 0;
  const loader = async () => {
    calls++;
    await sleep(LOADER_MS);
    return value;
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: STAMPEDE_CALLS }, async () => {
      const start = process.hrtime.bigint();
      try {
        const got = await getOrSet(key, loader);
        if ((got as CachedValue | undefined)?.id !== value.id) rec.misses++;
      } catch {
        rec.errors++;
      }
      rec.push(Number(process.hrtime.bigint() - start));
    }),
  );
  rec.wallNs += Number(process.hrtime.bigint() - t0);
  return calls;
}

/** Sequential `get`s while Redis is down, each bounded by `DOWN_BOUND_MS`. */
async function downCalls(
  rec: Recorder,
  get: (key: string) => Promise<unknown>,
  keys: readonly string[],
): Promise<void> {
  const t0 = process.hrtime.bigint();
  let unansweredInARow = 0;
  for (let i = 0; i < DOWN_CALLS && unansweredInARow < DOWN_GIVE_UP; i++) {
    const start = process.hrtime.bigint();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      get(keys[i] as string).then(
        (v) => (v === undefined ? 'miss' : 'value'),
        () => 'error',
      ),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('unanswered'), DOWN_BOUND_MS);
      }),
    ]);
    clearTimeout(timer);
    rec.push(Number(process.hrtime.bigint() - start));
    unansweredInARow = outcome === 'unanswered' ? unansweredInARow + 1 : 0;
    if (outcome === 'error') rec.errors++;
    else if (outcome === 'unanswered') rec.unanswered++;
    else if (outcome === 'miss') rec.misses++;
  }
  rec.wallNs += Number(process.hrtime.bigint() - t0);
}

function downSummary(rec: Recorder) {
  const sorted = rec.sorted();
  const ms = (ns: number) => round(ns / 1e6, 2);
  return {
    calls: rec.count,
    ops_per_s: round(rec.count / (rec.wallNs / 1e9), 1),
    p50_ms: ms(percentile(sorted, 0.5)),
    p99_ms: ms(percentile(sorted, 0.99)),
    max_ms: ms(sorted[sorted.length - 1] ?? 0),
    p50_us: us(percentile(sorted, 0.5)),
    p99_us: us(percentile(sorted, 0.99)),
    answered_undefined: rec.misses,
    errors_thrown: rec.errors,
    unanswered_within_bound: rec.unanswered,
    /** True when calls were cut at the benchmark's bound: the real latency is at least this. */
    latency_is_lower_bound: rec.unanswered > 0,
  };
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    }),
  );
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The redis_down peers, each with its L2 on `port`, memory tier empty. */
async function downPeers(port: number, lazy: boolean) {
  const clientOptions: RedisOptions = { port, lazyConnect: lazy };
  const rawClient = await ioredis({ ...clientOptions, commandTimeout: L2_TIMEOUT_MS });
  const bentoClient = await ioredis({ ...clientOptions, commandTimeout: L2_TIMEOUT_MS });
  const salamaClient = await ioredis(clientOptions);
  const salamaNbClient = await ioredis(clientOptions);
  if (lazy) {
    for (const c of [rawClient, bentoClient, salamaClient, salamaNbClient]) {
      c.connect().catch(() => {});
    }
  }
  const nodeClient = createClient({
    socket: { host: REDIS_HOST, port, reconnectStrategy: false },
    disableOfflineQueue: true,
    commandOptions: { timeout: L2_TIMEOUT_MS },
  });
  nodeClient.on('error', () => {});
  const cmL2 = createKeyvNonBlocking(nodeClient, { namespace: `${ROOT_PREFIX}cm-down` });
  cmL2.on('error', () => {});
  const cm = createCache({
    stores: [new Keyv({ serialize: undefined, deserialize: undefined }), cmL2],
    ttl: TTL_MS,
  });
  const bento = new BentoCache({
    default: 'down',
    prefix: `${ROOT_PREFIX}bento-down`,
    ttl: TTL_MS,
    l2CircuitBreakerDuration: BREAK_MS,
    stores: {
      down: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 200_000, serialize: false }))
        .useL2Layer(redisDriver({ connection: bentoClient })),
    },
  });
  const salama = new MultiLevelCache({
    stores: [
      new MemoryStore({ maxEntries: 200_000 }),
      new RedisStore({ client: salamaClient, prefix: `${ROOT_PREFIX}salama-down:` }),
    ],
    ttlMs: TTL_MS,
    remote: { timeoutMs: L2_TIMEOUT_MS, breakDurationMs: BREAK_MS },
  });
  const salamaNoBreaker = new MultiLevelCache({
    stores: [
      new MemoryStore({ maxEntries: 200_000 }),
      new RedisStore({ client: salamaNbClient, prefix: `${ROOT_PREFIX}salama-down-nb:` }),
    ],
    ttlMs: TTL_MS,
    remote: {
      timeoutMs: L2_TIMEOUT_MS,
      failureThreshold: 1_000_000_000,
      timeoutThreshold: 1_000_000_000,
    },
  });
  const peers: [string, (key: string) => Promise<unknown>][] = [
    [
      'raw_ioredis',
      async (key) => {
        const text = await rawClient.get(`${ROOT_PREFIX}raw-down:${key}`);
        return text === null ? undefined : JSON.parse(text);
      },
    ],
    ['bentocache', (key) => bento.get({ key })],
    ['cache_manager', (key) => cm.get(key)],
    ['salama', (key) => salama.get(key)],
    ['salama_no_breaker', (key) => salamaNoBreaker.get(key)],
  ];
  const close = async () => {
    for (const c of [rawClient, bentoClient, salamaClient, salamaNbClient]) c.disconnect();
    try {
      nodeClient.destroy();
    } catch {}
    await salama.close();
    await salamaNoBreaker.close();
  };
  return { peers, close, salama, salamaNoBreaker };
}

async function redisDown(mode: 'hung' | 'refused', keys: readonly string[]) {
  const proxy = mode === 'hung' ? new BlackholeProxy({ host: REDIS_HOST, port: REDIS_PORT }) : null;
  const port = proxy ? await proxy.listen() : await closedPort();
  const { peers, close, salama, salamaNoBreaker } = await downPeers(port, mode === 'refused');
  if (proxy) {
    // Connect every peer while Redis answers (a miss each), then let the proxy go silent.
    for (const [, get] of peers) await get('warm-up');
    proxy.hang();
  } else {
    await sleep(100);
  }
  const out: Record<string, ReturnType<typeof downSummary>> = {};
  for (const [name, get] of peers) {
    const rec = new Recorder();
    await settle();
    await downCalls(rec, get, keys);
    out[name] = downSummary(rec);
  }
  const tiers = {
    salama: salama.stats().tiers[1],
    salama_no_breaker: salamaNoBreaker.stats().tiers[1],
  };
  await close();
  await proxy?.close();
  return { results: out, salama_redis_tier: tiers };
}

/** 4 processes, each 250 concurrent getOrSet with the distributed lock, per round. */
async function distributedStampede(control: Redis, runId: string) {
  const script = join(here, 'cache', 'stampede-child.ts');
  const per = STAMPEDE_CALLS / DIST_PROCESSES;
  const children = Array.from({ length: DIST_PROCESSES }, () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, runId, String(DIST_ROUNDS), String(per)],
      {
        cwd: join(here, '..'),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const messages: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        messages.push(JSON.parse(line));
      } catch {
        return;
      }
      for (const wake of waiters.splice(0)) wake();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const next = async (type: string, roundNo?: number) => {
      for (;;) {
        const found = messages.find(
          (m) => m.type === type && (roundNo === undefined || m.round === roundNo),
        );
        if (found) return found;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    return { child, next, exited };
  });
  await Promise.all(children.map((c) => c.next('ready')));
  const rounds = [];
  for (let r = 0; r < DIST_ROUNDS; r++) {
    await control.rpush(
      `${ROOT_PREFIX}dist:go:${runId}:${r}`,
      ...Array.from({ length: DIST_PROCESSES }, () => 'go'),
    );
    const reports = await Promise.all(children.map((c) => c.next('round', r)));
    const calls = Number(await control.get(`${ROOT_PREFIX}dist:calls:${runId}:${r}`));
    rounds.push({
      loader_calls: calls,
      errors: reports.reduce((n, m) => n + Number(m.errors), 0),
      wall_ms_max: Math.max(...reports.map((m) => Number(m.wallMs))),
      p99_ms_max: Math.max(...reports.map((m) => Number(m.p99Ms))),
      per_process: reports.map((m) => ({
        loader_calls: m.localLoaderCalls,
        errors: m.errors,
        error_codes: m.errorCodes,
        wall_ms: m.wallMs,
        p50_ms: m.p50Ms,
        p99_ms: m.p99Ms,
      })),
    });
    await sleep(50);
  }
  await Promise.all(children.map((c) => c.exited));
  return rounds;
}

export default async function run() {
  const runId = Date.now().toString(36);
  const control = await ioredis();
  const leftovers = await dropKeys(control, ROOT_PREFIX);

  // ---- data --------------------------------------------------------------------------------
  const values = Array.from({ length: KEY_COUNT }, (_, i) => makeValue(i));
  const keys = values.map((_, i) => keyOf(i));
  const rawKeys = keys.map((k) => `${ROOT_PREFIX}raw:${k}`);
  const seq = zipfSequence(KEY_COUNT, ZIPF_S, SEQ_LENGTH, 2026);
  const distinctInSeq = new Set(seq).size;

  // ---- peers -------------------------------------------------------------------------------
  const rawClient = await ioredis();
  const bentoClient = await ioredis();
  const salamaClient = await ioredis();
  const nodeClient = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT } });
  nodeClient.on('error', () => {});
  const nodeClientFull = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT } });
  nodeClientFull.on('error', () => {});

  const lru = new LRUCache<string, CachedValue>({ max: 200_000, ttl: TTL_MS });
  const bentoMemory = () => memoryDriver({ maxItems: 200_000, serialize: false });
  const bentoL1 = new BentoCache({
    default: 'l1',
    prefix: `${ROOT_PREFIX}bento-l1`,
    ttl: TTL_MS,
    stores: { l1: bentostore().useL1Layer(bentoMemory()) },
  });
  const bentoL2 = new BentoCache({
    default: 'l2',
    prefix: `${ROOT_PREFIX}bento-l2`,
    ttl: TTL_MS,
    stores: { l2: bentostore().useL2Layer(redisDriver({ connection: bentoClient })) },
  });
  const bentoFull = new BentoCache({
    default: 'full',
    prefix: `${ROOT_PREFIX}bento-full`,
    ttl: TTL_MS,
    stores: {
      full: bentostore()
        .useL1Layer(bentoMemory())
        .useL2Layer(redisDriver({ connection: bentoClient })),
    },
  });
  // keyv serialises to JSON even in memory by default; off here, so its memory tier holds live
  // objects as the other peers' do.
  const keyvMemory = () => new Keyv({ serialize: undefined, deserialize: undefined });
  const cmL1 = createCache({ stores: [keyvMemory()], ttl: TTL_MS });
  const cmL2 = createCache({
    stores: [createKeyv(nodeClient, { namespace: `${ROOT_PREFIX}cm-l2` })],
    ttl: TTL_MS,
  });
  const cmFull = createCache({
    stores: [keyvMemory(), createKeyv(nodeClientFull, { namespace: `${ROOT_PREFIX}cm-full` })],
    ttl: TTL_MS,
  });
  const salamaL1 = new MultiLevelCache({
    stores: [new MemoryStore({ maxEntries: 200_000 })],
    ttlMs: TTL_MS,
  });
  const salamaL2 = new MultiLevelCache({
    stores: [new RedisStore({ client: salamaClient, prefix: `${ROOT_PREFIX}salama-l2:` })],
    ttlMs: TTL_MS,
  });
  // Diagnostic, not a peer: salama's L2 with compression off (see notes).
  const salamaL2Plain = new MultiLevelCache({
    stores: [new RedisStore({ client: salamaClient, prefix: `${ROOT_PREFIX}salama-l2-plain:` })],
    ttlMs: TTL_MS,
    compression: false,
  });
  const salamaFull = new MultiLevelCache({
    stores: [
      new MemoryStore({ maxEntries: 200_000 }),
      new RedisStore({ client: salamaClient, prefix: `${ROOT_PREFIX}salama-full:` }),
    ],
    ttlMs: TTL_MS,
  });

  // ---- preload -----------------------------------------------------------------------------
  const preloadStart = performance.now();
  for (let i = 0; i < KEY_COUNT; i++) lru.set(keys[i] as string, values[i] as CachedValue);
  await inChunks(KEY_COUNT, 2000, (i) => bentoL1.set({ key: keys[i] as string, value: values[i] }));
  await inChunks(KEY_COUNT, 2000, (i) => cmL1.set(keys[i] as string, values[i]));
  await inChunks(KEY_COUNT, 2000, (i) => salamaL1.set(keys[i] as string, values[i]));
  await inChunks(KEY_COUNT, 1000, (i) =>
    rawClient.set(rawKeys[i] as string, JSON.stringify(values[i]), 'PX', TTL_MS),
  );
  await inChunks(KEY_COUNT, 1000, (i) => bentoL2.set({ key: keys[i] as string, value: values[i] }));
  await inChunks(KEY_COUNT, 1000, (i) => cmL2.set(keys[i] as string, values[i]));
  await inChunks(KEY_COUNT, 1000, (i) => salamaL2.set(keys[i] as string, values[i]));
  await inChunks(KEY_COUNT, 1000, (i) => salamaL2Plain.set(keys[i] as string, values[i]));
  const preloadS = round((performance.now() - preloadStart) / 1000, 1);
  const hot = values[0] as CachedValue;
  let hotLoads = 0;
  const hotLoader = async () => {
    hotLoads++;
    return hot;
  };
  await bentoFull.getOrSet({ key: 'hot', factory: hotLoader });
  await cmFull.wrap('hot', hotLoader, TTL_MS);
  await salamaFull.getOrSet('hot', hotLoader);

  // ---- every peer answers the same value ---------------------------------------------------
  const expected = (i: number) => JSON.stringify(values[i]);
  const checks: Record<string, boolean> = {};
  for (const i of [0, 1, 4242, KEY_COUNT - 1]) {
    const k = keys[i] as string;
    const answers: Record<string, unknown> = {
      l1_lru_cache: lru.get(k),
      l1_bentocache: await bentoL1.get({ key: k }),
      l1_cache_manager: await cmL1.get(k),
      l1_salama: await salamaL1.get(k),
      l2_raw_ioredis: JSON.parse((await rawClient.get(rawKeys[i] as string)) ?? 'null'),
      l2_bentocache: await bentoL2.get({ key: k }),
      l2_cache_manager: await cmL2.get(k),
      l2_salama: await salamaL2.get(k),
      l2_salama_uncompressed: await salamaL2Plain.get(k),
    };
    for (const [name, answer] of Object.entries(answers)) {
      checks[name] = (checks[name] ?? true) && JSON.stringify(answer) === expected(i);
    }
  }
  if (!Object.values(checks).every(Boolean)) {
    throw new Error(`peers disagree on values: ${JSON.stringify(checks)}`);
  }

  // ---- sequential scenarios ----------------------------------------------------------------
  const seqPeer = (name: string, op: Op, peerKeys: readonly string[] = keys): SeqPeer => ({
    name,
    op,
    keys: peerKeys,
    rec: new Recorder(),
    cursor: 0,
  });
  const scenarios: Record<string, SeqPeer[]> = {
    l1_hit: [
      seqPeer('lru_cache', (k) => lru.get(k)),
      seqPeer('bentocache', (k) => bentoL1.get({ key: k })),
      seqPeer('cache_manager', (k) => cmL1.get(k)),
      seqPeer('salama', (k) => salamaL1.get(k)),
    ],
    l2_hit: [
      seqPeer(
        'raw_ioredis',
        async (k) => {
          const text = await rawClient.get(k);
          return text === null ? undefined : JSON.parse(text);
        },
        rawKeys,
      ),
      seqPeer('bentocache', (k) => bentoL2.get({ key: k })),
      seqPeer('cache_manager', (k) => cmL2.get(k)),
      seqPeer('salama', (k) => salamaL2.get(k)),
      seqPeer('salama_uncompressed', (k) => salamaL2Plain.get(k)),
    ],
    getorset_hot: [
      seqPeer('lru_cache', () => {
        const found = lru.get('hot');
        if (found !== undefined) return found;
        return hotLoader().then((v) => {
          lru.set('hot', v);
          return v;
        });
      }),
      seqPeer('bentocache', () => bentoFull.getOrSet({ key: 'hot', factory: hotLoader })),
      seqPeer('cache_manager', () => cmFull.wrap('hot', hotLoader, TTL_MS)),
      seqPeer('salama', () => salamaFull.getOrSet('hot', hotLoader)),
    ],
  };
  lru.set('hot', hot);
  const sequential: Record<string, Record<string, ReturnType<typeof summary>>> = {};
  for (const [scenario, peers] of Object.entries(scenarios)) {
    await interleave(peers, seq, SLOT_MS[scenario as keyof typeof SLOT_MS]);
    sequential[scenario] = Object.fromEntries(peers.map((p) => [p.name, summary(p.rec)]));
  }

  // ---- stampede ----------------------------------------------------------------------------
  const stampedePeers: [string, GetOrSet][] = [
    [
      'lru_cache',
      async (key, loader) => {
        const found = lru.get(key);
        if (found !== undefined) return found;
        const v = await loader();
        lru.set(key, v);
        return v;
      },
    ],
    [
      'raw_ioredis',
      async (key, loader) => {
        const full = `${ROOT_PREFIX}raw-stampede:${key}`;
        const text = await rawClient.get(full);
        if (text !== null) return JSON.parse(text);
        const v = await loader();
        await rawClient.set(full, JSON.stringify(v), 'PX', TTL_MS);
        return v;
      },
    ],
    ['bentocache', (key, loader) => bentoFull.getOrSet({ key, factory: loader })],
    ['cache_manager', (key, loader) => cmFull.wrap(key, loader, TTL_MS)],
    ['salama', (key, loader) => salamaFull.getOrSet(key, loader)],
  ];
  const stampedeRecs = stampedePeers.map(() => new Recorder());
  const stampedeCalls: number[][] = stampedePeers.map(() => []);
  const stampedeCommands: number[][] = stampedePeers.map(() => []);
  for (let r = 0; r < STAMPEDE_ROUNDS; r++) {
    for (let p = 0; p < stampedePeers.length; p++) {
      const idx = (p + r) % stampedePeers.length;
      const [, getOrSet] = stampedePeers[idx] as [string, GetOrSet];
      await settle();
      const commandsBefore = await commandCount(control);
      const calls = await stampede(
        stampedeRecs[idx] as Recorder,
        getOrSet,
        `cold:${runId}:${r}`,
        values[r + 1] as CachedValue,
      );
      stampedeCalls[idx]?.push(calls);
      // Minus the INFO that took the first count.
      stampedeCommands[idx]?.push((await commandCount(control)) - commandsBefore - 1);
    }
  }
  const stampedeResults = Object.fromEntries(
    stampedePeers.map(([name], idx) => {
      const rec = stampedeRecs[idx] as Recorder;
      const sorted = rec.sorted();
      const calls = stampedeCalls[idx] as number[];
      return [
        name,
        {
          ops_per_s: Math.round(rec.count / (rec.wallNs / 1e9)),
          p50_us: us(percentile(sorted, 0.5)),
          p99_us: us(percentile(sorted, 0.99)),
          p50_ms: round(percentile(sorted, 0.5) / 1e6),
          p99_ms: round(percentile(sorted, 0.99) / 1e6),
          loader_calls_per_round: calls,
          loader_calls_max: Math.max(...calls),
          redis_commands_per_burst: stampedeCommands[idx],
          wrong_values: rec.misses,
          errors: rec.errors,
        },
      ];
    }),
  );

  // ---- Redis down --------------------------------------------------------------------------
  const downKeys = Array.from({ length: DOWN_CALLS }, (_, i) => keys[seq[i] as number] as string);
  const hung = await redisDown('hung', downKeys);
  const refused = await redisDown('refused', downKeys);

  // ---- distributed stampede ----------------------------------------------------------------
  const distributed = await distributedStampede(control, runId);

  // ---- clean up ----------------------------------------------------------------------------
  const salamaStats = {
    l1: salamaL1.stats(),
    l2: salamaL2.stats(),
    full: salamaFull.stats(),
  };
  await Promise.all([
    salamaL1.close(),
    salamaL2.close(),
    salamaL2Plain.close(),
    salamaFull.close(),
  ]);
  await Promise.all([bentoL1.disconnectAll(), bentoL2.disconnectAll(), bentoFull.disconnectAll()]);
  await Promise.allSettled([cmL2.disconnect(), cmFull.disconnect()]);
  const removed = await dropKeys(control, ROOT_PREFIX);
  for (const c of [rawClient, bentoClient, salamaClient, control]) c.disconnect();

  // ---- figures -----------------------------------------------------------------------------
  const s = sequential as Record<
    'l1_hit' | 'l2_hit' | 'getorset_hot',
    Record<string, ReturnType<typeof summary>>
  >;
  const sal = (sc: keyof typeof s) => s[sc].salama as ReturnType<typeof summary>;
  const beats = (sc: keyof typeof s) =>
    ['bentocache', 'cache_manager'].every(
      (peer) => sal(sc).ops_per_s > (s[sc][peer]?.ops_per_s ?? Number.POSITIVE_INFINITY),
    );
  const rawL2 = s.l2_hit.raw_ioredis as ReturnType<typeof summary>;
  const stSal = stampedeResults.salama as { ops_per_s: number; loader_calls_max: number };
  const hungSal = hung.results.salama as ReturnType<typeof downSummary>;
  const distCalls = Math.max(...distributed.map((d) => d.loader_calls));
  const l2Ratio = {
    p50: round(sal('l2_hit').p50_us / rawL2.p50_us, 3),
    ops: round(rawL2.ops_per_s / sal('l2_hit').ops_per_s, 3),
  };
  const plainL2 = s.l2_hit.salama_uncompressed as ReturnType<typeof summary>;
  const l2RatioUncompressed = {
    p50: round(plainL2.p50_us / rawL2.p50_us, 3),
    ops: round(rawL2.ops_per_s / plainL2.ops_per_s, 3),
  };
  const faster = {
    l1_hit: beats('l1_hit'),
    l2_hit: beats('l2_hit'),
    getorset_hot: beats('getorset_hot'),
    stampede: ['bentocache', 'cache_manager'].every(
      (peer) => stSal.ops_per_s > (stampedeResults[peer] as { ops_per_s: number }).ops_per_s,
    ),
    redis_down_hung: ['bentocache', 'cache_manager'].every(
      (peer) => hungSal.p99_ms < (hung.results[peer]?.p99_ms ?? Number.POSITIVE_INFINITY),
    ),
  };

  return {
    workload: `${KEY_COUNT} keys, ${VALUE_BYTES}-byte JSON values, Zipf(s=${ZIPF_S}) reads (${distinctInSeq} distinct keys in the ${SEQ_LENGTH}-read sequence); Redis ${REDIS_HOST}:${REDIS_PORT}; ${ROUNDS} interleaved rounds per sequential scenario (${JSON.stringify(SLOT_MS)} ms slots per peer per round)`,
    notes: [
      'Sequential scenarios: one awaited call at a time, each timed with process.hrtime.bigint() (timer cost ~30-60 ns included). ops_per_s = calls / wall time of the slots.',
      'raw_ioredis = ioredis GET + JSON.parse, so it returns the same object the caches return.',
      'lru_cache = LRUCache#get (synchronous, not awaited), max 200k, ttl 1 h like the caches.',
      'bentocache memory driver with serialize: false and cache-manager over a Keyv with serialize/deserialize off: both keep live objects in memory like salama (their defaults JSON-encode in memory).',
      'l2_hit uses each library’s Redis-only configuration: bentostore().useL2Layer(redis), createCache({ stores: [createKeyv(client)] }), MultiLevelCache({ stores: [RedisStore] }). salama uses its defaults (deflate only from 16 KiB, so these 1 KiB records are not compressed).',
      'l2_hit.salama_uncompressed is a diagnostic, not a peer: salama with compression: false, to show what the default deflate of 1 KiB records costs.',
      'getorset_hot and stampede use memory + Redis configurations; lru_cache and raw_ioredis in the stampede are naive get-then-load, to show what the caches prevent.',
      'stampede: ops_per_s = 1000 calls / wall time of the burst; p50/p99 per call; redis_commands_per_burst from INFO commandstats (only that peer runs during its burst).',
      `redis_down: memory tier empty, L2 behind a proxy that stops forwarding (hung) or on a closed port (refused). Peer configs: salama remote.timeoutMs ${L2_TIMEOUT_MS} (breaker defaults: open at 1 timeout or 5 errors, ${BREAK_MS} ms), salama_no_breaker the same with failureThreshold and timeoutThreshold 1e9; raw_ioredis and bentocache ioredis commandTimeout ${L2_TIMEOUT_MS}, bentocache l2CircuitBreakerDuration ${BREAK_MS} ms; cache_manager createKeyvNonBlocking over node-redis with commandOptions.timeout ${L2_TIMEOUT_MS}. Every ioredis client: enableOfflineQueue false, maxRetriesPerRequest 1. Each call bounded by the benchmark at ${DOWN_BOUND_MS} ms; ${DOWN_CALLS} sequential calls per peer, stopped after ${DOWN_GIVE_UP} unanswered in a row (latency_is_lower_bound). node-redis commandOptions.timeout only covers a command waiting to be written, not its reply, so cache_manager has no reply timeout to configure.`,
      'redis_down_p99_ms is salama (default breaker) in the hung case; salama_no_breaker shows the timeout alone.',
      'l2_vs_raw_ioredis.p50 = salama p50 / raw_ioredis p50; l2_vs_raw_ioredis.ops = raw_ioredis ops/s / salama ops/s (both: lower is better, target <= 1.15).',
      'salama_faster_than_peers: ops_per_s above bentocache and cache_manager (stampede: burst throughput; redis_down: lower p99).',
    ],
    preload_s: preloadS,
    leftover_keys_removed_before: leftovers,
    keys_removed_after: removed,
    values_checked_equal: checks,
    hot_key_loader_calls: hotLoads,
    l1_hit: s.l1_hit,
    l2_hit: s.l2_hit,
    getorset_hot: s.getorset_hot,
    stampede: stampedeResults,
    stampede_4_processes: distributed,
    redis_down_hung: hung.results,
    redis_down_refused: refused.results,
    salama_redis_tier_when_down: {
      hung: hung.salama_redis_tier,
      refused: refused.salama_redis_tier,
    },
    salama_stats: {
      l1_hits: salamaStats.l1.hits,
      l2_hits: salamaStats.l2.hits,
      l2_tier: salamaStats.l2.tiers[0],
      full_loader_calls: salamaStats.full.loaderCalls,
    },
    l1_hit_median_us: sal('l1_hit').p50_us,
    l1_hit_median_ns: Object.fromEntries(
      Object.entries(s.l1_hit).map(([peer, r]) => [peer, r.p50_ns]),
    ),
    l2_vs_raw_ioredis: l2Ratio,
    l2_vs_raw_ioredis_salama_uncompressed: l2RatioUncompressed,
    stampede_loader_calls: stSal.loader_calls_max,
    stampede_loader_calls_4_processes: distCalls,
    redis_down_timeout_ms: L2_TIMEOUT_MS,
    redis_down_p99_ms: hungSal.p99_ms,
    redis_down_p99_ms_no_breaker: hung.results.salama_no_breaker?.p99_ms,
    redis_down_refused_p99_ms: refused.results.salama?.p99_ms,
    salama_faster_than_peers: faster,
    targets: {
      salama_faster_than_peers: 'true in every scenario',
      l1_hit_median_us: '<= 1',
      l2_vs_raw_ioredis: '<= 1.15',
      stampede_loader_calls: 1,
      stampede_loader_calls_4_processes: 1,
      redis_down_p99_ms: `<= ${L2_TIMEOUT_MS + 5}`,
    },
    targets_met: {
      salama_faster_than_peers: Object.values(faster).every(Boolean),
      l1_hit_median_us: sal('l1_hit').p50_us <= 1,
      l2_vs_raw_ioredis_p50: l2Ratio.p50 <= 1.15,
      l2_vs_raw_ioredis_ops: l2Ratio.ops <= 1.15,
      stampede_loader_calls: stSal.loader_calls_max === 1,
      stampede_loader_calls_4_processes: distCalls === 1,
      redis_down_p99_ms: hungSal.p99_ms <= L2_TIMEOUT_MS + 5,
    },
  };
}
