import { type BalancingRule, type Peer, smoothWeightedPick } from './balancing-rule.js';

/** Envoy's default `choice_count`. */
const CHOICES = 2;
/** Envoy's default `active_request_bias`. */
const ACTIVE_REQUEST_BIAS = 1;

/**
 * Envoy's least-request load balancer. When all available peers have the same weight it is
 * the "power of two choices": two peers drawn at random (with replacement, as Envoy draws),
 * the one with fewer active requests wins, the first drawn on a tie. With unequal weights
 * Envoy instead weights each peer by `weight / (active + 1) ^ active_request_bias` (bias 1);
 * this rule schedules those dynamic weights with smooth weighted round-robin where Envoy uses
 * its EDF scheduler, which gives the same shares.
 */
export class TwoChoicesRule implements BalancingRule {
  readonly #random: () => number;

  /** @param random uniform in [0, 1); injectable so tests and simulations are repeatable. */
  constructor(random: () => number) {
    this.#random = random;
  }

  pick(available: readonly Peer[]): Peer {
    const first = available[0] as Peer;
    if (available.length === 1) return first;
    if (!available.every((peer) => peer.weight === first.weight)) {
      return smoothWeightedPick(
        available,
        (peer) => peer.weight / (peer.active + 1) ** ACTIVE_REQUEST_BIAS,
      );
    }
    let candidate: Peer | undefined;
    for (let i = 0; i < CHOICES; i++) {
      const index = Math.min(available.length - 1, Math.floor(this.#random() * available.length));
      const peer = available[index] as Peer;
      if (candidate === undefined || peer.active < candidate.active) candidate = peer;
    }
    return candidate as Peer;
  }

  membershipChanged(all: readonly Peer[]): void {
    for (const peer of all) peer.currentWeight = 0;
  }
}
