/**
 * The distributed demo as a function: starts reader hosts as processes, sends rendered frames
 * through an InferenceQueue on Redis, kills one host with SIGKILL while it holds jobs, and
 * reports what came back. `demo.ts` runs it from the command line; the example's test calls it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { InferenceQueue } from 'salama/scaling/bullmq';
import { renderScene } from '../lpr-service/scenes.js';
import { frameInput, type Reading, readingFrom } from './plate-target.js';

export interface DistributedDemoOptions {
  /** Frames to read. @default 120 */
  readonly images?: number;
  /** Reader host processes. @default 2 */
  readonly hosts?: number;
  /** SIGKILL the first host once it has taken this many jobs; 0 kills nothing. @default images / 4 */
  readonly killAfter?: number;
  /** @default redis://127.0.0.1:6379 */
  readonly redisUrl?: string;
  /** Progress lines. @default none */
  readonly log?: (line: string) => void;
}

export interface DistributedDemoReport {
  readonly images: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Frames whose best reading is the rendered registration (spaces ignored). */
  readonly exact: number;
  /** Jobs each host took, including ones the killed host never finished. */
  readonly taken: readonly number[];
  /** The hosts' process ids (all stopped by the time the report is returned). */
  readonly pids: readonly number[];
  /** The BullMQ key prefix of this run (its keys are deleted before the report is returned). */
  readonly prefix: string;
  /** Whether a host was killed, and how many jobs it had taken by then. */
  readonly killed: { readonly host: number; readonly afterJobs: number } | undefined;
  readonly readings: readonly (Reading & { readonly label: string })[];
}

const hostScript = fileURLToPath(new URL('./reader-host.ts', import.meta.url));

interface Host {
  readonly child: ChildProcess;
  taken: number;
  readonly ready: Promise<void>;
}

function startHost(prefix: string, name: string, url: string, onTaken: () => void): Host {
  const child = spawn(process.execPath, ['--import', 'tsx', hostScript, prefix, name, url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const host: Host = {
    child,
    taken: 0,
    ready: new Promise((resolve, reject) => {
      child.once('exit', (code) =>
        reject(new Error(`a reader host exited with ${code} before it was ready`)),
      );
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const message = JSON.parse(line) as { ready?: number; active?: string };
        if (message.ready) resolve();
        if (message.active) {
          host.taken++;
          onTaken();
        }
      });
    }),
  };
  return host;
}

async function stopHost(host: Host): Promise<void> {
  if (host.child.exitCode !== null || host.child.signalCode !== null) return;
  const exited = once(host.child, 'exit');
  host.child.kill('SIGTERM');
  await exited;
}

/** Deletes every key of this run's queue. */
async function removeKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) {
    if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
  }
}

export async function runDistributedDemo(
  options: DistributedDemoOptions = {},
): Promise<DistributedDemoReport> {
  const images = options.images ?? 120;
  const killAfter = options.killAfter ?? Math.floor(images / 4);
  const url = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const log = options.log ?? (() => {});
  const prefix = `salama-demo-${randomBytes(4).toString('hex')}`;
  const name = 'plates';
  const redis = new Redis(url);
  let killed: DistributedDemoReport['killed'];
  const hosts: Host[] = [];
  const queue = new InferenceQueue({ connection: redis, name, prefix, attempts: 3 });
  try {
    for (let i = 0; i < (options.hosts ?? 2); i++) {
      const host = startHost(prefix, name, url, () => {
        if (i !== 0 || killed || killAfter <= 0 || host.taken < killAfter) return;
        host.child.kill('SIGKILL');
        killed = { host: 0, afterJobs: host.taken };
        log(`host 0 (pid ${host.child.pid}) killed with SIGKILL after taking ${host.taken} jobs`);
      });
      hosts.push(host);
    }
    await Promise.all(hosts.map((h) => h.ready));
    log(`${hosts.length} reader hosts ready`);
    const scenes = Array.from({ length: images }, (_, i) => renderScene(1000 + i));
    const started = performance.now();
    let done = 0;
    const readings = await Promise.all(
      scenes.map(async (scene, i) => {
        // Every tenth frame is urgent (a watch-listed vehicle, say): it jumps the queue.
        const priority = i % 10 === 0 ? 90 : 50;
        const result = await queue.submit(frameInput(scene.bytes), {
          priority,
          timeoutMs: 120_000,
        });
        if (++done % 20 === 0 || done === images) log(`${done}/${images} read`);
        return { ...readingFrom(result), label: scene.label };
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const plain = (s: string) => s.replace(/\s+/g, '');
    return {
      images,
      seconds: Math.round(seconds * 10) / 10,
      perSecond: Math.round((images / seconds) * 10) / 10,
      exact: readings.filter((r) => plain(r.text) === plain(r.label)).length,
      taken: hosts.map((h) => h.taken),
      pids: hosts.map((h) => h.child.pid ?? 0),
      prefix,
      killed,
      readings,
    };
  } finally {
    await Promise.all(hosts.map(stopHost));
    await queue.close();
    await removeKeys(redis, prefix);
    redis.disconnect();
  }
}
