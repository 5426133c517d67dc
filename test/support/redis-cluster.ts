import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until a redis-server on `port` answers PING (it takes a moment to start). */
async function waitForPing(port: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { stdout } = await run('redis-cli', ['-p', String(port), 'ping']);
      if (stdout.trim() === 'PONG') return;
    } catch (error) {
      if (attempt > 100) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A real three-master Redis Cluster of this test's own, started from the `redis-server` binary
 * on free ports with nothing kept on disk; `stop()` kills it and removes its directory.
 */
export async function startRedisCluster() {
  const directory = await mkdtemp(join(tmpdir(), 'salama-redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const servers: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(directory, `nodes-${port}.conf`),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        directory,
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    for (const server of servers) server.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitForPing(port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const admin = new Redis({ port: ports[0] });
    for (let i = 0; i < 100; i++) {
      if ((await admin.cluster('INFO')).includes('cluster_state:ok')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    admin.disconnect();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    /** A cluster client; the caller disconnects it. */
    connect: () => new Cluster(ports.map((port) => ({ host: '127.0.0.1', port }))),
    stop,
  };
}
