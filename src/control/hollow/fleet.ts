/**
 * Many hollow nodes in one process (kubemark's way of standing in for a big
 * cluster): one keep-alive agent and one limiter of requests in flight for
 * all of them, and a bounded number of nodes starting at once.
 */
import { ApiClient, type ApiClientOptions, Limiter, newAgent } from '../../node/api/index.js';
import { HollowNode, type HollowNodeOptions } from './node.js';

export interface HollowFleetOptions extends Omit<HollowNodeOptions, 'name' | 'podCidr' | 'internalIP'> {
  /** How to reach the API (agent and limiter are made here and shared). */
  api: Omit<ApiClientOptions, 'agent' | 'watchAgent' | 'limiter'>;
  /** Node i is named `${namePrefix}${i}`. */
  namePrefix?: string;
  /** Requests in flight at once, over all nodes (also the agent's socket bound). */
  maxInflightRequests?: number;
  /** Nodes registering at once. */
  startConcurrency?: number;
}

export const FLEET_MAX_INFLIGHT_DEFAULT = 64;
export const FLEET_START_CONCURRENCY_DEFAULT = 32;
/** Distinct /24 pod CIDRs in 10.64.0.0/11 (one per node). */
export const FLEET_NODES_MAX = 8192;

export interface HollowFleet {
  readonly nodes: readonly HollowNode[];
  /** Stops every node and closes the shared agents. */
  close(): Promise<void>;
}

/** Node i's pod CIDR and address: distinct for every i < FLEET_NODES_MAX. */
export function fleetAddresses(i: number): { podCidr: string; internalIP: string } {
  const n = i + 1;
  return { podCidr: `10.${64 + (i >>> 8)}.${i & 255}.0/24`, internalIP: `10.${(n >>> 16) & 63}.${(n >>> 8) & 255}.${n & 255}` };
}

export async function startHollowNodes(n: number, o: HollowFleetOptions): Promise<HollowFleet> {
  if (!(Number.isInteger(n) && n >= 0 && n <= FLEET_NODES_MAX)) throw new RangeError(`a fleet holds 0 to ${FLEET_NODES_MAX} hollow nodes, not ${n}`);
  const secure = new URL(o.api.baseUrl).protocol === 'https:';
  const inflight = o.maxInflightRequests ?? FLEET_MAX_INFLIGHT_DEFAULT;
  const agent = newAgent(secure, inflight);
  const watchAgent = newAgent(secure, Infinity);
  const client = new ApiClient({ ...o.api, agent, watchAgent, limiter: new Limiter(inflight) });
  const { api: _api, namePrefix = 'hollow-', maxInflightRequests: _m, startConcurrency = FLEET_START_CONCURRENCY_DEFAULT, ...nodeOptions } = o;
  const nodes = Array.from({ length: n }, (_, i) => new HollowNode(client, { ...nodeOptions, name: `${namePrefix}${i}`, ...fleetAddresses(i) }));
  const close = async () => {
    await Promise.all(nodes.map((x) => x.close()));
    agent.destroy();
    watchAgent.destroy();
  };
  const starts = new Limiter(startConcurrency);
  try {
    await Promise.all(nodes.map((x) => starts.run(() => x.start())));
  } catch (e) {
    await close();
    throw e;
  }
  return { nodes, close };
}
