/**
 * Test images for the demo and the load test, rendered here (no download): a plate with a
 * random registration on a car-coloured background with some noise, as a JPEG or PNG.
 */
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf';
const FAMILY = 'LprDemoPlate';
let registered = false;

function random32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = 'ABCDEFGHJKLMNPRSTUVWXYZ';
const DIGITS = '0123456789';

/** A Kenyan-style registration: `KDA 123A`. */
export function registration(random: () => number): string {
  const l = () => LETTERS[Math.floor(random() * LETTERS.length)];
  const d = () => DIGITS[Math.floor(random() * DIGITS.length)];
  return `K${l()}${l()} ${d()}${d()}${d()}${l()}`;
}

export interface Scene {
  readonly label: string;
  readonly bytes: Buffer;
  readonly type: 'image/jpeg' | 'image/png';
}

/** One 640×400 scene with one plate; deterministic for a seed. */
export function renderScene(seed: number, type: Scene['type'] = 'image/jpeg'): Scene {
  if (!registered) {
    if (!GlobalFonts.registerFromPath(FONT, FAMILY))
      throw new Error(`cannot load the font ${FONT} (Debian: apt-get install fonts-dejavu-core)`);
    registered = true;
  }
  const random = random32(seed);
  const label = registration(random);
  const width = 640;
  const height = 400;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  const shade = Math.floor(40 + random() * 120);
  ctx.fillStyle = `rgb(${shade}, ${Math.floor(shade * (0.8 + random() * 0.4))}, ${Math.floor(shade * (0.8 + random() * 0.4))})`;
  ctx.fillRect(0, 0, width, height);
  for (let i = 0; i < 30; i++) {
    ctx.fillStyle = `rgba(0, 0, 0, ${0.05 + random() * 0.1})`;
    ctx.fillRect(random() * width, random() * height, 20 + random() * 120, 4 + random() * 30);
  }
  const fontSize = Math.round(40 + random() * 12);
  ctx.font = `${fontSize}px ${FAMILY}`;
  const textWidth = ctx.measureText(label).width;
  const plateW = Math.round(textWidth + fontSize * 0.8);
  const plateH = Math.round(fontSize * 1.35);
  const px = Math.round(random() * (width - plateW - 20)) + 10;
  const py = Math.round(height * 0.35 + random() * (height * 0.55 - plateH));
  ctx.fillStyle = random() < 0.5 ? '#ffffff' : '#f5c518';
  ctx.fillRect(px, py, plateW, plateH);
  ctx.strokeStyle = '#141414';
  ctx.lineWidth = 3;
  ctx.strokeRect(px + 2, py + 2, plateW - 4, plateH - 4);
  ctx.fillStyle = '#101010';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(label, px + plateW / 2, py + plateH / 2 + 1);
  const bytes =
    type === 'image/png' ? canvas.toBuffer('image/png') : canvas.toBuffer('image/jpeg', 90);
  return { label, bytes, type };
}
