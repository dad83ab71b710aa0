/**
 * The store's requests and responses, with etcd's v3 semantics, as plain
 * TypeScript (camelCase; byte strings are Uint8Array). The etcd gRPC layer
 * converts to and from the wire messages; the Raft layer carries encoded
 * Commands; the MVCC state machine applies them.
 *
 * int64 values (revisions, lease ids, versions) are JS numbers: skiff keeps
 * them within Number.MAX_SAFE_INTEGER and refuses larger ones at the API with
 * a typed error (etcd generates lease ids up to 2^63; we generate them below
 * 2^53, which every etcd client accepts).
 */

export interface KeyValue {
  key: Uint8Array;
  /** Revision of the last creation of this key (0 for a deletion event's kv). */
  createRevision: number;
  /** Revision of the last modification. */
  modRevision: number;
  /** Number of modifications since creation (a delete resets it to 0). */
  version: number;
  value: Uint8Array;
  /** Lease attached to the key, 0 for none. */
  lease: number;
}

export enum SortOrder {
  None = 0,
  Ascend = 1,
  Descend = 2,
}

export enum SortTarget {
  Key = 0,
  Version = 1,
  Create = 2,
  Mod = 3,
  Value = 4,
}

/**
 * The interval [key, rangeEnd). An empty rangeEnd means the single key; a
 * rangeEnd of one zero byte means every key ≥ key; key and rangeEnd both one
 * zero byte mean every key.
 */
export interface RangeRequest {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  /** At most this many kvs (0 = no limit); `more` tells whether more exist. */
  limit: number;
  /** Read at this revision (0 = current). Below the compact revision: STORE_ERR_COMPACTED. */
  revision: number;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  /** Local read without ReadIndex (may be stale). Handled above the MVCC layer. */
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

export interface RangeResponse {
  kvs: KeyValue[];
  more: boolean;
  /** Number of keys in the range (before limit). */
  count: number;
  /** The store revision the read was served at. */
  revision: number;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  lease: number;
  prevKv: boolean;
  /** Keep the current value (the key must exist, else STORE_ERR_KEY_NOT_FOUND). */
  ignoreValue: boolean;
  /** Keep the current lease (the key must exist, else STORE_ERR_KEY_NOT_FOUND). */
  ignoreLease: boolean;
}

export interface PutResponse {
  prevKv: KeyValue | null;
  revision: number;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  prevKv: boolean;
}

export interface DeleteRangeResponse {
  deleted: number;
  prevKvs: KeyValue[];
  revision: number;
}

export enum CompareResult {
  Equal = 0,
  Greater = 1,
  Less = 2,
  NotEqual = 3,
}

export enum CompareTarget {
  Version = 0,
  Create = 1,
  Mod = 2,
  Value = 3,
  Lease = 4,
}

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Uint8Array;
  /** Compare every key in [key, rangeEnd) (etcd ≥ 3.3); empty for the single key. */
  rangeEnd: Uint8Array;
  /** The operand for the target (only the one matching `target` is used). */
  version: number;
  createRevision: number;
  modRevision: number;
  value: Uint8Array;
  lease: number;
}

export type RequestOp =
  | { range: RangeRequest }
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest };

export type ResponseOp =
  | { range: RangeResponse }
  | { put: PutResponse }
  | { deleteRange: DeleteRangeResponse }
  | { txn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  succeeded: boolean;
  responses: ResponseOp[];
  revision: number;
}

export interface CompactionRequest {
  revision: number;
  /** Answer only once the compaction is physically done. */
  physical: boolean;
}

export interface CompactionResponse {
  revision: number;
}

export interface LeaseGrantRequest {
  /** Seconds. */
  ttl: number;
  /** Requested id, 0 to let the leader choose (it fills the id in before proposing). */
  id: number;
}

export interface LeaseGrantResponse {
  id: number;
  ttl: number;
  revision: number;
}

export interface LeaseRevokeRequest {
  id: number;
}

export interface LeaseRevokeResponse {
  revision: number;
}

/** The leader records a lease's remaining time so that a new leader does not restart it from full. */
export interface LeaseCheckpointRequest {
  checkpoints: { id: number; remainingTtl: number }[];
}

/**
 * What the Raft log carries: one client request (or leader housekeeping),
 * with the proposer's request id so that the proposing member can hand the
 * result back to the waiting caller.
 */
export type StoreCommand =
  | { id: number; put: PutRequest }
  | { id: number; deleteRange: DeleteRangeRequest }
  | { id: number; txn: TxnRequest }
  | { id: number; compaction: CompactionRequest }
  | { id: number; leaseGrant: LeaseGrantRequest }
  | { id: number; leaseRevoke: LeaseRevokeRequest }
  | { id: number; leaseCheckpoint: LeaseCheckpointRequest }
  /** A member publishes its name and client URLs (handled above the MVCC layer). */
  | { id: number; memberAttributes: MemberAttributesRequest }
  /**
   * A txn that only takes effect if its entry belongs to Raft term `term`:
   * writes of the control loops that run on the leader, so that a deposed
   * leader's write (forwarded to the new leader, hence appended in a newer
   * term) is refused on every member alike (handled above the MVCC layer).
   */
  | { id: number; fencedTxn: { term: number; txn: TxnRequest } };

export interface MemberAttributesRequest {
  memberId: number;
  name: string;
  clientURLs: string[];
}

export type StoreResult =
  | { put: PutResponse }
  | { deleteRange: DeleteRangeResponse }
  | { txn: TxnResponse }
  | { compaction: CompactionResponse }
  | { leaseGrant: LeaseGrantResponse }
  | { leaseRevoke: LeaseRevokeResponse }
  | { leaseCheckpoint: { revision: number } };

export enum EventType {
  Put = 0,
  Delete = 1,
}

export interface WatchEvent {
  type: EventType;
  /** For a delete: key set, modRevision = the deletion's revision, other fields zero. */
  kv: KeyValue;
  prevKv: KeyValue | null;
}

export interface Lease {
  id: number;
  /** Granted TTL, seconds. */
  ttl: number;
  /** Remaining TTL recorded by the last checkpoint (0 = none). */
  remainingTtl: number;
  keys: Uint8Array[];
}
