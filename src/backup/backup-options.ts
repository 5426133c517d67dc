/**
 * The options of `BackupService` and its operations, checked once at each call: a bad one is
 * `E_INVALID_OPTIONS` naming the option, what was expected and what came instead.
 */
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { commonOptionSchemas, parseOptions } from '../core/options.js';
import type { ForgetOptions, PruneOptions } from './prune.js';
import type { LockTiming } from './repository-lock.js';
import type { RestoreOptions } from './restore.js';
import type { VerifyOptions } from './verify.js';

/** Progress of a backup, after each entry and each pack. */
export interface BackupProgress {
  readonly files: number;
  readonly bytes: number;
  readonly newBytes: number;
  /** Bytes read per second since the start. */
  readonly bytesPerSecond: number;
  readonly path: string;
}

export interface BackupOptions {
  /** Labels of the snapshot, e.g. `['nightly']`. @default [] */
  readonly tags?: readonly string[];
  /** @default os.hostname() */
  readonly host?: string;
  /** Reuse unchanged files of this snapshot; `'auto'` picks the latest of the same host and sources; `false` reads everything. @default 'auto' */
  readonly parent?: string | 'auto' | false;
  readonly onProgress?: (progress: BackupProgress) => void;
  readonly signal?: AbortSignal;
}

export interface BackupServiceOptions {
  /** Passphrase of an encrypted repository; an unencrypted one refuses it (`E_BAD_KEY`). */
  readonly passphrase?: string;
  /** Lock refresh and staleness. @default { refreshMs: 300_000, staleMs: 1_800_000 } */
  readonly lockTiming?: LockTiming;
  /** Time of snapshots, locks and `forget`'s `keepWithin`. @default the system clock */
  readonly clock?: Clock;
}

const callback = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
  message: 'a function',
});
const signal = z.custom<AbortSignal>((v) => v instanceof AbortSignal, {
  message: 'an AbortSignal',
});

const serviceShape = {
  passphrase: z.string().optional(),
  lockTiming: z
    .strictObject({ refreshMs: z.number().positive(), staleMs: z.number().positive() })
    .refine((t) => t.refreshMs < t.staleMs, {
      message: 'refreshMs less than staleMs',
      path: ['refreshMs'],
    })
    .optional(),
  clock: commonOptionSchemas.clock.optional(),
};

const schemas = {
  open: z.strictObject(serviceShape),
  init: z.strictObject({
    ...serviceShape,
    chunker: z.unknown().optional(),
    compression: z.enum(['auto', 'off']).optional(),
  }),
  backup: z.strictObject({
    tags: z.array(z.string().min(1)).optional(),
    host: z.string().min(1).optional(),
    parent: z.union([z.string().min(1), z.literal(false)]).optional(),
    onProgress: callback.optional(),
    signal: signal.optional(),
  }),
  restore: z.strictObject({
    overwrite: z.boolean().optional(),
    sources: z.array(z.string()).optional(),
    onProgress: callback.optional(),
  }),
  verify: z.strictObject({
    readData: z.union([z.boolean(), z.number().min(0).max(1)]).optional(),
    onProgress: callback.optional(),
  }),
  forget: z.strictObject({
    dryRun: z.boolean().optional(),
    groupBy: z.array(z.enum(['host', 'sources', 'tags'])).optional(),
  }),
  prune: z.strictObject({
    maxUnusedFraction: z.number().min(0).max(1).optional(),
    dryRun: z.boolean().optional(),
  }),
};

interface OptionsOf {
  open: BackupServiceOptions;
  init: BackupServiceOptions;
  backup: BackupOptions;
  restore: RestoreOptions;
  verify: VerifyOptions;
  forget: ForgetOptions;
  prune: PruneOptions;
}

/** Checks the options of `BackupService.<method>()`; returns them as given. */
export function checkOptions<M extends keyof OptionsOf>(method: M, options: unknown): OptionsOf[M] {
  parseOptions(`BackupService.${method}()`, schemas[method], options);
  return options as OptionsOf[M];
}
