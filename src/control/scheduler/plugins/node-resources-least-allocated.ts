/**
 * NodeResourcesLeastAllocated: prefers the node with the most CPU and memory
 * left after placing the pod — upstream's NodeResourcesFit score with the
 * default LeastAllocated strategy (cpu and memory, weight 1 each). Unset
 * requests count as the scoring defaults (100m CPU, 200Mi memory).
 */
import type { ScorePlugin } from '../types.js';
import { MAX_NODE_SCORE } from '../types.js';

export const NODE_RESOURCES_LEAST_ALLOCATED = 'NodeResourcesLeastAllocated';

/** (capacity − requested) scaled to [0, MAX_NODE_SCORE]; 0 when nothing is left or nothing exists. */
export function leastRequestedScore(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

export function nodeResourcesLeastAllocated(): ScorePlugin {
  return {
    name: NODE_RESOURCES_LEAST_ALLOCATED,
    score(_state, pod, node) {
      const cpu = leastRequestedScore(node.nonZeroRequested.milliCpu + pod.nonZero.milliCpu, node.allocatable.milliCpu);
      const mem = leastRequestedScore(node.nonZeroRequested.memory + pod.nonZero.memory, node.allocatable.memory);
      return Math.floor((cpu + mem) / 2);
    },
  };
}
