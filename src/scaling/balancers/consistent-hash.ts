import { createHash } from 'node:crypto';
import type { BalancingRule, Peer } from './balancing-rule.js';

/** Points on the ring per unit of weight when not configured (ketama's, and NGINX's, 160). */
export const DEFAULT_VIRTUAL_NODES = 160;

function md5(text: string): Buffer {
  return createHash('md5').update(text).digest();
}

/**
 * Consistent hashing on a ketama ring: each peer owns `round(virtualNodes × weight)` points
 * (four per MD5 of `"<id>-<n>"`, ketama's layout), a key goes to the owner of the first point
 * at or after the key's hash, clockwise. Removing one of N peers moves only the keys it owned,
 * about 1/N of them, and adding one takes about 1/(N+1); every other key keeps its peer, which
 * is what keeps a camera on the worker that has its model state warm. An ejected peer keeps
 * its points and is stepped over, so its keys spread to the next peers on the ring and come
 * back when it returns.
 */
export class ConsistentHashRule implements BalancingRule {
  readonly #virtualNodes: number;
  #points = new Uint32Array(0);
  #owners: Peer[] = [];

  /** @param virtualNodes points per unit of weight. @default 160 */
  constructor(virtualNodes = DEFAULT_VIRTUAL_NODES) {
    this.#virtualNodes = virtualNodes;
  }

  membershipChanged(all: readonly Peer[]): void {
    const entries: { hash: number; peer: Peer }[] = [];
    for (const peer of all) {
      const points = Math.max(1, Math.round(this.#virtualNodes * peer.weight));
      for (let n = 0; n * 4 < points; n++) {
        const digest = md5(`${peer.id}-${n}`);
        for (let k = 0; k < 4 && n * 4 + k < points; k++) {
          entries.push({ hash: digest.readUInt32LE(k * 4), peer });
        }
      }
    }
    // Ties (two ids colliding on a 32-bit point) are broken by id, so the ring does not
    // depend on the order targets were added in.
    entries.sort((a, b) => a.hash - b.hash || (a.peer.id < b.peer.id ? -1 : 1));
    this.#points = Uint32Array.from(entries, (e) => e.hash);
    this.#owners = entries.map((e) => e.peer);
  }

  pick(available: readonly Peer[], _all: readonly Peer[], key: string | undefined): Peer {
    const points = this.#points;
    const start = lowerBound(points, md5(key ?? '').readUInt32LE(0));
    for (let step = 0; step < points.length; step++) {
      const owner = this.#owners[(start + step) % points.length] as Peer;
      if (!owner.ejected) return owner;
    }
    // Every peer ejected (panic): the key's own owner, so affinity holds.
    return (this.#owners[start % points.length] ?? available[0]) as Peer;
  }
}

/** Index of the first point >= `hash`, or 0 past the end (the ring wraps). */
function lowerBound(points: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}
