/**
 * NodeUnschedulable: a cordoned node (spec.unschedulable) takes only pods
 * that tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint
 * (DaemonSet pods, typically).
 */
import { tolerates } from '../pod-info.js';
import type { FilterPlugin, Status } from '../types.js';
import { unschedulable } from '../types.js';

export const NODE_UNSCHEDULABLE = 'NodeUnschedulable';
export const ERR_NODE_UNSCHEDULABLE = 'node(s) were unschedulable';
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
const CORDONED: Status = unschedulable(ERR_NODE_UNSCHEDULABLE, true);
const TAINT = { key: TAINT_NODE_UNSCHEDULABLE, value: '', effect: 'NoSchedule' };

export function nodeUnschedulable(): FilterPlugin {
  return {
    name: NODE_UNSCHEDULABLE,
    filter(_state, pod, node) {
      if (!node.unschedulable) return null;
      return pod.tolerations.some((t) => tolerates(t, TAINT)) ? null : CORDONED;
    },
  };
}
