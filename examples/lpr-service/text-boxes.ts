/**
 * DB post-processing (PaddleOCR's `DBPostProcess`, axis-aligned): threshold the detector's
 * probability map, take connected regions, keep those whose mean probability is high enough,
 * grow each by DB's unclip distance (area × ratio / perimeter), and merge boxes that sit on one
 * line close together — a plate's groups of characters ("KDA 123A") are one reading.
 */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Mean probability of the region's pixels. */
  score: number;
}

export interface BoxOptions {
  /** Pixel probability that counts as text. @default 0.3 */
  readonly threshold?: number;
  /** Mean probability a region needs. @default 0.6 */
  readonly boxThreshold?: number;
  /** @default 1.5 */
  readonly unclipRatio?: number;
  /** Regions smaller than this on either side are dropped, in map pixels. @default 3 */
  readonly minSize?: number;
}

/** Text boxes in map coordinates from a `height × width` probability map. */
export function textBoxes(
  map: Float32Array,
  width: number,
  height: number,
  options: BoxOptions = {},
): Box[] {
  const threshold = options.threshold ?? 0.3;
  const boxThreshold = options.boxThreshold ?? 0.6;
  const ratio = options.unclipRatio ?? 1.5;
  const minSize = options.minSize ?? 3;
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const boxes: Box[] = [];
  for (let start = 0; start < map.length; start++) {
    if (seen[start] || (map[start] ?? 0) <= threshold) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let minX = width;
    let minY = height;
    let maxX = 0;
    let maxY = 0;
    let sum = 0;
    let count = 0;
    while (top > 0) {
      const at = stack[--top] as number;
      const x = at % width;
      const y = (at - x) / width;
      sum += map[at] ?? 0;
      count++;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      for (const next of [at - 1, at + 1, at - width, at + width]) {
        if (next < 0 || next >= map.length || seen[next]) continue;
        if ((next === at - 1 || next === at + 1) && Math.floor(next / width) !== y) continue;
        if ((map[next] ?? 0) <= threshold) continue;
        seen[next] = 1;
        stack[top++] = next;
      }
    }
    const w = maxX - minX + 1;
    const h = maxY - minY + 1;
    if (w < minSize || h < minSize || sum / count < boxThreshold) continue;
    const grow = (w * h * ratio) / (2 * (w + h));
    const x0 = Math.max(0, Math.floor(minX - grow));
    const y0 = Math.max(0, Math.floor(minY - grow));
    const x1 = Math.min(width, Math.ceil(maxX + 1 + grow));
    const y1 = Math.min(height, Math.ceil(maxY + 1 + grow));
    boxes.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0, score: sum / count });
  }
  return mergeLines(boxes);
}

/** Joins boxes that overlap vertically by half and are less than a height apart. */
function mergeLines(boxes: Box[]): Box[] {
  const sorted = [...boxes].sort((a, b) => a.x - b.x);
  const merged: Box[] = [];
  for (const box of sorted) {
    const line = merged.find((m) => {
      const overlap = Math.min(m.y + m.height, box.y + box.height) - Math.max(m.y, box.y);
      const gap = box.x - (m.x + m.width);
      return overlap > 0.5 * Math.min(m.height, box.height) && gap < Math.max(m.height, box.height);
    });
    if (!line) {
      merged.push({ ...box });
      continue;
    }
    const x1 = Math.max(line.x + line.width, box.x + box.width);
    const y1 = Math.max(line.y + line.height, box.y + box.height);
    line.score = (line.score * line.width + box.score * box.width) / (line.width + box.width);
    line.x = Math.min(line.x, box.x);
    line.y = Math.min(line.y, box.y);
    line.width = x1 - line.x;
    line.height = y1 - line.y;
  }
  return merged;
}
