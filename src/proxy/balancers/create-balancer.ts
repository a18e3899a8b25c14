import type { Algorithm } from '../../api/schema.js';
import type { BalancedBackend, Balancer } from './balancer.js';
import { IPHash } from './ip-hash.js';
import { LeastConnections } from './least-connections.js';
import { Random } from './random.js';
import { RoundRobin } from './round-robin.js';

/** The balancer for a pool's `spec.algorithm`, over one snapshot of its routable backends. */
export function createBalancer<B extends BalancedBackend>(algorithm: Algorithm, backends: readonly B[]): Balancer<B> {
  switch (algorithm) {
    case 'RoundRobin':
      return new RoundRobin(backends);
    case 'LeastConnections':
      return new LeastConnections(backends);
    case 'IPHash':
      return new IPHash(backends);
    case 'Random':
      return new Random(backends);
  }
}
