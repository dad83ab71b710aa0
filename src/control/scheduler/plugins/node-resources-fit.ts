/**
 * NodeResourcesFit: the pod's requests (containers, the init-container
 * maximum, overhead: see podRequests) must fit in the node's allocatable
 * minus what the pods already there request; and the node must have room
 * for one more pod. Every resource that does not fit is a reason.
 */
import type { NodeInfo, PodInfo } from '../pod-info.js';
import type { FilterPlugin, Status } from '../types.js';
import { unschedulable } from '../types.js';

export const NODE_RESOURCES_FIT = 'NodeResourcesFit';
export const ERR_TOO_MANY_PODS = 'Too many pods';
const TOO_MANY_PODS: Status = unschedulable(ERR_TOO_MANY_PODS);

/** Whether the requests fit (the common case, without allocating). */
function fits(pod: PodInfo, node: NodeInfo): boolean {
  const r = pod.requests;
  const free = node.allocatable;
  const used = node.requested;
  if (r.milliCpu > 0 && r.milliCpu > free.milliCpu - used.milliCpu) return false;
  if (r.memory > 0 && r.memory > free.memory - used.memory) return false;
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > free.ephemeralStorage - used.ephemeralStorage) return false;
  return r.scalar === null;
}

/** The reasons the pod does not fit on the node; empty when it fits. */
export function insufficientResources(pod: PodInfo, node: NodeInfo): string[] {
  const out: string[] = [];
  const r = pod.requests;
  const free = node.allocatable;
  const used = node.requested;
  if (r.milliCpu > 0 && r.milliCpu > free.milliCpu - used.milliCpu) out.push('Insufficient cpu');
  if (r.memory > 0 && r.memory > free.memory - used.memory) out.push('Insufficient memory');
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > free.ephemeralStorage - used.ephemeralStorage) out.push('Insufficient ephemeral-storage');
  if (r.scalar) {
    for (const [name, q] of Object.entries(r.scalar)) {
      if (q > 0 && q > (free.scalar?.[name] ?? 0) - (used.scalar?.[name] ?? 0)) out.push(`Insufficient ${name}`);
    }
  }
  return out;
}

export function nodeResourcesFit(): FilterPlugin {
  return {
    name: NODE_RESOURCES_FIT,
    filter(_state, pod, node) {
      const tooMany = node.pods.size + 1 > node.allowedPods;
      if (!pod.requestsAnything || fits(pod, node)) return tooMany ? TOO_MANY_PODS : null;
      const reasons = insufficientResources(pod, node);
      if (tooMany) reasons.unshift(ERR_TOO_MANY_PODS);
      return reasons.length === 0 ? null : { code: 'Unschedulable', reasons };
    },
  };
}
