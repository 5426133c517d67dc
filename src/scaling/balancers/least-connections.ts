import type { BalancingRule, Peer } from './balancing-rule.js';

/**
 * NGINX's `least_conn`: the peer with the fewest active requests relative to its weight
 * (lowest `active / weight`, compared by cross-multiplying as NGINX does); when several tie,
 * they are tried in turn by smooth weighted round-robin among the tied peers only
 * (`ngx_http_upstream_get_least_conn_peer`).
 */
export class LeastConnectionsRule implements BalancingRule {
  pick(available: readonly Peer[]): Peer {
    let best = available[0] as Peer;
    let many = false;
    for (let i = 1; i < available.length; i++) {
      const peer = available[i] as Peer;
      const lhs = peer.active * best.weight;
      const rhs = best.active * peer.weight;
      if (lhs < rhs) {
        best = peer;
        many = false;
      } else if (lhs === rhs) {
        many = true;
      }
    }
    if (!many) return best;

    let chosen: Peer | undefined;
    let total = 0;
    for (const peer of available) {
      if (peer.active * best.weight !== best.active * peer.weight) continue;
      peer.currentWeight += peer.weight;
      total += peer.weight;
      if (chosen === undefined || peer.currentWeight > chosen.currentWeight) chosen = peer;
    }
    const winner = chosen as Peer;
    winner.currentWeight -= total;
    return winner;
  }

  membershipChanged(all: readonly Peer[]): void {
    for (const peer of all) peer.currentWeight = 0;
  }
}
