import { z } from 'zod';
import { BackendUnavailableError } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/logger.js';
import { commonOptionSchemas, parseOptions } from '../../core/options.js';
import { isTfjsNamespace, type TfjsNamespace, tfjsProvider } from './tfjs-backend.js';

/** The tfjs packages {@link importTfjs} can load, fastest first. */
export const TFJS_PACKAGES = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  tfjs: '@tensorflow/tfjs',
} as const;

/** Short name of a tfjs package: `'tfjs-node-gpu'`, `'tfjs-node'` or `'tfjs'`. */
export type TfjsPackage = keyof typeof TFJS_PACKAGES;

/** Options of {@link importTfjs}. Every field is optional. */
export interface ImportTfjsOptions {
  /**
   * Packages to try, in order; the first that loads wins.
   * @default ['tfjs-node-gpu', 'tfjs-node', 'tfjs']
   */
  prefer?: readonly TfjsPackage[];
  /**
   * Imports one package by name. salama's own `import()` resolves packages from where salama is
   * installed; under pnpm or in a monorepo, pass `(name) => import(name)` from the application
   * so the application's tfjs is found.
   * @default (specifier) => import(specifier)
   */
  importModule?: (specifier: string) => Promise<unknown>;
  /** A pino-compatible logger; the chosen package is logged at `info`. @default silent */
  logger?: Logger;
}

/** Why one package was passed over. */
export interface TfjsImportFailure {
  /** Full package name (`'@tensorflow/tfjs-node-gpu'`). */
  readonly package: string;
  /** `'not-installed'` when the package is absent, `'failed'` when it is there but threw. */
  readonly reason: 'not-installed' | 'failed';
  readonly error: unknown;
}

/** What {@link importTfjs} loaded. */
export interface TfjsImport {
  /** The `tf` namespace, with its backend ready; pass it to `TfjsRuntime`. */
  readonly tf: TfjsNamespace;
  /** Full name of the package that loaded (`'@tensorflow/tfjs'`). */
  readonly package: string;
  /** Where inference will run (`'tfjs-node-gpu'`, `'tfjs-node'`, `'tfjs-cpu'`). */
  readonly provider: string;
  /** The packages tried before it, in order, and why each was passed over. */
  readonly fallbacks: readonly TfjsImportFailure[];
}

const optionsSchema = z
  .object({
    prefer: z
      .array(z.enum(Object.keys(TFJS_PACKAGES) as [TfjsPackage, ...TfjsPackage[]]))
      .min(1)
      .default(['tfjs-node-gpu', 'tfjs-node', 'tfjs']),
    importModule: z
      .custom<(specifier: string) => Promise<unknown>>((v) => typeof v === 'function', {
        message: 'a function (specifier) => Promise<module>',
      })
      .optional(),
    logger: commonOptionSchemas.logger.optional(),
  })
  .strict();

const nativeImport = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier);

/** A CommonJS package's complete exports are its `default`; an ES module's are the namespace. */
function namespaceOf(module: unknown): TfjsNamespace | undefined {
  const candidate = (module as { default?: unknown } | null)?.default;
  if (isTfjsNamespace(candidate)) return candidate;
  return isTfjsNamespace(module) ? module : undefined;
}

function isNotInstalled(error: unknown, specifier: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // A missing dependency *of* the package is also ERR_MODULE_NOT_FOUND; only the package's
  // own name in the message means the package itself is absent.
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    typeof message === 'string' &&
    message.includes(`'${specifier}'`)
  );
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Loads TensorFlow.js for Node.js, fastest package first: `@tensorflow/tfjs-node-gpu` (CUDA),
 * then `@tensorflow/tfjs-node` (libtensorflow on the CPU), then the pure-JavaScript
 * `@tensorflow/tfjs`. Packages that are not installed or throw while loading (tfjs-node-gpu
 * throws when the CUDA libraries are missing) are passed over and reported in `fallbacks`.
 * Throws `E_BACKEND_UNAVAILABLE` listing why each failed when none loads.
 */
export async function importTfjs(options: ImportTfjsOptions = {}): Promise<TfjsImport> {
  const {
    prefer,
    importModule = nativeImport,
    logger,
  } = parseOptions('importTfjs', optionsSchema, options);
  const log = componentLogger(logger, 'importTfjs');
  const fallbacks: TfjsImportFailure[] = [];
  for (const name of prefer) {
    const specifier = TFJS_PACKAGES[name];
    try {
      const tf = namespaceOf(await importModule(specifier));
      if (!tf)
        throw new TypeError(`${specifier} does not export the tfjs API (tensor, getBackend)`);
      await tf.ready();
      const provider = tfjsProvider(tf);
      const passedOver = fallbacks.map((f) => ({ package: f.package, reason: f.reason }));
      log.info(
        { package: specifier, provider, fallbacks: passedOver },
        `tfjs: using ${specifier} (${provider})`,
      );
      return { tf, package: specifier, provider, fallbacks };
    } catch (error) {
      const reason = isNotInstalled(error, specifier) ? 'not-installed' : 'failed';
      fallbacks.push({ package: specifier, reason, error });
      log.debug({ package: specifier, reason, err: error }, `tfjs: passed over ${specifier}`);
    }
  }
  const lines = fallbacks.map(
    (f) =>
      `  - ${f.package}: ${f.reason === 'not-installed' ? 'not installed' : messageOf(f.error)}`,
  );
  throw new BackendUnavailableError(
    `No TensorFlow.js package could be loaded:\n${lines.join('\n')}\nInstall one of them (npm install ${fallbacks[0]?.package ?? '@tensorflow/tfjs'})`,
    {
      cause: new AggregateError(
        fallbacks.map((f) => f.error),
        'every tfjs package failed to load',
      ),
      context: { fallbacks: fallbacks.map((f) => ({ package: f.package, reason: f.reason })) },
    },
  );
}
