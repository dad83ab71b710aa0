/**
 * NodeResourcesBalancedAllocation: prefers the node where CPU and memory
 * would be used in the most similar proportions after placing the pod
 * (score = (1 − standard deviation of the used fractions) × MAX_NODE_SCORE).
 * It uses the real requests, not the scoring defaults (as upstream).
 */
import type { ScorePlugin } from '../types.js';
import { MAX_NODE_SCORE } from '../types.js';

export const NODE_RESOURCES_BALANCED_ALLOCATION = 'NodeResourcesBalancedAllocation';

/** The score for these used fractions (each capped at 1); resources with no allocatable are left out by the caller. */
export function balancedScore(fractions: readonly number[]): number {
  const f = fractions.map((x) => Math.min(1, x));
  let std = 0;
  if (f.length === 2) std = Math.abs(f[0]! - f[1]!) / 2;
  else if (f.length > 2) {
    const mean = f.reduce((a, b) => a + b, 0) / f.length;
    std = Math.sqrt(f.reduce((a, b) => a + (b - mean) ** 2, 0) / f.length);
  }
  return Math.floor((1 - std) * MAX_NODE_SCORE);
}

export function nodeResourcesBalancedAllocation(): ScorePlugin {
  return {
    name: NODE_RESOURCES_BALANCED_ALLOCATION,
    score(_state, pod, node) {
      const a = node.allocatable;
      const cpu = a.milliCpu > 0 ? Math.min(1, (node.requested.milliCpu + pod.requests.milliCpu) / a.milliCpu) : -1;
      const mem = a.memory > 0 ? Math.min(1, (node.requested.memory + pod.requests.memory) / a.memory) : -1;
      // The common case without allocating: both resources known.
      if (cpu >= 0 && mem >= 0) return Math.floor((1 - Math.abs(cpu - mem) / 2) * MAX_NODE_SCORE);
      return balancedScore([cpu, mem].filter((x) => x >= 0));
    },
  };
}
