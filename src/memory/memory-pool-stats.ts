import type { ObservedSpec } from '../core/metrics.js';

/** A snapshot of a {@link MemoryPool}, from `stats()`. Counters count since construction. */
export interface MemoryPoolStats {
  /** Acquires served by a pooled buffer. */
  readonly hits: number;
  /** Acquires that had to allocate (or overflow). */
  readonly misses: number;
  /** `hits / (hits + misses)`, 0 before the first acquire. */
  readonly hitRate: number;
  /** ArrayBuffers the pool created and kept within its budget. */
  readonly allocations: number;
  /** One-off buffers created past the budget (`whenExhausted: 'allocate'`). */
  readonly overflowAllocations: number;
  /** Leases currently out. */
  readonly leases: number;
  /** Bytes of the buffers currently leased (size-class bytes, overflow excluded). */
  readonly bytesLeased: number;
  /** Bytes of idle buffers waiting for reuse. */
  readonly bytesPooled: number;
  /** Idle buffers waiting for reuse. */
  readonly buffersPooled: number;
  /** Highest `bytesLeased + bytesPooled` seen. */
  readonly peakBytes: number;
  /** The configured budget. */
  readonly maxBytes: number;
  /** Idle buffers freed, for any reason (budget, idle timeout, `trim()`, close). */
  readonly trims: number;
  /** Bytes of the idle buffers freed. */
  readonly bytesTrimmed: number;
  /** Leases garbage-collected without being released. */
  readonly leaks: number;
}

/** How `stats()` is published through OpenTelemetry (attribute `pool` names the pool). */
export const memoryPoolMetrics = {
  hits: {
    kind: 'counter',
    name: 'salama.memory.hits',
    unit: '{lease}',
    description: 'Acquires served from the pool',
  },
  misses: {
    kind: 'counter',
    name: 'salama.memory.misses',
    unit: '{lease}',
    description: 'Acquires that allocated',
  },
  allocations: {
    kind: 'counter',
    name: 'salama.memory.allocations',
    unit: '{buffer}',
    description: 'Buffers allocated within budget',
  },
  overflowAllocations: {
    kind: 'counter',
    name: 'salama.memory.overflow_allocations',
    unit: '{buffer}',
    description: 'One-off buffers allocated past the budget',
  },
  bytesLeased: {
    kind: 'gauge',
    name: 'salama.memory.leased',
    unit: 'By',
    description: 'Bytes currently leased',
  },
  bytesPooled: {
    kind: 'gauge',
    name: 'salama.memory.pooled',
    unit: 'By',
    description: 'Bytes idle in the pool',
  },
  trims: {
    kind: 'counter',
    name: 'salama.memory.trims',
    unit: '{buffer}',
    description: 'Idle buffers freed',
  },
  leaks: {
    kind: 'counter',
    name: 'salama.memory.leaks',
    unit: '{lease}',
    description: 'Leases garbage-collected unreleased',
  },
} as const satisfies Record<string, ObservedSpec>;
