/**
 * Backup of a ~1 GiB data set like a video-analytics site's (bench/backup/dataset.ts:
 * 900 MiB of incompressible recordings in files of 10–50 MiB, ~50 MiB of JSON detections and
 * configs, a SQLite database of 1,000,000 access-log rows): back up, change about 1 % of it
 * (1 MiB overwritten in four recordings, a new 5 MiB recording, 10,000 rows updated and
 * 10,000 inserted, eleven JSON files edited), back up again, restore. Peers, one after
 * another on the same work directory (the same absolute path, copied fresh from the pristine
 * data set, and given the same change):
 * - `salama`: BackupService with encryption (passphrase), default chunker (512 KiB / 1 MiB /
 *   8 MiB) and 16 MiB packs, on LocalBlobStore with `fsync: true` (restic's local backend
 *   fsyncs every file it stores and its directory, so both pay for durability);
 * - `restic`: restic (Debian package), a local repository made by `restic init` with its
 *   defaults (0.14: repository format 2, compression `auto` = zstd, 16 MiB packs);
 * - `tar_gzip`: GNU tar piped to gzip (level 6); the second backup is a level-1
 *   `--listed-incremental` archive (whole changed files: tar does not deduplicate within a
 *   file), the restore extracts level 0 then level 1.
 *
 * Every step runs as its own process and is timed from the outside, `sync` first so no
 * peer pays for another's dirty pages: salama through bench/backup/salama-step.ts bundled
 * with esbuild and run by plain `node` (no TypeScript compilation in the timing), restic and
 * tar as they are. MB/s are 10^6 bytes of the data set per second of wall time (the whole
 * data set for the second backup too, as restic reports it). `second_added_bytes` is how
 * much the backup's directory grew in the second backup (apparent file sizes). The restore
 * is compared file by file (SHA-256 of every file, by relative path) with the changed data.
 * Each step's CPU time is recorded (GNU time), and so is the CPU time the rest of the machine
 * used meanwhile (/proc/stat): restic spreads over every core and salama mostly uses one, so
 * other work on the machine slows them differently; `quietest_*` is the round whose first
 * backup ran with the least of it. restic picks a random chunker polynomial per repository
 * and salama a random Gear seed per encrypted one, so where chunks are cut around a change,
 * and with it `second_added_bytes`, varies from round to round.
 *
 * Env: BACKUP_ROUNDS (3), BACKUP_PEERS (e.g. `salama,restic`), BACKUP_BENCH_DIR (a temporary
 * directory under os.tmpdir()), BACKUP_RECORDINGS_MIB (900), BACKUP_JSON_MIB (50),
 * BACKUP_DB_ROWS (1000000), BACKUP_KEEP=1 keeps the directory.
 * Needs the Debian package restic (`apt-get install restic`), GNU tar and gzip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  applyChange,
  type DatasetOptions,
  hashTree,
  makeDataset,
  sameTree,
  treeBytes,
} from './backup/dataset.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(here);
const ROUNDS = Number(process.env.BACKUP_ROUNDS ?? 3);
const DATASET: DatasetOptions = {
  recordingsMiB: Number(process.env.BACKUP_RECORDINGS_MIB ?? 900),
  jsonMiB: Number(process.env.BACKUP_JSON_MIB ?? 50),
  dbRows: Number(process.env.BACKUP_DB_ROWS ?? 1_000_000),
  seed: 20260701,
};
const PASSPHRASE = 'correct horse battery staple';
const MB = 1e6;

type PeerName = 'salama' | 'restic' | 'tar_gzip';
const PEERS: PeerName[] = ['salama', 'restic', 'tar_gzip'];

const log = (...args: unknown[]) => console.error('backup:', ...args);
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The environment of every child: GOMAXPROCS and friends left to their defaults (all cores). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.GOMAXPROCS;
  delete env.UV_THREADPOOL_SIZE;
  delete env.NODE_OPTIONS;
  return env;
}

/** CPU seconds (user + system) of every command {@link run} has run, children included. */
let cpuSeconds = 0;
const TIME_MARK = '__bench_time__';

/**
 * Runs a command under `/usr/bin/time` (for its CPU time, added to {@link cpuSeconds});
 * resolves with its stdout and wall time, rejects on a non-zero exit.
 */
function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = childEnv(),
): Promise<{ stdout: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', `${TIME_MARK} %U %S`, command, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const stdout = Buffer.concat(out).toString();
      const times = Buffer.concat(err)
        .toString()
        .match(new RegExp(`${TIME_MARK} ([\\d.]+) ([\\d.]+)`));
      if (times) cpuSeconds += Number(times[1]) + Number(times[2]);
      if (code === 0) resolve({ stdout, seconds });
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} exited with ${code}: ${Buffer.concat(err).toString().slice(-2000)}`,
          ),
        );
    });
  });
}

const syncDisks = () => spawnSync('sync');

/** CPU seconds the whole machine has been busy (all cores; /proc/stat, USER_HZ = 100). */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq, steal] = (fields ?? []).map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100
  );
}

/**
 * Runs a measured step: its wall time, its own CPU time, and the CPU time the rest of the
 * machine used meanwhile (other processes, the kernel's writeback): how quiet it was.
 */
async function timed<T>(step: () => Promise<T>) {
  const cpuBefore = cpuSeconds;
  const busyBefore = machineBusySeconds();
  const started = performance.now();
  const result = await step();
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds - cpuBefore;
  const others = Math.max(0, machineBusySeconds() - busyBefore - cpu);
  return { result, seconds, cpu, others };
}

interface Peer {
  init(): Promise<void>;
  /** Backs up `data`; returns what the peer itself reports, for the record. */
  backup(level: 0 | 1): Promise<Record<string, unknown>>;
  /** Restores the latest backup into `target`; returns the restored data directory. */
  restore(target: string): Promise<string>;
}

interface Paths {
  base: string;
  /** The directory backed up: `${base}/work/data`, the same absolute path for every peer. */
  data: string;
  repo: string;
  /** `node` arguments that run bench/backup/salama-step.ts. */
  salamaStep: string[];
}

function makePeer(name: PeerName, paths: Paths): Peer {
  const { data, repo } = paths;
  switch (name) {
    case 'salama': {
      const env = childEnv({ SALAMA_BENCH_PASSPHRASE: PASSPHRASE, SALAMA_BENCH_FSYNC: '1' });
      const step = (...args: string[]) =>
        run(process.execPath, [...paths.salamaStep, ...args], env);
      return {
        async init() {
          await step('init', repo);
        },
        async backup() {
          const { stdout } = await step('backup', repo, data);
          const report = JSON.parse(stdout);
          return {
            duration_s: report.durationMs / 1000,
            new_bytes: report.newBytes,
            unchanged_files: report.unchangedFiles,
          };
        },
        async restore(target) {
          await step('restore', repo, target);
          return join(target, 'data');
        },
      };
    }
    case 'restic': {
      const env = childEnv({
        RESTIC_REPOSITORY: repo,
        RESTIC_PASSWORD: PASSPHRASE,
        RESTIC_CACHE_DIR: join(paths.base, 'restic-cache'),
      });
      return {
        async init() {
          await run('restic', ['init'], env);
        },
        async backup() {
          const { stdout } = await run('restic', ['backup', '--json', data], env);
          const summary = stdout
            .split('\n')
            .filter((line) => line.includes('"summary"'))
            .map((line) => JSON.parse(line))
            .at(-1);
          return {
            duration_s: summary?.total_duration,
            data_added: summary?.data_added,
            files_new: summary?.files_new,
            files_changed: summary?.files_changed,
            files_unmodified: summary?.files_unmodified,
          };
        },
        async restore(target) {
          await run('restic', ['restore', 'latest', '--target', target], env);
          return join(target, data); // restic restores the absolute path under the target
        },
      };
    }
    case 'tar_gzip': {
      const bash = (script: string) => run('bash', ['-o', 'pipefail', '-c', script]);
      const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
      return {
        async init() {
          await mkdir(repo, { recursive: true });
        },
        async backup(level) {
          await bash(
            `tar --listed-incremental=${q(join(repo, 'snar'))} -cf - -C ${q(dirname(data))} data | gzip > ${q(join(repo, `level-${level}.tar.gz`))}`,
          );
          return {};
        },
        async restore(target) {
          await mkdir(target, { recursive: true });
          for (const level of [0, 1])
            await bash(
              `gzip -dc ${q(join(repo, `level-${level}.tar.gz`))} | tar --listed-incremental=/dev/null -xf - -C ${q(target)}`,
            );
          return join(target, 'data');
        },
      };
    }
  }
}

interface Measured {
  first_mb_per_s: number;
  second_mb_per_s: number;
  second_added_bytes: number;
  restore_mb_per_s: number;
  restore_identical: boolean;
  first_s: number;
  second_s: number;
  restore_s: number;
  /** CPU seconds (user + system, all threads and child processes) of each step. */
  first_cpu_s: number;
  second_cpu_s: number;
  restore_cpu_s: number;
  /** CPU seconds the rest of the machine used during the first, second backup and restore. */
  others_cpu_s: number[];
  first_stored_bytes: number;
  /** What the peer reported about each backup (its own timing, bytes added). */
  first_report: Record<string, unknown>;
  second_report: Record<string, unknown>;
  /** The changed work directory equals the first peer's (same bytes for everyone). */
  change_identical: boolean;
  /** The 1-minute load average just before the first backup: how quiet the machine was. */
  load_before_first: number;
}

async function measure(
  name: PeerName,
  paths: Omit<Paths, 'repo'>,
  pristine: string,
  reference: { v1Bytes: number; v2?: { hashes: Map<string, string>; bytes: number } },
): Promise<Measured> {
  const repo = join(paths.base, `repo-${name}`);
  const peer = makePeer(name, { ...paths, repo });
  await rm(dirname(paths.data), { recursive: true, force: true });
  await mkdir(dirname(paths.data), { recursive: true });
  await cp(pristine, paths.data, { recursive: true, preserveTimestamps: true });
  await peer.init();

  syncDisks();
  const load = loadavg()[0] as number;
  log(`${name}: first backup (load average ${load.toFixed(2)})...`);
  const {
    result: firstReport,
    seconds: first,
    cpu: firstCpu,
    others: firstOthers,
  } = await timed(() => peer.backup(0));
  const firstStored = await treeBytes(repo);
  log(`${name}: first backup ${first.toFixed(2)} s, stored ${(firstStored / MB).toFixed(1)} MB`);

  await applyChange(paths.data, DATASET);
  const v2 = await hashTree(paths.data);
  reference.v2 ??= v2;
  const changeIdentical = sameTree(v2.hashes, reference.v2.hashes);

  syncDisks();
  const {
    result: secondReport,
    seconds: second,
    cpu: secondCpu,
    others: secondOthers,
  } = await timed(() => peer.backup(1));
  const added = (await treeBytes(repo)) - firstStored;
  log(`${name}: second backup ${second.toFixed(2)} s, added ${(added / MB).toFixed(2)} MB`);

  const target = join(paths.base, `restore-${name}`);
  await rm(target, { recursive: true, force: true });
  syncDisks();
  const {
    result: restored,
    seconds: restoreSeconds,
    cpu: restoreCpu,
    others: restoreOthers,
  } = await timed(() => peer.restore(target));
  const identical = sameTree((await hashTree(restored)).hashes, v2.hashes);
  log(`${name}: restore ${restoreSeconds.toFixed(2)} s, identical: ${identical}`);

  await rm(target, { recursive: true, force: true });
  await rm(repo, { recursive: true, force: true });
  await rm(join(paths.base, 'restic-cache'), { recursive: true, force: true });
  syncDisks();
  return {
    first_mb_per_s: round(reference.v1Bytes / MB / first, 1),
    second_mb_per_s: round(v2.bytes / MB / second, 1),
    second_added_bytes: added,
    restore_mb_per_s: round(v2.bytes / MB / restoreSeconds, 1),
    restore_identical: identical,
    first_s: round(first, 3),
    second_s: round(second, 3),
    restore_s: round(restoreSeconds, 3),
    first_cpu_s: round(firstCpu, 2),
    second_cpu_s: round(secondCpu, 2),
    restore_cpu_s: round(restoreCpu, 2),
    others_cpu_s: [round(firstOthers, 2), round(secondOthers, 2), round(restoreOthers, 2)],
    first_stored_bytes: firstStored,
    first_report: firstReport,
    second_report: secondReport,
    change_identical: changeIdentical,
    load_before_first: round(load, 2),
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** The median of each figure over the rounds, every round's figures, and every check. */
function summarise(list: Measured[]) {
  const keys = [
    'first_mb_per_s',
    'second_mb_per_s',
    'second_added_bytes',
    'restore_mb_per_s',
    'first_s',
    'second_s',
    'restore_s',
    'first_cpu_s',
    'second_cpu_s',
    'restore_cpu_s',
    'first_stored_bytes',
  ] as const;
  const summary: Record<string, unknown> = {};
  for (const key of keys) summary[key] = round(median(list.map((m) => m[key])), 3);
  // The first backup measured with the least else going on on the machine.
  const quietest = list.reduce((a, b) =>
    (b.others_cpu_s[0] as number) < (a.others_cpu_s[0] as number) ? b : a,
  );
  summary.quietest_first_mb_per_s = quietest.first_mb_per_s;
  summary.quietest_first_others_cpu_s = quietest.others_cpu_s[0];
  summary.restore_identical = list.every((m) => m.restore_identical);
  summary.change_identical = list.every((m) => m.change_identical);
  summary.runs = list.map((m) => ({
    first_mb_per_s: m.first_mb_per_s,
    second_mb_per_s: m.second_mb_per_s,
    second_added_bytes: m.second_added_bytes,
    restore_mb_per_s: m.restore_mb_per_s,
    first_cpu_s: m.first_cpu_s,
    others_cpu_s: m.others_cpu_s,
    load_before_first: m.load_before_first,
    first_report: m.first_report,
    second_report: m.second_report,
  }));
  return summary as Record<(typeof keys)[number] | 'quietest_first_mb_per_s', number> & {
    restore_identical: boolean;
    change_identical: boolean;
  };
}

/**
 * `node` arguments for the salama step: the bundle esbuild (installed with tsx) makes, or,
 * without esbuild, the TypeScript file through tsx (which then adds its start-up to the timing).
 */
async function salamaStepCommand(base: string): Promise<string[]> {
  const out = join(base, 'salama-step.mjs');
  const source = join(here, 'backup', 'salama-step.ts');
  const esbuild = join(ROOT, 'node_modules', '.bin', 'esbuild');
  if (!existsSync(esbuild)) {
    log('esbuild not found: running the salama step through tsx');
    return ['--import', 'tsx', source];
  }
  await run(esbuild, [
    source,
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    `--outfile=${out}`,
    '--log-level=warning',
    // CommonJS dependencies (picomatch) call require() for Node built-ins.
    "--banner:js=import { createRequire as __salamaRequire } from 'node:module'; const require = __salamaRequire(import.meta.url);",
  ]);
  // BackupService starts its pack worker from a file next to the bundle, as from dist/.
  await run(esbuild, [
    join(ROOT, 'src', 'backup', 'worker', 'pack-worker.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    `--outfile=${join(base, 'pack-worker.js')}`,
    '--log-level=warning',
  ]);
  return [out];
}

export default async function backup() {
  const restic = spawnSync('restic', ['version'], { encoding: 'utf8' });
  if (restic.status !== 0) throw new Error('restic is not installed: apt-get install -y restic');
  const resticVersion = restic.stdout.trim();
  const tarVersion = spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const gzipVersion = spawnSync('gzip', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  // Which salama code ran: the commit and a hash of the uncommitted changes to it.
  const git = (...args: string[]) =>
    spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }).stdout ?? '';
  const diff = git('diff', 'HEAD', '--', 'src/backup', 'src/blob', 'src/core');
  const sourceState = {
    commit: git('rev-parse', '--short', 'HEAD').trim(),
    uncommitted_files: git(
      'diff',
      'HEAD',
      '--name-only',
      '--',
      'src/backup',
      'src/blob',
      'src/core',
    )
      .split('\n')
      .filter(Boolean),
    uncommitted_sha256: diff ? createHash('sha256').update(diff).digest('hex').slice(0, 16) : null,
  };

  const base = process.env.BACKUP_BENCH_DIR
    ? process.env.BACKUP_BENCH_DIR
    : await mkdtemp(join(tmpdir(), 'salama-bench-backup-'));
  await mkdir(base, { recursive: true });
  const fs = await statfs(base);
  const freeGiB = (fs.bavail * fs.bsize) / 2 ** 30;
  if (freeGiB < 6)
    throw new Error(`${base}: ${freeGiB.toFixed(1)} GiB free, the benchmark needs 6`);
  log(`working in ${base} (${freeGiB.toFixed(0)} GiB free)`);

  try {
    const salamaStep = await salamaStepCommand(base);
    const pristine = join(base, 'v1', 'data');
    log('making the data set...');
    const madeAt = performance.now();
    const dataset = await makeDataset(pristine, DATASET);
    log(
      `data set: ${(dataset.bytes / MB).toFixed(0)} MB in ${dataset.files} files (${((performance.now() - madeAt) / 1000).toFixed(1)} s)`,
    );
    // What the change does, measured once on a scratch copy.
    const scratch = join(base, 'scratch', 'data');
    await cp(pristine, scratch, { recursive: true, preserveTimestamps: true });
    const change = await applyChange(scratch, DATASET);
    await rm(dirname(scratch), { recursive: true, force: true });

    // restic's repository settings, from a repository made the same way.
    const probeEnv = childEnv({
      RESTIC_REPOSITORY: join(base, 'restic-probe'),
      RESTIC_PASSWORD: PASSPHRASE,
      RESTIC_CACHE_DIR: join(base, 'restic-cache'),
    });
    await run('restic', ['init'], probeEnv);
    const resticConfig = JSON.parse((await run('restic', ['cat', 'config'], probeEnv)).stdout);
    await rm(join(base, 'restic-probe'), { recursive: true, force: true });

    const paths = { base, data: join(base, 'work', 'data'), salamaStep };
    const reference: { v1Bytes: number; v2?: { hashes: Map<string, string>; bytes: number } } = {
      v1Bytes: dataset.bytes,
    };
    const only = process.env.BACKUP_PEERS?.split(',') as PeerName[] | undefined;
    const peers = PEERS.filter((p) => !only || only.includes(p));
    const runs: Partial<Record<PeerName, Measured[]>> = {};
    // Peers take turns, and each round starts with the next one, so none always goes first.
    for (let turn = 0; turn < ROUNDS; turn++) {
      for (let k = 0; k < peers.length; k++) {
        const name = peers[(turn + k) % peers.length] as PeerName;
        log(`round ${turn + 1}/${ROUNDS}: ${name}`);
        const measured = await measure(name, paths, pristine, reference);
        runs[name] = [...(runs[name] ?? []), measured];
        log(
          `${name}: first ${measured.first_mb_per_s} MB/s, second ${measured.second_mb_per_s} MB/s, added ${measured.second_added_bytes} B, restore ${measured.restore_mb_per_s} MB/s, identical ${measured.restore_identical}`,
        );
      }
    }
    const results: Partial<Record<PeerName, ReturnType<typeof summarise>>> = {};
    for (const name of peers) results[name] = summarise(runs[name] as Measured[]);

    const s = results.salama;
    const r = results.restic;
    const ratios =
      s && r
        ? {
            salama_first_vs_restic: round(s.first_mb_per_s / r.first_mb_per_s, 3),
            salama_first_vs_restic_quietest: round(
              s.quietest_first_mb_per_s / r.quietest_first_mb_per_s,
              3,
            ),
            salama_second_vs_restic: round(s.second_mb_per_s / r.second_mb_per_s, 3),
            second_added_vs_restic: round(s.second_added_bytes / r.second_added_bytes, 3),
            salama_restore_vs_restic: round(s.restore_mb_per_s / r.restore_mb_per_s, 3),
          }
        : undefined;
    return {
      workload: `${(dataset.bytes / MB).toFixed(0)} MB data set in ${dataset.files} files (${(dataset.recordings / MB).toFixed(0)} MB incompressible recordings of 10-50 MiB, ${(dataset.json / MB).toFixed(1)} MB JSON, ${(dataset.sqlite / MB).toFixed(1)} MB SQLite with ${DATASET.dbRows} access-log rows); back up, change ${((change.bytes / dataset.bytes) * 100).toFixed(2)} % (${(change.bytes / MB).toFixed(1)} MB in ${change.files.length} files), back up again, restore; ${ROUNDS} rounds, medians`,
      data_set: {
        bytes: dataset.bytes,
        files: dataset.files,
        recordings_bytes: dataset.recordings,
        json_bytes: dataset.json,
        sqlite_bytes: dataset.sqlite,
        sqlite_rows: DATASET.dbRows,
      },
      change: {
        bytes: change.bytes,
        share: round(change.bytes / dataset.bytes, 4),
        what: '1 MiB overwritten in 4 recordings; 1 new 5 MiB recording; SQLite: the last 10,000 rows updated, 10,000 inserted (bytes = 4 KiB pages that differ); 10 detection JSON files and configs/site.json rewritten (bytes = their whole size)',
        files: change.files,
      },
      settings: {
        salama: {
          source: sourceState,
          runner:
            salamaStep.length === 1
              ? 'bench/backup/salama-step.ts bundled by esbuild, one node process per step'
              : 'bench/backup/salama-step.ts through node --import tsx, one process per step',
          encryption: 'AES-256-GCM (passphrase, scrypt N=2^15)',
          compression: 'auto (deflate-1 where a 64 KiB probe shrinks by 5 %)',
          chunker:
            'FastCDC 512 KiB / 1 MiB / 8 MiB (defaults; a random Gear seed per encrypted repository)',
          pack_size: '16 MiB (default)',
          store: 'LocalBlobStore({ fsync: true })',
        },
        restic: {
          version: resticVersion,
          repository_version: resticConfig.version,
          compression: 'auto (the default: zstd fastest level on every blob)',
          encryption: 'AES-256-CTR + Poly1305-AES (always on)',
          chunker: 'Rabin 512 KiB / 1 MiB / 8 MiB (a random polynomial per repository)',
          pack_size: '16 MiB (the default)',
          fsync: 'the local backend fsyncs every file it saves and its directory',
          gomaxprocs: 'unset (all cores)',
          cache: 'a fresh --cache-dir per run, inside the benchmark directory',
        },
        tar_gzip: {
          version: `${tarVersion}; ${gzipVersion}`,
          first: 'tar --listed-incremental=snar -cf - data | gzip (level 6)',
          second:
            'level-1 tar --listed-incremental archive | gzip: whole changed files, no deduplication',
          restore: 'gzip -dc level-0 | tar -x, then level-1',
          fsync: 'none',
        },
        timing:
          "wall time of each step as a child process, after `sync`; MB = 10^6 bytes of the data set (v1 for the first backup, v2 for the second and the restore); *_cpu_s = user + system seconds of the step (GNU time); others_cpu_s = CPU seconds the rest of the machine used during the first backup, second backup and restore (/proc/stat busy time, hypervisor steal included, minus the step's own): the noise; quietest_* = the round whose first backup had the least of it",
        second_added_bytes: "growth of the peer's backup directory (apparent file sizes)",
      },
      peers: results,
      ...(ratios ?? {}),
      ...(s && r
        ? {
            targets: {
              salama_first_vs_restic: '>= 1 (first_mb_per_s no lower than restic)',
              second_added_vs_restic: '<= 1.1',
              salama_restore_identical: 'true',
            },
            met: {
              salama_first_vs_restic: s.first_mb_per_s >= r.first_mb_per_s,
              second_added_vs_restic: s.second_added_bytes <= 1.1 * r.second_added_bytes,
              salama_restore_identical: s.restore_identical,
            },
          }
        : {}),
    };
  } finally {
    if (process.env.BACKUP_KEEP !== '1') await rm(base, { recursive: true, force: true });
  }
}
