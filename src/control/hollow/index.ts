/**
 * Hollow nodes: a test and benchmark tool in the manner of kubemark's hollow
 * kubelet. They register Nodes, heartbeat Leases and report bound Pods as
 * Running over the API, without running anything. Never the real node daemon.
 */
export { ApiClient, type ApiClientOptions, KubeApiError, isKubeApiError, Limiter, newAgent, type WatchEvent } from '../../node/api/index.js';
export {
  HollowNode,
  type HollowNodeOptions,
  type HollowNodeStats,
  type HollowLogger,
  HOLLOW_KUBELET_VERSION,
  NODE_LEASE_NAMESPACE,
  NODE_LEASE_DURATION_SECONDS,
  PodIpPool,
  microTime,
  runningStatus,
} from './node.js';
export { startHollowNodes, fleetAddresses, type HollowFleet, type HollowFleetOptions, FLEET_NODES_MAX } from './fleet.js';
