/**
 * NodeAffinity: the filter requires spec.nodeSelector and the required node
 * affinity (terms ORed, requirements ANDed); the score is the sum of the
 * weights of the matching preferred terms, normalised so that the best node
 * gets MAX_NODE_SCORE.
 */
import { nodeTermMatches } from '../pod-info.js';
import type { FilterPlugin, ScorePlugin, Status } from '../types.js';
import { unschedulable } from '../types.js';
import { defaultNormalizeScore } from './normalize.js';

export const NODE_AFFINITY = 'NodeAffinity';
export const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
const MISMATCH: Status = unschedulable(ERR_NODE_AFFINITY, true);

export function nodeAffinity(): FilterPlugin & ScorePlugin {
  return {
    name: NODE_AFFINITY,
    filter: (_state, pod, node) => (pod.matchesNodeSelectorAndAffinity(node) ? null : MISMATCH),
    score(_state, pod, node) {
      let s = 0;
      for (const p of pod.preferredNodeAffinity) if (p.weight !== 0 && nodeTermMatches(p.term, node)) s += p.weight;
      return s;
    },
    normalizeScore: (_state, _pod, _nodes, scores) => defaultNormalizeScore(scores, false),
  };
}
