/**
 * The proxy part of the node daemon: Services and EndpointSlices → iptables
 * NAT in kube-proxy's chain shape (see rules.ts), or nftables in kube-proxy's
 * nftables shape (mode 'nftables', see nft-rules.ts).
 */
export { Proxier, cleanupProxyRules, type ProxyCleanupResult, type ProxyMode, type ProxierOptions, type ProxierStats, type ProxyLogger, type SyncKind, type SyncResult, type WatchEventType } from './proxier.js';
export { Iptables, prefixedExec, runCommand, type CommandResult, type Exec, type IptablesOptions, type RunOptions } from './iptables.js';
export { Nftables, nftBinary, type NftablesOptions } from './nftables.js';
export {
  NFT_CHAIN,
  NFT_MAP,
  NFT_SHARDS,
  NFT_TABLE,
  nftFullSyncTransactions,
  nftObjectName,
  nftShardTable,
  nftPartialSyncTransaction,
  nftPortChains,
  nftPortElements,
  nftPortNames,
  nftPortRules,
  nftPortSets,
  nftServicePortRules,
  parseNftList,
  parseNftTables,
  type NftFullSyncInput,
  type NftPortNames,
} from './nft-rules.js';
export { Conntrack, clusterIPEndpointFilter, clusterIPFilter, nodePortEndpointFilter, type ConntrackFilter } from './conntrack.js';
export {
  CHAIN,
  DEFAULT_NODE_CONFIG,
  JUMP_RULES,
  endpointChainName,
  externalChainName,
  fullSyncTransactions,
  parseIptablesSave,
  partialSyncTransaction,
  serviceChainName,
  servicePortRules,
  servicePortsOf,
  sliceInfoOf,
  usableEndpoints,
  type ProxyNodeConfig,
  type ServicePortInfo,
  type ServicePortRules,
} from './rules.js';
export { PROXY_ERRORS, ProxyError, isProxyError, type ProxyErrorCode } from './errors.js';
