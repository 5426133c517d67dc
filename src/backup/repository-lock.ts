/**
 * Repository locks, as restic has them: backups take a shared lock, prune and forget an
 * exclusive one, so a prune never deletes data a running backup is about to reference. A lock
 * is an object under `locks/` naming its host and process; its holder refreshes it every
 * `refreshMs`. A lock not refreshed for `staleMs`, or held by a process of this host that no
 * longer exists, is stale: it is removed and ignored.
 *
 * A holder that cannot refresh its lock (the store is unreachable) must stop before others
 * may take the lock as stale: once a refresh failed (or has hung for over `refreshMs`) and the
 * next one would land after `staleMs` (more than `staleMs - refreshMs` passed since the last
 * successful one), or once
 * `staleMs` passed without a successful refresh, {@link RepositoryLock.check} throws
 * `E_LOCKED` and the operation gives up, as restic does. Between two successful refreshes it
 * never throws, whatever `refreshMs` is.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BlobInfo, BlobStore } from '../blob/blob-store.js';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { LockedError, SalamaError } from '../core/errors.js';

interface LockRecord {
  readonly host: string;
  readonly pid: number;
  readonly time: number;
  readonly exclusive: boolean;
  readonly operation: string;
}

export interface LockTiming {
  /** How often the holder rewrites its lock. Less than `staleMs`. @default 300_000 (5 min) */
  readonly refreshMs: number;
  /** A lock not rewritten for this long is stale. @default 1_800_000 (30 min, restic's) */
  readonly staleMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { refreshMs: 300_000, staleMs: 1_800_000 };

/** A held lock; `release()` removes it. */
export interface RepositoryLock {
  /** Throws `E_LOCKED` once the lock cannot be refreshed in time any more: others may take it as stale. */
  check(): void;
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

function parseLock(bytes: Uint8Array): LockRecord | undefined {
  try {
    const record = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockRecord> | null;
    return typeof record?.time === 'number' && typeof record.host === 'string'
      ? (record as LockRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes a lock: writes ours, then looks at the others. A live lock that conflicts (any lock
 * for an exclusive request, an exclusive one for a shared request) makes this `E_LOCKED` and
 * ours is removed again; two racing exclusive requests both fail, never both succeed. A lock
 * that cannot be read (a store error) fails the attempt; one that cannot be parsed counts as
 * a live exclusive lock until it is older than `staleMs`.
 */
export async function lockRepository(
  store: BlobStore,
  operation: string,
  exclusive: boolean,
  timing: LockTiming = DEFAULT_LOCK_TIMING,
  clock: Clock = systemClock,
): Promise<RepositoryLock> {
  const key = `locks/${randomBytes(16).toString('hex')}`;
  const write = async () => {
    const record: LockRecord = {
      host: hostname(),
      pid: process.pid,
      time: clock.now(),
      exclusive,
      operation,
    };
    await store.put(key, new TextEncoder().encode(JSON.stringify(record)));
    return record.time;
  };
  let refreshed = await write();
  let conflicts: string[];
  try {
    conflicts = await conflictingLocks(store, key, exclusive, timing, clock);
  } catch (error) {
    await store.delete(key);
    throw error;
  }
  if (conflicts.length > 0) {
    await store.delete(key);
    throw new LockedError(
      `The repository at ${store.location} is locked for ${operation}: ${conflicts.join('; ')}`,
      { context: { operation, conflicts } },
    );
  }
  /** Set while the latest refresh failed: the error, cleared by the next success. */
  let failure: { error: unknown } | undefined;
  /** When the refresh still in flight began; one out longer than `refreshMs` counts as failed. */
  let startedAt: number | undefined;
  /** When the first refresh since the last success began (kept across tries of a hung one). */
  let unansweredSince: number | undefined;
  let refreshing: Promise<void> = Promise.resolve();
  /** Numbers the refreshes: only the latest one's answer counts. */
  let attempt = 0;
  const timer = clock.setInterval(() => {
    const now = clock.now();
    // The previous refresh is still out: wait for it, unless it has hung; then try again.
    if (startedAt !== undefined && now - startedAt <= timing.refreshMs) return;
    const mine = ++attempt;
    startedAt = now;
    unansweredSince ??= now;
    refreshing = write().then(
      (time) => {
        if (mine !== attempt) return;
        refreshed = time;
        failure = undefined;
        startedAt = undefined;
        unansweredSince = undefined;
      },
      (error: unknown) => {
        if (mine !== attempt) return;
        failure = { error };
        startedAt = undefined;
      },
    );
  }, timing.refreshMs);
  timer.unref();
  return {
    check() {
      const now = clock.now();
      const since = now - refreshed;
      const hung = unansweredSince !== undefined && now - unansweredSince > timing.refreshMs;
      const nextTooLate =
        (failure !== undefined || hung) && since > timing.staleMs - timing.refreshMs;
      if (!nextTooLate && since < timing.staleMs) return;
      throw new LockedError(
        `The ${operation} lock on ${store.location} was not refreshed for ${since} ms and may be taken as stale after ${timing.staleMs} ms: stopped the ${operation}`,
        { cause: failure?.error, context: { operation, lock: key, sinceRefreshMs: since } },
      );
    },
    async release() {
      clock.clearTimer(timer);
      // A refresh in flight could write the lock again after the delete, so it is waited for;
      // but only for `refreshMs`: one that hangs must not hang the operation's end (if it lands
      // later, the lock it writes goes stale like any other).
      let timeout: TimerHandle | undefined;
      await Promise.race([
        refreshing,
        new Promise<void>((resolve) => {
          timeout = clock.setTimeout(resolve, timing.refreshMs);
        }),
      ]);
      if (timeout) clock.clearTimer(timeout);
      await store.delete(key);
    },
  };
}

/** The live locks that conflict with ours; stale ones are removed on the way. */
async function conflictingLocks(
  store: BlobStore,
  ours: string,
  exclusive: boolean,
  timing: LockTiming,
  clock: Clock,
): Promise<string[]> {
  const conflicts: string[] = [];
  for await (const info of store.list({ prefix: 'locks/' })) {
    if (info.key === ours) continue;
    const other = await readLock(store, info);
    if (other === null) continue; // released meanwhile
    const time = other?.time ?? info.lastModified.getTime();
    const stale =
      clock.now() - time > timing.staleMs ||
      (other !== undefined &&
        other.host === hostname() &&
        other.pid !== process.pid &&
        !processAlive(other.pid));
    if (stale) {
      await store.delete(info.key);
      continue;
    }
    if (!other)
      conflicts.push(`an unreadable lock ${info.key}, since ${new Date(time).toISOString()}`);
    else if (exclusive || other.exclusive)
      conflicts.push(
        `${other.operation} (${other.exclusive ? 'exclusive' : 'shared'}) by ${other.host} pid ${other.pid}, since ${new Date(other.time).toISOString()}`,
      );
  }
  return conflicts;
}

/** The lock's record; `null` when it is gone, `undefined` when its content is not a lock. */
async function readLock(store: BlobStore, info: BlobInfo): Promise<LockRecord | null | undefined> {
  try {
    return parseLock(await store.get(info.key));
  } catch (error) {
    if (SalamaError.is(error, 'E_NOT_FOUND')) return null;
    throw error;
  }
}
