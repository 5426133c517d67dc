/**
 * `npm run bench -- NAME` runs bench/NAME.ts and writes bench/results/NAME.json.
 * Each benchmark exports `default` returning its figures; this file adds where and when it ran.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Benchmark = () => Promise<Record<string, unknown>>;

const here = dirname(fileURLToPath(import.meta.url));
const name = process.argv[2];
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error(
    'usage: npm run bench -- NAME   (runs bench/NAME.ts, e.g. npm run bench -- memory)',
  );
  process.exit(2);
}

const mod = (await import(join(here, `${name}.ts`))) as { default: Benchmark };
const started = new Date();
const results = await mod.default();
const report = {
  benchmark: name,
  date: started.toISOString(),
  durationS: Math.round((Date.now() - started.getTime()) / 100) / 10,
  machine: {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  },
  results,
};
const out = join(here, 'results', `${name}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`wrote ${out}`);
