import type { BalancingRule, Peer } from './balancing-rule.js';

/**
 * Plain round-robin: each available peer in turn, weights ignored. The cursor walks the full
 * peer list and skips ejected peers, so an ejection does not shift the turn of the others.
 */
export class RoundRobinRule implements BalancingRule {
  #next = 0;
  #peers: readonly Peer[] = [];

  pick(available: readonly Peer[], all: readonly Peer[]): Peer {
    if (available.length === all.length) {
      const peer = all[this.#next % all.length] as Peer;
      this.#next = (this.#next + 1) % all.length;
      return peer;
    }
    for (let step = 0; step < all.length; step++) {
      const peer = all[(this.#next + step) % all.length] as Peer;
      if (!peer.ejected) {
        this.#next = (this.#next + step + 1) % all.length;
        return peer;
      }
    }
    return available[0] as Peer;
  }

  /** Keeps the turn: the cursor moves to the first peer at or after it that is still there. */
  membershipChanged(all: readonly Peer[]): void {
    const before = this.#peers;
    this.#peers = [...all];
    let next = 0;
    for (let step = 0; step < before.length; step++) {
      const at = all.indexOf(before[(this.#next + step) % before.length] as Peer);
      if (at >= 0) {
        next = at;
        break;
      }
    }
    this.#next = next;
  }
}
