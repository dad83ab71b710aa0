/** NodeName: a pod that names its node fits only there. */
import type { FilterPlugin, Status } from '../types.js';
import { unschedulable } from '../types.js';

export const NODE_NAME = 'NodeName';
export const ERR_NODE_NAME = "node(s) didn't match the requested node name";
const MISMATCH: Status = unschedulable(ERR_NODE_NAME, true);

export function nodeName(): FilterPlugin {
  return {
    name: NODE_NAME,
    filter: (_state, pod, node) => (pod.nodeName === '' || pod.nodeName === node.name ? null : MISMATCH),
  };
}
