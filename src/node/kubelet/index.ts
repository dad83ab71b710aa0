/**
 * The kubelet part of the node daemon: the Node and its Lease, and the Pods
 * bound here, run through CRI (sandboxes, containers, volumes, probes,
 * restarts, status, graceful deletion).
 */
export { Kubelet, KUBELET_DEFAULTS, type KubeletOptions } from './kubelet.js';
export { NodeStatusManager, KUBELET_VERSION, KUBELET_PORT, NODE_LEASE_NAMESPACE, NODE_LEASE_DURATION_SECONDS, type NodeStatusOptions } from './node-status.js';
export { KubeletError, isKubeletError, KUBELET_ERRORS, type KubeletErrorCode } from './errors.js';
export { containerConfig, containerEnv, expand, oomScoreAdj, podLogDirectory, qosClass, sandboxConfig } from './container-config.js';
export { podPhase, podStatus } from './status.js';
export { prepareVolumes, containerMounts, atomicWrite } from './volumes.js';
export { probeOnce, ProbeManager, type ProbeKind, type ProbeResult } from './probes.js';
export { serviceEnv } from './service-env.js';
export { hostInfo, sampleHost, pressureOf } from './host.js';
export * from './labels.js';
export { podCgroupParent, removePodCgroups, removeCgroupTree } from './cgroups.js';
