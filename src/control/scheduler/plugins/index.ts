/** The in-tree plugins (one file each). */
export { defaultBinder, DEFAULT_BINDER } from './default-binder.js';
export { imageLocality, IMAGE_LOCALITY } from './image-locality.js';
export { interPodAffinity, minMaxNormalize, INTER_POD_AFFINITY, ERR_AFFINITY, ERR_ANTI_AFFINITY, ERR_EXISTING_ANTI_AFFINITY } from './inter-pod-affinity.js';
export { nodeAffinity, NODE_AFFINITY, ERR_NODE_AFFINITY } from './node-affinity.js';
export { nodeName, NODE_NAME, ERR_NODE_NAME } from './node-name.js';
export { nodeResourcesBalancedAllocation, balancedScore, NODE_RESOURCES_BALANCED_ALLOCATION } from './node-resources-balanced-allocation.js';
export { nodeResourcesFit, insufficientResources, NODE_RESOURCES_FIT, ERR_TOO_MANY_PODS } from './node-resources-fit.js';
export { nodeResourcesLeastAllocated, leastRequestedScore, NODE_RESOURCES_LEAST_ALLOCATED } from './node-resources-least-allocated.js';
export { nodeUnschedulable, NODE_UNSCHEDULABLE, ERR_NODE_UNSCHEDULABLE, TAINT_NODE_UNSCHEDULABLE } from './node-unschedulable.js';
export { defaultNormalizeScore } from './normalize.js';
export { podTopologySpread, POD_TOPOLOGY_SPREAD, ERR_SPREAD, ERR_SPREAD_LABEL } from './pod-topology-spread.js';
export { prioritySort, PRIORITY_SORT } from './queue-sort.js';
export { taintToleration, untoleratedTaintMessage, TAINT_TOLERATION } from './taint-toleration.js';
