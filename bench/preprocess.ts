/**
 * The fused preprocessing kernel against a naive per-pixel implementation, on the two inputs the
 * video pipeline builds: a 1920×1080 RGBA camera frame letterboxed into a 640×640 YOLO input,
 * and eight 200×60 RGB plate crops fitted into 3×48×320 PaddleOCR recogniser inputs. Every
 * peer writes into the second slot of a SharedArrayBuffer-backed batch, as a worker does.
 * Peers alternate in rounds in one process so drift in the machine's load hits all of them;
 * each gets `BENCH_SECONDS` (default 4) per workload in total.
 *
 * Peers: `fused` is an `ImagePreprocessor` (spec checked once, tables reused across frames);
 * `oneoff` is `preprocessImage` (spec checked and tables built on every call); `naive` finds
 * the source position, clamps, reads four taps through a getter and divides by std for every
 * element, the way a first implementation reads.
 */
import {
  type ImageInput,
  ImagePreprocessor,
  type PreprocessSpec,
  placeImage,
  preprocessImage,
} from '../src/gpu/preprocess/index.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = 4;

/** Per element: locate, clamp, read four taps, interpolate, normalise, with no tables. */
function naivePreprocess(
  image: ImageInput,
  spec: PreprocessSpec,
  out: Float32Array,
  offset: number,
) {
  const { width: w, height: h, data, format } = image;
  const { width: W, height: H } = spec;
  const mean = spec.mean ?? [0, 0, 0];
  const std = spec.std ?? [1, 1, 1];
  const scale = spec.scale ?? 1 / 255;
  const channels = format === 'rgba' || format === 'bgra' ? 4 : 3;
  const rgb = format.startsWith('rgb') ? [0, 1, 2] : [2, 1, 0];
  const order = spec.channelOrder === 'bgr' ? [rgb[2], rgb[1], rgb[0]] : rgb;
  const placed = placeImage(w, h, W, H, spec.resize);
  const { padLeft, padTop, resizedWidth: rw, resizedHeight: rh } = placed;
  const pixel = (x: number, y: number, c: number) => data[(y * w + x) * channels + c] as number;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const index = offset + c * W * H + y * W + x;
        if (x < padLeft || x >= padLeft + rw || y < padTop || y >= padTop + rh) {
          out[index] = spec.padValue ?? 0;
          continue;
        }
        const sx = Math.max(0, (x - padLeft + 0.5) * (w / rw) - 0.5);
        const sy = Math.max(0, (y - padTop + 0.5) * (h / rh) - 0.5);
        const x0 = Math.min(Math.floor(sx), w - 1);
        const y0 = Math.min(Math.floor(sy), h - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const y1 = Math.min(y0 + 1, h - 1);
        const ax = sx - x0;
        const ay = sy - y0;
        const ch = order[c] as number;
        const top = pixel(x0, y0, ch) * (1 - ax) + pixel(x1, y0, ch) * ax;
        const bottom = pixel(x0, y1, ch) * (1 - ax) + pixel(x1, y1, ch) * ax;
        const v = top * (1 - ay) + bottom * ay;
        out[index] = (v * scale - (mean[c] as number)) / (std[c] as number);
      }
    }
  }
}

/** A deterministic image with gradients and noise, so no branch or cache sees constant data. */
function syntheticImage(width: number, height: number, format: 'rgb' | 'rgba'): ImageInput {
  const channels = format === 'rgba' ? 4 : 3;
  const data = new Uint8Array(width * height * channels);
  let seed = 12345;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const p = Math.floor(i / channels);
    data[i] = ((p % width) + Math.floor(p / width) + (seed >>> 26)) & 255;
  }
  return { data, width, height, format };
}

interface Workload {
  readonly name: string;
  readonly spec: PreprocessSpec;
  readonly images: readonly ImageInput[];
}

type Peer = (image: ImageInput, spec: PreprocessSpec, out: Float32Array, offset: number) => void;

/** Runs frames for `ms`; image `i` of a frame goes to batch slot `i + 1` of `out`. */
function timed(ms: number, workload: Workload, peer: Peer, out: Float32Array, length: number) {
  const { images, spec } = workload;
  const start = performance.now();
  let frames = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < images.length; i++) {
      peer(images[i] as ImageInput, spec, out, (i + 1) * length);
    }
    frames++;
  }
  return { frames, ms: performance.now() - start };
}

function measure(workload: Workload) {
  const length = 3 * workload.spec.width * workload.spec.height;
  const slots = workload.images.length + 1;
  const out = new Float32Array(new SharedArrayBuffer(4 * length * slots));
  const fusedPreprocessor = new ImagePreprocessor(workload.spec);
  const peers: Record<string, Peer> = {
    fused: (image, _spec, target, offset) => fusedPreprocessor.run(image, target, offset),
    oneoff: (image, spec, target, offset) => preprocessImage(image, spec, target, offset),
    naive: naivePreprocess,
  };

  const fused = new Float32Array(length);
  const naive = new Float32Array(length);
  fusedPreprocessor.run(workload.images[0] as ImageInput, fused, 0);
  naivePreprocess(workload.images[0] as ImageInput, workload.spec, naive, 0);
  let maxAbsDiff = 0;
  for (let i = 0; i < length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs((fused[i] as number) - (naive[i] as number)));
  }

  for (const peer of Object.values(peers)) timed(500, workload, peer, out, length);
  const totals = Object.fromEntries(Object.keys(peers).map((k) => [k, { frames: 0, ms: 0 }]));
  const roundMs = (seconds * 1000) / ROUNDS;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, peer] of Object.entries(peers)) {
      const phase = timed(roundMs, workload, peer, out, length);
      const total = totals[name] as { frames: number; ms: number };
      total.frames += phase.frames;
      total.ms += phase.ms;
    }
  }

  const sourcePixels = workload.images.reduce((sum, image) => sum + image.width * image.height, 0);
  const outputPixels = workload.images.length * workload.spec.width * workload.spec.height;
  const figures = Object.fromEntries(
    Object.entries(totals).map(([name, { frames, ms }]) => {
      const msPerFrame = ms / frames;
      return [
        name,
        {
          ms_per_frame: round3(msPerFrame),
          output_mpix_per_s: round3(outputPixels / msPerFrame / 1000),
          source_mpix_per_s: round3(sourcePixels / msPerFrame / 1000),
        },
      ];
    }),
  );
  const ms = (name: string) => (figures[name] as { ms_per_frame: number }).ms_per_frame;
  return {
    workload: workload.name,
    ...figures,
    speedup_fused_vs_naive: round3(ms('naive') / ms('fused')),
    speedup_fused_vs_oneoff: round3(ms('oneoff') / ms('fused')),
    max_abs_diff_fused_vs_naive: maxAbsDiff,
  };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

export default async function run() {
  const frame = syntheticImage(1920, 1080, 'rgba');
  const crops = Array.from({ length: 8 }, () => syntheticImage(200, 60, 'rgb'));
  const workloads: Workload[] = [
    {
      name: '1920×1080 RGBA → 3×640×640 letterbox (YOLO: /255, pad 114/255), per frame',
      spec: { width: 640, height: 640, resize: 'letterbox', padValue: 114 / 255 },
      images: [frame],
    },
    {
      name: '8 × 200×60 RGB crops → 3×48×320 fit-height (PaddleOCR: mean 0.5, std 0.5), per frame',
      spec: {
        width: 320,
        height: 48,
        resize: 'fit-height',
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      },
      images: crops,
    },
  ];
  return {
    seconds_per_peer_per_workload: seconds,
    mpix_note:
      'output_mpix_per_s: model-input pixels written per second, padding included; source_mpix_per_s: source-image pixels per second (a downscale reads only the 2×2 taps of each output pixel, not every source pixel)',
    letterbox: measure(workloads[0] as Workload),
    fit_height: measure(workloads[1] as Workload),
  };
}
