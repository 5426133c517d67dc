/**
 * `DisasterRecovery.recover()`: the seeds' automatic recovery as one call. It restores a
 * snapshot (the latest, or a chosen one) of the configuration files and the database, runs the
 * host's health checks, tells the notifiers what happened at each stage, escalates when
 * anything failed, and returns a structured result rather than throwing, so a supervisor can
 * log it and decide.
 */
import type { Kysely } from 'kysely';
import { TimeoutError } from '../core/errors.js';
import type { BackupService } from './backup-service.js';
import { restoreDatabase } from './database-restore.js';

/** A named check of the restored system: resolves when healthy, throws (or rejects) otherwise. */
export interface HealthCheck {
  readonly name: string;
  check(signal: AbortSignal): Promise<void> | void;
}

/** What the notifiers hear. */
export type RecoveryEvent =
  | { readonly type: 'started'; readonly snapshot: string }
  | { readonly type: 'step'; readonly step: RecoveryStep }
  | { readonly type: 'finished'; readonly result: RecoveryResult };

export interface RecoveryStep {
  readonly name: 'select snapshot' | 'restore files' | 'restore database' | `health: ${string}`;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly detail?: unknown;
  readonly error?: Error;
}

export interface RecoveryResult {
  readonly ok: boolean;
  readonly snapshot?: string;
  readonly steps: readonly RecoveryStep[];
  /** True when `escalate` was called (something failed). */
  readonly escalated: boolean;
  readonly durationMs: number;
}

export interface DisasterRecoveryOptions {
  readonly backup: BackupService;
  /** Restore these sources' files into `target` (existing files are replaced). */
  readonly files?: { readonly target: string; readonly sources?: readonly string[] };
  /** Restore a `databaseSource` into this database (its tables are replaced). */
  // biome-ignore lint/suspicious/noExplicitAny: any schema
  readonly database?: { readonly db: Kysely<any>; readonly source?: string };
  readonly healthChecks?: readonly HealthCheck[];
  /** Each health check's time limit. @default 30_000 */
  readonly healthTimeoutMs?: number;
  /** Told of every stage; a notifier that throws is ignored (recovery goes on). */
  readonly notifiers?: readonly ((event: RecoveryEvent) => Promise<void> | void)[];
  /** Called once when recovery fails, with the result (page someone). */
  readonly escalate?: (result: RecoveryResult) => Promise<void> | void;
}

export class DisasterRecovery {
  readonly #options: DisasterRecoveryOptions;

  constructor(options: DisasterRecoveryOptions) {
    this.#options = options;
  }

  /** Restores, checks, notifies, escalates; never throws for a failed step. */
  async recover(options: { snapshot?: string | 'latest' } = {}): Promise<RecoveryResult> {
    const started = Date.now();
    const o = this.#options;
    const steps: RecoveryStep[] = [];
    const notify = async (event: RecoveryEvent) => {
      for (const notifier of o.notifiers ?? [])
        await (async () => notifier(event))().catch(() => {});
    };
    const step = async (name: RecoveryStep['name'], work: () => Promise<unknown>) => {
      const at = Date.now();
      try {
        const detail = await work();
        steps.push({
          name,
          ok: true,
          durationMs: Date.now() - at,
          ...(detail === undefined ? {} : { detail }),
        });
      } catch (error) {
        steps.push({ name, ok: false, durationMs: Date.now() - at, error: error as Error });
      }
      await notify({ type: 'step', step: steps.at(-1) as RecoveryStep });
      return steps.at(-1)?.ok === true;
    };

    let snapshot: string | undefined;
    const found = await step('select snapshot', async () => {
      snapshot = (await o.backup.resolveSnapshot(options.snapshot ?? 'latest')).id;
      return { snapshot };
    });
    if (found && snapshot) {
      await notify({ type: 'started', snapshot });
      const id = snapshot;
      let restored = true;
      if (o.files) {
        const files = o.files;
        restored = await step('restore files', () =>
          o.backup.restore(id, files.target, {
            overwrite: true,
            ...(files.sources ? { sources: files.sources } : {}),
          }),
        );
      }
      if (restored && o.database) {
        const database = o.database;
        restored = await step('restore database', () =>
          restoreDatabase(o.backup, id, database.db, {
            ifExists: 'replace',
            ...(database.source ? { source: database.source } : {}),
          }),
        );
      }
      if (restored)
        for (const check of o.healthChecks ?? [])
          await step(`health: ${check.name}`, () =>
            withTimeout(check, o.healthTimeoutMs ?? 30_000),
          );
    }
    const ok = steps.every((s) => s.ok);
    let result: RecoveryResult = {
      ok,
      ...(snapshot ? { snapshot } : {}),
      steps,
      escalated: false,
      durationMs: Date.now() - started,
    };
    if (!ok && o.escalate) {
      result = { ...result, escalated: true };
      const escalate = o.escalate;
      await (async () => escalate(result))().catch(() => {});
    }
    await notify({ type: 'finished', result });
    return result;
  }
}

async function withTimeout(check: HealthCheck, ms: number): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve(check.check(controller.signal)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new TimeoutError(`Health check "${check.name}" did not answer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
