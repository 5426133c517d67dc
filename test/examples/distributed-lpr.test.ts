/**
 * The distributed example end to end: two reader host processes with the real PP-OCRv4
 * models, the real Redis, one host killed with SIGKILL while it holds jobs.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { runDistributedDemo } from '../../examples/distributed-lpr/run.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the distributed LPR example', () => {
  it('reads every frame once across two hosts when one is killed mid-run, and leaves nothing behind', async () => {
    const report = await runDistributedDemo({ images: 40, killAfter: 8 });
    expect(report.readings).toHaveLength(40);
    // Rendered plates read by the real models: the LPR example reads these exactly.
    expect(report.exact).toBeGreaterThanOrEqual(38);
    expect(report.killed).toEqual({ host: 0, afterJobs: 8 });
    // The survivor took every job the killed host held, and the rest.
    expect(report.taken[1]).toBeGreaterThanOrEqual(40 - 8);
    expect((report.taken[0] ?? 0) + (report.taken[1] ?? 0)).toBeGreaterThanOrEqual(40);
    expect(report.pids.filter(alive)).toEqual([]);
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      expect(await redis.keys(`${report.prefix}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 180_000);
});
