import type { BalancingStrategy } from '../load-balancer-options.js';
import type { BalancingRule } from './balancing-rule.js';
import { ConsistentHashRule } from './consistent-hash.js';
import { LeastConnectionsRule } from './least-connections.js';
import { RoundRobinRule } from './round-robin.js';
import { TwoChoicesRule } from './two-choices.js';
import { WeightedRoundRobinRule } from './weighted-round-robin.js';

/** The rule behind each {@link BalancingStrategy} name. */
export function createRule(
  strategy: BalancingStrategy,
  virtualNodes: number,
  random: () => number,
): BalancingRule {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobinRule();
    case 'weighted-round-robin':
      return new WeightedRoundRobinRule();
    case 'least-connections':
      return new LeastConnectionsRule();
    case 'two-choices':
      return new TwoChoicesRule(random);
    case 'consistent-hash':
      return new ConsistentHashRule(virtualNodes);
  }
}
