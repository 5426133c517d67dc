import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Finds a file of this package relative to the calling module. The same code runs from three
 * places: the TypeScript sources (tests, examples), a shared chunk at the root of dist/, and
 * an entry under dist/<module>/; each candidate path is tried in turn.
 */
export function locateModule(base: string, candidates: readonly string[]): URL {
  for (const candidate of candidates) {
    const url = new URL(candidate, base);
    if (existsSync(fileURLToPath(url))) return url;
  }
  throw new Error(
    `salama: none of ${candidates.join(', ')} exists next to ${base}; is the package build complete?`,
  );
}

/** True when running from the TypeScript sources rather than the built package. */
export function runningFromSource(base: string): boolean {
  return base.endsWith('.ts');
}

/**
 * How to start a worker thread whose entry is `source` (relative to `base`, the caller's
 * `import.meta.url`) in the TypeScript sources and one of `built` in dist/: from the sources
 * it starts a bootstrap that registers tsx and imports the entry (tests, examples, benches);
 * from the build it starts the built file directly.
 */
export function workerEntry(
  base: string,
  source: string,
  built: readonly string[],
): { url: URL; workerData?: { entry: string } } {
  if (runningFromSource(base))
    return {
      url: locateModule(import.meta.url, ['./ts-worker-bootstrap.mjs']),
      workerData: { entry: locateModule(base, [source]).href },
    };
  return { url: locateModule(base, built) };
}
