/** The SVG charts of `npm run bench -- scaling`: replicas over time, and cost against violations. */
import { DURATION_S, POD_RPS, RPS_PER_USER, usersAt } from './autoscaling.js';

export function replicasChart(
  series: { name: string; short: string; color: string; replicas: number[]; violated: boolean[] }[],
) {
  const [w, h, left, top, bottom] = [960, 470, 72, 40, 80];
  const plotW = w - left - 20;
  const plotH = h - top - bottom;
  const x = (t: number) => left + (t / DURATION_S) * plotW;
  const y = (r: number) => top + plotH - (r / 55) * plotH;
  const needed = Array.from({ length: DURATION_S }, (_, t) =>
    Math.min(55, (usersAt(t) * RPS_PER_USER) / (POD_RPS * 0.7)),
  );
  // Every 5 s is enough: replica counts change at most once per 15 s sync.
  const line = (values: number[], color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" ${dash} points="${values
      .map((v, t) => (t % 5 === 0 ? `${x(t).toFixed(1)},${y(v).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ')}"/>`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15">Replicas over the seed's load test: Kubernetes HPA algorithm vs a threshold scaler</text>`,
  ];
  for (let r = 0; r <= 50; r += 10) {
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(r)}" y2="${y(r)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(r) + 4}" text-anchor="end">${r}</text>`,
    );
  }
  for (let m = 0; m <= DURATION_S / 60; m += 5) {
    parts.push(
      `<text x="${x(m * 60)}" y="${top + plotH + 16}" text-anchor="middle">${m} min</text>`,
    );
  }
  parts.push(line(needed, '#888', 'stroke-dasharray="5,4"'));
  series.forEach((s, i) => {
    parts.push(line(s.replicas, s.color));
    const rowY = top + plotH + 26 + i * 12;
    parts.push(`<text x="${left - 8}" y="${rowY + 7}" text-anchor="end">${s.short}</text>`);
    // One rectangle per run of violating seconds.
    for (let t = 0; t < s.violated.length; t++) {
      if (!s.violated[t]) continue;
      const from = t;
      while (s.violated[t + 1]) t++;
      const width = Math.max(1, x(t + 1) - x(from)).toFixed(1);
      parts.push(
        `<rect x="${x(from).toFixed(1)}" y="${rowY}" width="${width}" height="8" fill="${s.color}"/>`,
      );
    }
  });
  parts.push(
    `<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle">replicas</text>`,
  );
  const legend = [
    ...series.map((s) => [s.color, s.name]),
    ['#888', 'replicas needed at 70 % CPU'],
    ['none', 'bars under the time axis: seconds over the 200 ms p95 SLO'],
  ];
  return finish(parts, legend, left + 10, top);
}

interface FrontierPoint {
  slo_violation_s: number;
  replica_hours: number;
}

/**
 * Violation-seconds against replica-hours: every threshold scaler of the sweep as a dot, each
 * HPA `behavior` as a line through its CPU targets, the headline pair circled.
 */
export function frontierChart(
  lines: { name: string; color: string; points: (FrontierPoint & { label: string })[] }[],
  dots: { name: string; color: string; points: FrontierPoint[] },
  circled: (FrontierPoint & { label: string; labelLeft?: boolean })[],
) {
  const [w, h, left, top, bottom] = [960, 520, 72, 40, 50];
  const plotW = w - left - 20;
  const plotH = h - top - bottom;
  const all = [...lines.flatMap((l) => l.points), ...dots.points];
  const maxHours = Math.ceil(Math.max(...all.map((p) => p.replica_hours)));
  const maxViolations = Math.ceil(Math.max(...all.map((p) => p.slo_violation_s)) / 200) * 200;
  const x = (hours: number) => left + (hours / maxHours) * plotW;
  const y = (s: number) => top + plotH - (s / maxViolations) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15">SLO-violation seconds against replica-hours: every scaler configuration of the sweep</text>`,
  ];
  for (let hours = 0; hours <= maxHours; hours++) {
    parts.push(
      `<line x1="${x(hours)}" x2="${x(hours)}" y1="${top}" y2="${top + plotH}" stroke="#eee"/>`,
      `<text x="${x(hours)}" y="${top + plotH + 16}" text-anchor="middle">${hours}</text>`,
    );
  }
  for (let s = 0; s <= maxViolations; s += 200) {
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(s)}" y2="${y(s)}" stroke="#eee"/>`,
      `<text x="${left - 8}" y="${y(s) + 4}" text-anchor="end">${s}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${h - 10}" text-anchor="middle">replica-hours</text>`,
    `<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle">SLO-violation seconds</text>`,
  );
  for (const p of dots.points) {
    parts.push(
      `<circle cx="${x(p.replica_hours).toFixed(1)}" cy="${y(p.slo_violation_s).toFixed(1)}" r="3" fill="${dots.color}" fill-opacity="0.55"/>`,
    );
  }
  for (const line of lines) {
    const sorted = [...line.points].sort((a, b) => a.replica_hours - b.replica_hours);
    parts.push(
      `<polyline fill="none" stroke="${line.color}" stroke-width="2" points="${sorted
        .map((p) => `${x(p.replica_hours).toFixed(1)},${y(p.slo_violation_s).toFixed(1)}`)
        .join(' ')}"/>`,
    );
    for (const p of sorted) {
      parts.push(
        `<circle cx="${x(p.replica_hours).toFixed(1)}" cy="${y(p.slo_violation_s).toFixed(1)}" r="3.5" fill="${line.color}"/>`,
        `<text x="${(x(p.replica_hours) + 5).toFixed(1)}" y="${(y(p.slo_violation_s) - 5).toFixed(1)}" font-size="10" fill="${line.color}">${p.label}</text>`,
      );
    }
  }
  for (const p of circled) {
    // Neighbouring circles put their labels on opposite sides.
    const [dx, dy, anchor] = p.labelLeft ? [-10, 18, 'end'] : [10, -10, 'start'];
    parts.push(
      `<circle cx="${x(p.replica_hours).toFixed(1)}" cy="${y(p.slo_violation_s).toFixed(1)}" r="8" fill="none" stroke="black"/>`,
      `<text x="${(x(p.replica_hours) + dx).toFixed(1)}" y="${(y(p.slo_violation_s) + dy).toFixed(1)}" font-size="11" font-weight="bold" text-anchor="${anchor}">${p.label}</text>`,
    );
  }
  const legend = [
    ...lines.map((l) => [l.color, l.name]),
    [dots.color, dots.name],
    ['black', 'circled: the headline runs'],
  ];
  return finish(parts, legend, left + plotW - 380, top);
}

/** Adds the legend (a colour bar and a label per row) at (x, top) and closes the SVG. */
function finish(parts: string[], legend: string[][], x: number, top: number): string {
  legend.forEach(([color, label], i) => {
    parts.push(
      `<rect x="${x}" y="${top + 8 + i * 16}" width="14" height="3" fill="${color}"/>`,
      `<text x="${x + 20}" y="${top + 13 + i * 16}">${label}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
