/**
 * TaintToleration: a node's NoSchedule and NoExecute taints keep out pods
 * that do not tolerate them; PreferNoSchedule taints only lower the score
 * (fewer untolerated ones is better).
 */
import type { FilterPlugin, ScorePlugin } from '../types.js';
import { unschedulable } from '../types.js';
import { tolerates } from '../pod-info.js';
import { defaultNormalizeScore } from './normalize.js';

export const TAINT_TOLERATION = 'TaintToleration';
const HARD = ['NoSchedule', 'NoExecute'] as const;

export function untoleratedTaintMessage(key: string, value: string): string {
  return `node(s) had untolerated taint {${key}: ${value}}`;
}

export function taintToleration(): FilterPlugin & ScorePlugin {
  return {
    name: TAINT_TOLERATION,
    filter(_state, pod, node) {
      if (node.taints.length === 0) return null;
      const t = pod.toleratesTaints(node, HARD);
      return t === null ? null : unschedulable(untoleratedTaintMessage(t.key, t.value), true);
    },
    score(_state, pod, node) {
      let n = 0;
      for (const taint of node.taints) {
        if (taint.effect !== 'PreferNoSchedule') continue;
        if (!pod.tolerations.some((t) => (t.effect === '' || t.effect === 'PreferNoSchedule') && tolerates(t, taint))) n++;
      }
      return n;
    },
    normalizeScore: (_state, _pod, _nodes, scores) => defaultNormalizeScore(scores, true),
  };
}
