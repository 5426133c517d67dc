import { type BalancingRule, type Peer, smoothWeightedPick } from './balancing-rule.js';

/**
 * NGINX's smooth weighted round-robin (the default `upstream` method): over every
 * `sum(weights)` picks, each peer gets exactly `weight` of them, spread out rather than in
 * runs. Ejected peers sit out without disturbing the others' shares.
 */
export class WeightedRoundRobinRule implements BalancingRule {
  pick(available: readonly Peer[]): Peer {
    return smoothWeightedPick(available);
  }

  membershipChanged(all: readonly Peer[]): void {
    // NGINX restarts the schedule when the upstream set changes.
    for (const peer of all) peer.currentWeight = 0;
  }
}
