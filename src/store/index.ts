/**
 * skiff/store — the replicated MVCC key-value store: a StoreServer (one
 * member: Raft + LevelDB + MVCC + leases + watch), a Master (a member plus the
 * etcd v3 API and /metrics), and the types of the KV interface that the
 * control plane uses in-process.
 */
export * from './types.js';
export { StoreError, isStoreError, GrpcCode, type StoreErrorCode } from './errors.js';
export { StoreServer, STORE_SERVER_DEFAULTS, type StoreServerOptions, type InitialMember, type MemberStatus } from './server.js';
export { Master, type MasterOptions, splitHostPort } from './master.js';
export type { WatchBatch, WatchRequest, Watcher } from './mvcc/index.js';
