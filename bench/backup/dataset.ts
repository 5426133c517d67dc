/**
 * The data set of the backup benchmark (bench/backup.ts), made from a seed so that every run
 * and every peer sees the same bytes:
 * - `recordings/cam-NN/rec-NNN.mp4`: incompressible bytes (AES-256-CTR keystream), 10–50 MiB
 *   each, `RECORDINGS_MIB` in all;
 * - `metadata/cam-NN/hour-NN.json` and `configs/*.json`: pretty-printed JSON (detections per
 *   hour, camera settings), about `JSON_MIB` in all, compressible;
 * - `db/access-log.sqlite`: a SQLite database (better-sqlite3) with `DB_ROWS` access-log rows
 *   (id, ts, camera, plate, confidence) and an index on ts, written in one transaction.
 *
 * {@link applyChange} then changes about 1 % of the bytes the way a day of operation would:
 * 1 MiB overwritten inside four recordings, one new 5 MiB recording, the most recent 10,000
 * log rows updated and 10,000 new ones inserted, ten metadata files and the site config
 * rewritten with small edits. It is deterministic: the same input gives the same output.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import Database from 'better-sqlite3';

const MiB = 1024 * 1024;

export interface DatasetOptions {
  recordingsMiB: number;
  jsonMiB: number;
  dbRows: number;
  seed: number;
}

import { mulberry32 as prng } from '../../test/support/random.js';

/** `size` incompressible bytes named by `label` (the AES-256-CTR keystream of its hash). */
function keystream(label: string) {
  const key = createHash('sha256').update(label).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  return (size: number) => cipher.update(zeros.subarray(0, size));
}

async function writeRandomFile(path: string, size: number, label: string) {
  const next = keystream(label);
  const handle = await open(path, 'w');
  try {
    for (let written = 0; written < size; ) {
      const piece = next(Math.min(4 * MiB, size - written));
      await handle.write(piece);
      written += piece.length;
    }
  } finally {
    await handle.close();
  }
}

const CAMERAS = 8;
const camera = (i: number) => `cam-${String(i).padStart(2, '0')}`;
const PLATE_LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';

function plate(random: () => number) {
  const letter = () => PLATE_LETTERS[Math.floor(random() * PLATE_LETTERS.length)];
  return `KA-${String(Math.floor(random() * 100)).padStart(2, '0')}-${letter()}${letter()}-${1000 + Math.floor(random() * 9000)}`;
}

const T0 = Date.UTC(2026, 0, 1);

function hourOfDetections(cam: number, hour: number, random: () => number, targetBytes: number) {
  const detections: unknown[] = [];
  let estimate = 0;
  for (let i = 0; estimate < targetBytes; i++) {
    const detection = {
      at: new Date(T0 + hour * 3_600_000 + i * 900 + Math.floor(random() * 900)).toISOString(),
      camera: camera(cam),
      label: random() < 0.7 ? 'car' : random() < 0.5 ? 'truck' : 'person',
      plate: plate(random),
      confidence: Math.round(random() * 1000) / 1000,
      box: {
        x: Math.floor(random() * 1920),
        y: Math.floor(random() * 1080),
        w: 40 + Math.floor(random() * 300),
        h: 30 + Math.floor(random() * 200),
      },
      track: Math.floor(random() * 100000),
    };
    detections.push(detection);
    estimate += 300; // pretty-printed size of one detection, roughly
  }
  return { camera: camera(cam), hour: new Date(T0 + hour * 3_600_000).toISOString(), detections };
}

function cameraConfig(cam: number, random: () => number) {
  return {
    id: camera(cam),
    name: `Gate ${cam + 1}`,
    stream: {
      url: `rtsp://10.0.0.${10 + cam}/stream1`,
      codec: 'h264',
      fps: 25,
      width: 1920,
      height: 1080,
    },
    detection: {
      model: 'yolo-v8n-plates',
      threshold: 0.55 + Math.round(random() * 30) / 100,
      zones: [[0, 0, 1920, 1080]],
    },
    retention: { recordingsDays: 30, detectionsDays: 365 },
  };
}

/** Makes the data set under `dir` (created); returns its size in bytes and file count. */
export async function makeDataset(dir: string, options: DatasetOptions) {
  const random = prng(options.seed);
  const sizes = { recordings: 0, json: 0, sqlite: 0, files: 0 };

  // Recordings: 10–50 MiB each, round-robin over the cameras, until RECORDINGS_MIB.
  const total = options.recordingsMiB * MiB;
  for (let i = 0; sizes.recordings < total; i++) {
    let size = Math.floor((10 + random() * 40) * MiB);
    const left = total - sizes.recordings;
    if (left - size < 10 * MiB) size = left; // the last one takes the rest
    const directory = join(dir, 'recordings', camera(i % CAMERAS));
    await mkdir(directory, { recursive: true });
    const name = `rec-${String(i).padStart(3, '0')}.mp4`;
    await writeRandomFile(join(directory, name), size, `recording ${options.seed} ${i}`);
    sizes.recordings += size;
    sizes.files++;
  }

  // JSON: one detections file per camera and hour, and the configs.
  const hours = 60;
  const perFile = Math.floor((options.jsonMiB * MiB) / (CAMERAS * hours));
  for (let cam = 0; cam < CAMERAS; cam++) {
    const directory = join(dir, 'metadata', camera(cam));
    await mkdir(directory, { recursive: true });
    for (let hour = 0; hour < hours; hour++) {
      const text = `${JSON.stringify(hourOfDetections(cam, hour, random, perFile), null, 2)}\n`;
      await writeFile(join(directory, `hour-${String(hour).padStart(2, '0')}.json`), text);
      sizes.json += Buffer.byteLength(text);
      sizes.files++;
    }
  }
  await mkdir(join(dir, 'configs'), { recursive: true });
  for (let cam = 0; cam < CAMERAS; cam++) {
    const text = `${JSON.stringify(cameraConfig(cam, random), null, 2)}\n`;
    await writeFile(join(dir, 'configs', `${camera(cam)}.json`), text);
    sizes.json += Buffer.byteLength(text);
    sizes.files++;
  }
  const site = `${JSON.stringify({ site: 'depot-north', cameras: CAMERAS, version: 1 }, null, 2)}\n`;
  await writeFile(join(dir, 'configs', 'site.json'), site);
  sizes.json += Buffer.byteLength(site);
  sizes.files++;

  // SQLite: DB_ROWS access-log rows in one transaction.
  await mkdir(join(dir, 'db'), { recursive: true });
  const dbPath = join(dir, 'db', 'access-log.sqlite');
  const db = new Database(dbPath);
  db.exec(`create table access_log (
    id integer primary key, ts integer not null, camera text not null,
    plate text not null, confidence real not null)`);
  const insert = db.prepare(
    'insert into access_log (id, ts, camera, plate, confidence) values (?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let id = 1; id <= options.dbRows; id++)
      insert.run(
        id,
        T0 + id * 2000,
        camera(Math.floor(random() * CAMERAS)),
        plate(random),
        Math.round(random() * 1000) / 1000,
      );
  })();
  db.exec('create index access_log_ts on access_log (ts)');
  db.close();
  sizes.sqlite = (await stat(dbPath)).size;
  sizes.files++;
  return { ...sizes, bytes: sizes.recordings + sizes.json + sizes.sqlite };
}

/**
 * Changes the data set under `dir` in place (see the file comment); returns the bytes it
 * wrote or added and what it did. Every file it touches gets a new mtime.
 */
export async function applyChange(dir: string, options: DatasetOptions) {
  const random = prng(options.seed ^ 0x5eed);
  const changed: string[] = [];
  let bytes = 0;

  // 1 MiB overwritten at a random place in four recordings.
  const recordings: string[] = [];
  for (const cam of (await readdir(join(dir, 'recordings'))).sort())
    for (const name of (await readdir(join(dir, 'recordings', cam))).sort())
      recordings.push(join('recordings', cam, name));
  const picked = new Set<number>();
  while (picked.size < Math.min(4, recordings.length))
    picked.add(Math.floor(random() * recordings.length));
  for (const index of [...picked].sort((a, b) => a - b)) {
    const rel = recordings[index] as string;
    const handle = await open(join(dir, rel), 'r+');
    try {
      const { size } = await handle.stat();
      const at = Math.floor(random() * Math.max(0, size - MiB));
      await handle.write(keystream(`change ${options.seed} ${rel}`)(MiB), 0, MiB, at);
    } finally {
      await handle.close();
    }
    changed.push(rel);
    bytes += MiB;
  }

  // One new 5 MiB recording.
  const fresh = join('recordings', camera(0), 'rec-new.mp4');
  await writeRandomFile(join(dir, fresh), 5 * MiB, `recording ${options.seed} new`);
  changed.push(fresh);
  bytes += 5 * MiB;

  // The database: the most recent 10,000 rows reviewed (plate and confidence corrected),
  // 10,000 new rows.
  const dbRel = join('db', 'access-log.sqlite');
  const before = await readFile(join(dir, dbRel));
  const db = new Database(join(dir, dbRel));
  const update = db.prepare('update access_log set plate = ?, confidence = ? where id = ?');
  const insert = db.prepare(
    'insert into access_log (id, ts, camera, plate, confidence) values (?, ?, ?, ?, ?)',
  );
  const rows = options.dbRows;
  const changedRows = Math.min(10_000, rows);
  db.transaction(() => {
    for (let id = rows - changedRows + 1; id <= rows; id++)
      update.run(plate(random), Math.round(random() * 1000) / 1000, id);
    for (let id = rows + 1; id <= rows + 10_000; id++)
      insert.run(
        id,
        T0 + id * 2000,
        camera(Math.floor(random() * CAMERAS)),
        plate(random),
        Math.round(random() * 1000) / 1000,
      );
  })();
  db.close();
  changed.push(dbRel);
  // The pages the change rewrote, and what it appended.
  const after = await readFile(join(dir, dbRel));
  const PAGE = 4096;
  for (let at = 0; at < after.length; at += PAGE)
    if (
      at >= before.length ||
      !after.subarray(at, at + PAGE).equals(before.subarray(at, at + PAGE))
    )
      bytes += Math.min(PAGE, after.length - at);

  // Ten detection files marked reviewed, and the site config's version bumped.
  for (let k = 0; k < 10; k++) {
    const rel = join(
      'metadata',
      camera(Math.floor(random() * CAMERAS)),
      `hour-${String(Math.floor(random() * 60)).padStart(2, '0')}.json`,
    );
    if (changed.includes(rel)) continue;
    const doc = JSON.parse(await readFile(join(dir, rel), 'utf8'));
    doc.reviewed = { by: 'operator-7', at: new Date(T0 + 86_400_000 * 3).toISOString() };
    for (const detection of doc.detections.slice(0, 20)) detection.label = 'car';
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    await writeFile(join(dir, rel), text);
    changed.push(rel);
    bytes += Buffer.byteLength(text);
  }
  const siteRel = join('configs', 'site.json');
  const site = JSON.parse(await readFile(join(dir, siteRel), 'utf8'));
  site.version = 2;
  const siteText = `${JSON.stringify(site, null, 2)}\n`;
  await writeFile(join(dir, siteRel), siteText);
  changed.push(siteRel);
  bytes += Buffer.byteLength(siteText);
  return { bytes, files: changed.map((f) => f.split(sep).join('/')) };
}

/** SHA-256 of every file under `dir`, by `/`-separated relative path; and their total size. */
export async function hashTree(dir: string) {
  const hashes = new Map<string, string>();
  let bytes = 0;
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const full = join(directory, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const hash = createHash('sha256');
        for await (const piece of createReadStream(full, { highWaterMark: 4 * MiB }))
          hash.update(piece as Buffer);
        hashes.set(relative(dir, full).split(sep).join('/'), hash.digest('hex'));
        bytes += (await stat(full)).size;
      }
    }
  };
  await walk(dir);
  return { hashes, bytes };
}

/** Whether two {@link hashTree} results hold the same (path, hash) pairs. */
export function sameTree(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, hash] of a) if (b.get(path) !== hash) return false;
  return true;
}

/** Bytes of all files under `dir` (apparent sizes, what `du -sb` counts without directories). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true }).catch(() => [])) {
      const full = join(directory, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) total += (await stat(full)).size;
    }
  };
  await walk(dir);
  return total;
}
