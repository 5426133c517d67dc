import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Finds a file of this package relative to the calling module. The same code runs from three
 * places: the TypeScript sources (tests, examples), a shared chunk at the root of dist/, and
 * an entry under dist/gpu/; each candidate path is tried in turn.
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
