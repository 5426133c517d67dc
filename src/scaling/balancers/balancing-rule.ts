/**
 * The contract between {@link LoadBalancer} and its rules: one file per rule in this folder,
 * each a small class over the balancer's peers. The balancer owns membership, leases and
 * outlier ejection; a rule only chooses among the peers that may take a request.
 */

/** One target as the rules see it; owned and mutated by the balancer. */
export interface Peer {
  readonly id: string;
  /** Relative share of requests (NGINX `weight`, Envoy `load_balancing_weight`); > 0. */
  readonly weight: number;
  /** Requests picked and not yet released. */
  active: number;
  /** True while outlier detection has ejected the peer. */
  ejected: boolean;
  /** Smooth weighted round-robin state (NGINX's `current_weight`), used by the rules that need it. */
  currentWeight: number;
}

/** A load-balancing rule. */
export interface BalancingRule {
  /**
   * Chooses a peer. `available` is non-empty and in the order the targets were added;
   * `all` also holds ejected peers (a hash ring keeps their positions). `key` is the
   * caller's affinity key, when it gave one.
   */
  pick(available: readonly Peer[], all: readonly Peer[], key: string | undefined): Peer;
  /** Called after targets are added or removed, before the next pick. */
  membershipChanged?(all: readonly Peer[]): void;
}

/**
 * NGINX's smooth weighted round-robin step over `peers` (its `ngx_http_upstream_get_peer`):
 * every peer's `currentWeight` grows by its weight, the largest wins and pays back the total.
 * Over any window of `sum(weights)` picks each peer is chosen `weight` times, interleaved
 * (weights 5, 1, 1 give a a b a c a a, not a a a a a b c). `weightOf` lets a rule use a
 * dynamic weight.
 */
export function smoothWeightedPick(
  peers: readonly Peer[],
  weightOf: (peer: Peer) => number = (peer) => peer.weight,
): Peer {
  let best: Peer | undefined;
  let total = 0;
  for (const peer of peers) {
    const weight = weightOf(peer);
    peer.currentWeight += weight;
    total += weight;
    if (best === undefined || peer.currentWeight > best.currentWeight) best = peer;
  }
  const chosen = best as Peer;
  chosen.currentWeight -= total;
  return chosen;
}
