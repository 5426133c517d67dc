/**
 * `RetentionManager`: runs retention policies — rows of tables and objects of blob stores
 * older than their age — in short batches, archiving what must be kept first, and reports
 * what it did (or, in a dry run, what it would do).
 *
 * Every policy of a run is checked against the database before anything is deleted. Each
 * policy is worked on by one process at a time (a lease row in the database), and a run
 * killed at any point can simply be run again: see `retention-state.ts`.
 */
import { z } from 'zod';
import { sleep, systemClock } from '../core/clock.js';
import { AbortedError, InvalidOptionsError, SalamaError } from '../core/errors.js';
import { componentLogger } from '../core/logger.js';
import { declareInstruments, salamaMeter } from '../core/metrics.js';
import { commonOptionSchemas, parseOptions } from '../core/options.js';
import { expireBlobs, type PreparedBlobPolicy, prepareBlobPolicy } from './blob-retention.js';
import { type ParsedPolicy, policySchema, type RetentionPolicy } from './retention-policy.js';
import { RetentionState } from './retention-state.js';
import { type AnyKysely, detectDialect, isKysely, type SqlDialect } from './sql.js';
import { expireTable, type PreparedTablePolicy, prepareTablePolicy } from './table-retention.js';

/** Progress after each batch of a policy. */
export interface RetentionProgress {
  readonly policy: string;
  readonly kind: 'table' | 'blob';
  /** Rows or objects the policy matched when the run started. */
  readonly matched: number;
  readonly batches: number;
  readonly deleted: number;
  readonly archived: number;
}

/** What one policy did in a run (or would do, in a dry run). */
export interface RetentionPolicyReport {
  readonly policy: string;
  readonly kind: 'table' | 'blob';
  /** The table, or the blob store's location and prefix. */
  readonly target: string;
  /** Rows or objects older than this were expired. */
  readonly cutoff: Date;
  /** `skipped`: another process holds the policy's lease, or an earlier policy was aborted. */
  readonly status: 'ok' | 'dry-run' | 'failed' | 'skipped' | 'aborted';
  readonly reason?: 'locked' | 'aborted';
  /** Rows or objects matched when the run started. */
  readonly matched: number;
  /** Rows or objects deleted (a dry run: 0). */
  readonly deleted: number;
  /** Rows archived (a dry run: rows that would be archived). */
  readonly archived: number;
  /** Bytes of the expired objects (blob policies). */
  readonly bytes?: number;
  /** Oldest and newest expired timestamp found. */
  readonly oldest?: Date;
  readonly newest?: Date;
  readonly batches: number;
  readonly durationMs: number;
  readonly error?: Error;
}

/** The report of one run. */
export interface RetentionReport {
  readonly dryRun: boolean;
  readonly startedAt: Date;
  readonly durationMs: number;
  /** True when no policy failed or was aborted. */
  readonly ok: boolean;
  readonly deleted: number;
  readonly archived: number;
  readonly policies: readonly RetentionPolicyReport[];
}

/** Options of {@link RetentionManager.run}. */
export interface RetentionRunOptions {
  /** Count and report, change nothing. @default false */
  readonly dryRun?: boolean;
  /** Run only these policies, by name. @default all */
  readonly policies?: readonly string[];
  /** Stops after the current batch; the policy is reported `aborted`. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RetentionProgress) => void;
}

const runOptionsSchema = z.strictObject({
  dryRun: z.boolean().optional(),
  policies: z.array(z.string()).optional(),
  signal: z
    .custom<AbortSignal>((v) => v instanceof AbortSignal, { message: 'an AbortSignal' })
    .optional(),
  onProgress: z
    .custom<(p: RetentionProgress) => void>((v) => typeof v === 'function', {
      message: 'a function (progress) => void',
    })
    .optional(),
});

const optionsSchema = z
  .strictObject({
    /** The database of table policies and of the lease and journal tables. */
    db: z.custom<AnyKysely>(isKysely, { message: 'a Kysely instance' }).optional(),
    policies: z.array(policySchema).min(1),
    /** Rows or objects per batch. @default 1000 */
    batchSize: z.number().int().min(1).max(10_000).default(1000),
    /** Pause between batches so other writers get the table. @default 10 */
    pauseMs: z.number().min(0).default(10),
    /** How long a policy's lease lasts without renewal (renewed between batches once a quarter of it has passed). @default 60_000 */
    leaseMs: z.number().int().min(100).default(60_000),
    /** Prefix of the lease and journal tables. @default 'salama_retention' */
    stateTablePrefix: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('salama_retention'),
    onProgress: z.custom<(p: RetentionProgress) => void>((v) => typeof v === 'function').optional(),
    clock: commonOptionSchemas.clock.default(systemClock),
    logger: commonOptionSchemas.logger.optional(),
    meterProvider: commonOptionSchemas.meterProvider.optional(),
  })
  .superRefine((options, ctx) => {
    const seen = new Set<string>();
    options.policies.forEach((policy, index) => {
      if (seen.has(policy.name))
        ctx.addIssue({
          code: 'custom',
          path: ['policies', index, 'name'],
          message: `a name not used by another policy (${JSON.stringify(policy.name)} is)`,
          input: policy.name,
        });
      seen.add(policy.name);
      if (policy.kind === 'table' && options.db === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['db'],
          message: `a Kysely instance (table policy ${JSON.stringify(policy.name)} needs one)`,
          input: undefined,
        });
    });
  });

/** Options of {@link RetentionManager}. */
export interface RetentionManagerOptions {
  /** The database of the table policies and of the lease and journal tables. */
  readonly db?: AnyKysely;
  readonly policies: readonly RetentionPolicy[];
  /** Rows or objects per batch, for policies without their own. @default 1000 */
  readonly batchSize?: number;
  /** Pause between batches, so other writers get the table. @default 10 */
  readonly pauseMs?: number;
  /** How long a policy's lease lasts without renewal; renewed between batches once a quarter of it has passed. @default 60000 */
  readonly leaseMs?: number;
  /** Prefix of the lease and journal tables. @default 'salama_retention' */
  readonly stateTablePrefix?: string;
  readonly onProgress?: (progress: RetentionProgress) => void;
  readonly clock?: z.input<typeof optionsSchema>['clock'];
  readonly logger?: z.input<typeof optionsSchema>['logger'];
  readonly meterProvider?: z.input<typeof optionsSchema>['meterProvider'];
}

type Prepared =
  | { readonly kind: 'table'; readonly value: PreparedTablePolicy }
  | { readonly kind: 'blob'; readonly value: PreparedBlobPolicy };

export class RetentionManager {
  readonly #options: z.output<typeof optionsSchema>;
  readonly #dialect: SqlDialect | undefined;
  readonly #state: RetentionState | undefined;
  readonly #log;
  readonly #metrics;

  constructor(options: RetentionManagerOptions) {
    this.#options = parseOptions('RetentionManager', optionsSchema, options);
    const { db } = this.#options;
    this.#dialect = db ? detectDialect(db) : undefined;
    this.#state = db
      ? new RetentionState(db, this.#dialect as SqlDialect, this.#options.stateTablePrefix)
      : undefined;
    this.#log = componentLogger(this.#options.logger, 'RetentionManager');
    this.#metrics = declareInstruments(salamaMeter(this.#options.meterProvider), {
      deleted: {
        kind: 'counter',
        name: 'salama.retention.deleted',
        description: 'Rows and objects deleted by retention',
        unit: '{item}',
      },
      archived: {
        kind: 'counter',
        name: 'salama.retention.archived',
        description: 'Rows archived before deletion',
        unit: '{row}',
      },
    });
  }

  /** The policies' names, in run order. */
  get policyNames(): string[] {
    return this.#options.policies.map((p) => p.name);
  }

  /** Counts what each policy would expire and archive; changes nothing. */
  dryRun(options: Omit<RetentionRunOptions, 'dryRun'> = {}): Promise<RetentionReport> {
    return this.run({ ...options, dryRun: true });
  }

  /**
   * Runs the policies in order. The options and every selected policy are checked first
   * (`E_INVALID_OPTIONS` for a bad one); a check that fails throws before anything is
   * deleted. After that, a policy that fails is reported `failed` and the next one runs.
   */
  async run(input: RetentionRunOptions = {}): Promise<RetentionReport> {
    const options = parseOptions('RetentionManager.run', runOptionsSchema, input);
    const started = this.#options.clock.now();
    const selected = this.#select(options.policies);
    const prepared: Prepared[] = [];
    for (const policy of selected) prepared.push(await this.#prepare(policy, started));
    const reports: RetentionPolicyReport[] = [];
    if (options.dryRun) {
      for (const p of prepared) reports.push(this.#report(p, 'dry-run', 0));
    } else {
      await this.#state?.ensureTables();
      let aborted = false;
      for (const p of prepared) {
        if (aborted) reports.push({ ...this.#report(p, 'skipped', 0), reason: 'aborted' });
        else reports.push(await this.#execute(p, options));
        aborted ||= reports.at(-1)?.status === 'aborted';
      }
    }
    return {
      dryRun: options.dryRun === true,
      startedAt: new Date(started),
      durationMs: this.#options.clock.now() - started,
      ok: reports.every((r) => r.status !== 'failed' && r.status !== 'aborted'),
      deleted: reports.reduce((n, r) => n + r.deleted, 0),
      archived: reports.reduce((n, r) => n + r.archived, 0),
      policies: reports,
    };
  }

  /**
   * The committed archive objects of a blob-archived table policy, oldest first: the keys to
   * read with `readArchive`. Objects of a run that was killed are not listed (and are removed
   * by the next run).
   */
  async archives(policy: string): Promise<{ key: string; rows: number }[]> {
    this.#select([policy]);
    if (!this.#state) return [];
    await this.#state.ensureTables();
    return (await this.#state.committed(policy)).map((e) => ({ key: e.blobKey, rows: e.rows }));
  }

  #select(names: readonly string[] | undefined): ParsedPolicy[] {
    const all = this.#options.policies;
    if (names === undefined) return [...all];
    return names.map((name) => {
      const found = all.find((p) => p.name === name);
      if (!found)
        throw new InvalidOptionsError(
          `RetentionManager: expected one of the policies ${all.map((p) => JSON.stringify(p.name)).join(', ')}, received ${JSON.stringify(name)}`,
          { context: { policy: name } },
        );
      return found;
    });
  }

  async #prepare(policy: ParsedPolicy, now: number): Promise<Prepared> {
    const { batchSize, db } = this.#options;
    if (policy.kind === 'blob')
      return { kind: 'blob', value: await prepareBlobPolicy(policy, now, batchSize) };
    return {
      kind: 'table',
      value: await prepareTablePolicy(
        db as AnyKysely,
        this.#dialect as SqlDialect,
        policy,
        now,
        batchSize,
      ),
    };
  }

  async #execute(p: Prepared, options: RetentionRunOptions): Promise<RetentionPolicyReport> {
    const { clock, leaseMs, pauseMs } = this.#options;
    const name = p.value.policy.name;
    const started = clock.now();
    const state = this.#state;
    if (state && !(await state.acquire(name, started, leaseMs))) {
      this.#log.info({ policy: name }, 'retention policy skipped: another process holds it');
      return { ...this.#report(p, 'skipped', 0), reason: 'locked' };
    }
    const onProgress = options.onProgress ?? this.#options.onProgress;
    let last = { batches: 0, deleted: 0, archived: 0 };
    let renewedAt = started;
    const afterBatch = async (
      progress: { batches: number; deleted: number; archived?: number },
      final: boolean,
    ) => {
      const delta = progress.deleted - last.deleted;
      const archived = progress.archived ?? 0;
      this.#metrics.deleted.add(delta, { policy: name });
      this.#metrics.archived.add(archived - last.archived, { policy: name });
      last = { batches: progress.batches, deleted: progress.deleted, archived };
      onProgress?.({ policy: name, kind: p.kind, matched: p.value.counts.expired, ...last });
      if (final) return;
      if (options.signal?.aborted)
        throw new AbortedError(`Retention policy "${name}" was aborted`, {
          cause: options.signal.reason,
        });
      if (pauseMs > 0) await sleep(clock, pauseMs, options.signal);
      // Renewing costs a commit; once a quarter of the lease is plenty.
      const now = clock.now();
      if (state && now - renewedAt >= leaseMs / 4) {
        await state.renew(name, now, leaseMs);
        renewedAt = now;
      }
    };
    try {
      if (p.kind === 'blob') await expireBlobs(p.value, afterBatch);
      else
        await expireTable(this.#options.db as AnyKysely, p.value, {
          state: state as RetentionState,
          now: () => clock.now(),
          afterBatch,
        });
      const report = this.#report(p, 'ok', clock.now() - started, last);
      this.#log.info(
        { policy: name, deleted: report.deleted, archived: report.archived },
        'retention policy done',
      );
      return report;
    } catch (error) {
      const status = SalamaError.is(error, 'E_ABORTED') ? 'aborted' : 'failed';
      this.#log.error({ policy: name, err: error }, `retention policy ${status}`);
      return {
        ...this.#report(p, status, clock.now() - started, last),
        error: error as Error,
      };
    } finally {
      await state?.release(name).catch(() => {});
    }
  }

  #report(
    p: Prepared,
    status: RetentionPolicyReport['status'],
    durationMs: number,
    done = { batches: 0, deleted: 0, archived: 0 },
  ): RetentionPolicyReport {
    const { counts, cutoff, policy } = p.value;
    const dry = status === 'dry-run';
    return {
      policy: policy.name,
      kind: p.kind,
      target: policy.kind === 'blob' ? `${policy.store.location}/${policy.prefix}` : policy.table,
      cutoff,
      status,
      matched: counts.expired,
      deleted: done.deleted,
      archived: dry && p.kind === 'table' ? p.value.counts.toArchive : done.archived,
      ...(p.kind === 'blob' ? { bytes: p.value.counts.bytes } : {}),
      ...(counts.oldest ? { oldest: counts.oldest } : {}),
      ...(counts.newest ? { newest: counts.newest } : {}),
      batches: done.batches,
      durationMs,
    };
  }
}
