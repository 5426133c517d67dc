/**
 * Repository locks, as restic has them: backups take a shared lock, prune and forget an
 * exclusive one, so a prune never deletes data a running backup is about to reference. A lock
 * is an object under `locks/` naming its host and process; its holder refreshes it every
 * `refreshMs`. A lock not refreshed for `staleMs`, or held by a process of this host that no
 * longer exists, is stale: it is removed and ignored.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BlobStore } from '../blob/blob-store.js';
import { LockedError, SalamaError } from '../core/errors.js';

interface LockRecord {
  readonly host: string;
  readonly pid: number;
  readonly time: number;
  readonly exclusive: boolean;
  readonly operation: string;
}

export interface LockTiming {
  /** @default 300_000 (5 min) */
  readonly refreshMs: number;
  /** @default 1_800_000 (30 min, restic's) */
  readonly staleMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { refreshMs: 300_000, staleMs: 1_800_000 };

/** A held lock; `release()` removes it. */
export interface RepositoryLock {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes a lock: writes ours, then looks at the others. A live lock that conflicts (any lock
 * for an exclusive request, an exclusive one for a shared request) makes this `E_LOCKED` and
 * ours is removed again; two racing exclusive requests both fail, never both succeed.
 */
export async function lockRepository(
  store: BlobStore,
  operation: string,
  exclusive: boolean,
  timing: LockTiming = DEFAULT_LOCK_TIMING,
): Promise<RepositoryLock> {
  const key = `locks/${randomBytes(16).toString('hex')}`;
  const write = () => {
    const record: LockRecord = {
      host: hostname(),
      pid: process.pid,
      time: Date.now(),
      exclusive,
      operation,
    };
    return store.put(key, new TextEncoder().encode(JSON.stringify(record)));
  };
  await write();
  const conflicts: string[] = [];
  for await (const info of store.list({ prefix: 'locks/' })) {
    if (info.key === key) continue;
    let other: LockRecord;
    try {
      other = JSON.parse(new TextDecoder().decode(await store.get(info.key))) as LockRecord;
    } catch (error) {
      if (SalamaError.is(error, 'E_NOT_FOUND')) continue; // released meanwhile
      await store.delete(info.key); // unreadable: a lock written half by a crashed process
      continue;
    }
    const stale =
      Date.now() - other.time > timing.staleMs ||
      (other.host === hostname() && other.pid !== process.pid && !processAlive(other.pid));
    if (stale) {
      await store.delete(info.key);
      continue;
    }
    if (exclusive || other.exclusive)
      conflicts.push(
        `${other.operation} (${other.exclusive ? 'exclusive' : 'shared'}) by ${other.host} pid ${other.pid}, since ${new Date(other.time).toISOString()}`,
      );
  }
  if (conflicts.length > 0) {
    await store.delete(key);
    throw new LockedError(
      `The repository at ${store.location} is locked for ${operation}: ${conflicts.join('; ')}`,
      { context: { operation, conflicts } },
    );
  }
  const timer = setInterval(() => void write().catch(() => {}), timing.refreshMs);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await store.delete(key);
    },
  };
}
