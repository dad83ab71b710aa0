/**
 * The etcd v3 gRPC API as skiff serves it: our own .proto files
 * (src/store/proto, copied next to the compiled code by the build) loaded once
 * with @grpc/proto-loader, the grpc-js service definitions for the server, the
 * TypeScript shapes of the wire messages, and typed clients for tests.
 *
 * Wire objects look exactly as proto-loader hands them over with the options
 * below: field names as in the .proto (snake_case, plus upstream's `ID`, `TTL`,
 * `peerURLs`…), 64-bit integers as decimal strings, bytes as Buffer, enums as
 * numbers, every absent scalar/repeated field filled with its proto3 default,
 * an absent message field as null, and for each oneof a virtual property
 * naming the member that is set (absent when none is). src/store/api/convert.ts
 * turns them into the plain types of src/store/types.ts and back.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// ---------------------------------------------------------------- loading

/** Folder holding etcdserverpb/ and mvccpb/; imports inside the files are relative to it. */
const PROTO_ROOT = fileURLToPath(new URL('../proto/', import.meta.url));

/**
 * bytes is left unset on purpose: proto-loader's default is Buffer (its only
 * alternatives are String and Array). enums: Number is the default too; it is
 * spelled out because convert.ts relies on it.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

/** Both files, parsed once per process. */
export const etcdPackageDefinition: protoLoader.PackageDefinition = protoLoader.loadSync(
  ['etcdserverpb/rpc.proto', 'mvccpb/kv.proto'],
  PROTO_LOADER_OPTIONS,
);

const etcdserverpb = grpc.loadPackageDefinition(etcdPackageDefinition)['etcdserverpb'] as grpc.GrpcObject;

function clientConstructor(service: string): grpc.ServiceClientConstructor {
  const ctor = etcdserverpb[service];
  if (typeof ctor !== 'function' || !('service' in ctor)) {
    throw new Error(`etcdserverpb.${service} missing from src/store/proto/etcdserverpb/rpc.proto`);
  }
  return ctor;
}

const KVClientCtor = clientConstructor('KV');
const WatchClientCtor = clientConstructor('Watch');
const LeaseClientCtor = clientConstructor('Lease');
const ClusterClientCtor = clientConstructor('Cluster');
const MaintenanceClientCtor = clientConstructor('Maintenance');

/** Service definitions for `grpc.Server.addService`, keyed by method name (`Range`, `Put`…). */
export const KVService: grpc.ServiceDefinition<KVHandlers> = KVClientCtor.service as grpc.ServiceDefinition<KVHandlers>;
export const WatchService: grpc.ServiceDefinition<WatchHandlers> = WatchClientCtor.service as grpc.ServiceDefinition<WatchHandlers>;
export const LeaseService: grpc.ServiceDefinition<LeaseHandlers> = LeaseClientCtor.service as grpc.ServiceDefinition<LeaseHandlers>;
export const ClusterService: grpc.ServiceDefinition<ClusterHandlers> = ClusterClientCtor.service as grpc.ServiceDefinition<ClusterHandlers>;
export const MaintenanceService: grpc.ServiceDefinition<MaintenanceHandlers> =
  MaintenanceClientCtor.service as grpc.ServiceDefinition<MaintenanceHandlers>;

// ---------------------------------------------------------------- wire shapes

/** int64 / uint64 as proto-loader delivers them (`longs: String`): a decimal string. */
export type Int64 = string;

/**
 * What may be handed to a serializer: every field optional or null, bytes as
 * any Uint8Array. (protobufjs also accepts numbers for 64-bit fields; skiff
 * always sends decimal strings so that nothing beyond 2^53 is ever rounded.)
 */
export type WireInput<T> = T extends Buffer
  ? Uint8Array
  : T extends readonly (infer U)[]
    ? WireInput<U>[]
    : T extends object
      ? { [K in keyof T]?: WireInput<T[K]> | null }
      : T;

export interface WireResponseHeader {
  cluster_id: Int64;
  member_id: Int64;
  revision: Int64;
  raft_term: Int64;
}

export interface WireKeyValue {
  key: Buffer;
  create_revision: Int64;
  mod_revision: Int64;
  version: Int64;
  value: Buffer;
  lease: Int64;
}

/** mvccpb.Event.EventType */
export enum WireEventType {
  PUT = 0,
  DELETE = 1,
}

export interface WireEvent {
  type: WireEventType;
  kv: WireKeyValue | null;
  prev_kv: WireKeyValue | null;
}

export interface WireRangeRequest {
  key: Buffer;
  range_end: Buffer;
  limit: Int64;
  revision: Int64;
  /** RangeRequest.SortOrder: NONE 0, ASCEND 1, DESCEND 2. */
  sort_order: number;
  /** RangeRequest.SortTarget: KEY 0, VERSION 1, CREATE 2, MOD 3, VALUE 4. */
  sort_target: number;
  serializable: boolean;
  keys_only: boolean;
  count_only: boolean;
  min_mod_revision: Int64;
  max_mod_revision: Int64;
  min_create_revision: Int64;
  max_create_revision: Int64;
}

export interface WireRangeResponse {
  header: WireResponseHeader | null;
  kvs: WireKeyValue[];
  more: boolean;
  count: Int64;
}

export interface WirePutRequest {
  key: Buffer;
  value: Buffer;
  lease: Int64;
  prev_kv: boolean;
  ignore_value: boolean;
  ignore_lease: boolean;
}

export interface WirePutResponse {
  header: WireResponseHeader | null;
  prev_kv: WireKeyValue | null;
}

export interface WireDeleteRangeRequest {
  key: Buffer;
  range_end: Buffer;
  prev_kv: boolean;
}

export interface WireDeleteRangeResponse {
  header: WireResponseHeader | null;
  deleted: Int64;
  prev_kvs: WireKeyValue[];
}

/** RequestOp: `request` names the member that is set. */
export type WireRequestOp =
  | { request: 'request_range'; request_range: WireRangeRequest }
  | { request: 'request_put'; request_put: WirePutRequest }
  | { request: 'request_delete_range'; request_delete_range: WireDeleteRangeRequest }
  | { request: 'request_txn'; request_txn: WireTxnRequest };

/** ResponseOp: `response` names the member that is set. */
export type WireResponseOp =
  | { response: 'response_range'; response_range: WireRangeResponse }
  | { response: 'response_put'; response_put: WirePutResponse }
  | { response: 'response_delete_range'; response_delete_range: WireDeleteRangeResponse }
  | { response: 'response_txn'; response_txn: WireTxnResponse };

/** Compare.target_union: the operand, one of these five members. */
export type WireCompareOperand =
  | { target_union: 'version'; version: Int64 }
  | { target_union: 'create_revision'; create_revision: Int64 }
  | { target_union: 'mod_revision'; mod_revision: Int64 }
  | { target_union: 'value'; value: Buffer }
  | { target_union: 'lease'; lease: Int64 };

export type WireCompare = {
  /** Compare.CompareResult: EQUAL 0, GREATER 1, LESS 2, NOT_EQUAL 3. */
  result: number;
  /** Compare.CompareTarget: VERSION 0, CREATE 1, MOD 2, VALUE 3, LEASE 4. */
  target: number;
  key: Buffer;
  range_end: Buffer;
} & WireCompareOperand;

export interface WireTxnRequest {
  compare: WireCompare[];
  success: WireRequestOp[];
  failure: WireRequestOp[];
}

export interface WireTxnResponse {
  header: WireResponseHeader | null;
  succeeded: boolean;
  responses: WireResponseOp[];
}

export interface WireCompactionRequest {
  revision: Int64;
  physical: boolean;
}

export interface WireCompactionResponse {
  header: WireResponseHeader | null;
}

export interface WireWatchCreateRequest {
  key: Buffer;
  range_end: Buffer;
  start_revision: Int64;
  progress_notify: boolean;
  /** WatchCreateRequest.FilterType: NOPUT 0, NODELETE 1. */
  filters: number[];
  prev_kv: boolean;
  watch_id: Int64;
  fragment: boolean;
}

export interface WireWatchCancelRequest {
  watch_id: Int64;
}

export type WireWatchProgressRequest = Record<string, never>;

export type WireWatchRequest =
  | { request_union: 'create_request'; create_request: WireWatchCreateRequest }
  | { request_union: 'cancel_request'; cancel_request: WireWatchCancelRequest }
  | { request_union: 'progress_request'; progress_request: WireWatchProgressRequest };

export interface WireWatchResponse {
  header: WireResponseHeader | null;
  watch_id: Int64;
  created: boolean;
  canceled: boolean;
  compact_revision: Int64;
  cancel_reason: string;
  fragment: boolean;
  events: WireEvent[];
}

export interface WireLeaseGrantRequest {
  TTL: Int64;
  ID: Int64;
}

export interface WireLeaseGrantResponse {
  header: WireResponseHeader | null;
  ID: Int64;
  TTL: Int64;
  error: string;
}

export interface WireLeaseRevokeRequest {
  ID: Int64;
}

export interface WireLeaseRevokeResponse {
  header: WireResponseHeader | null;
}

export interface WireLeaseKeepAliveRequest {
  ID: Int64;
}

export interface WireLeaseKeepAliveResponse {
  header: WireResponseHeader | null;
  ID: Int64;
  TTL: Int64;
}

export interface WireLeaseTimeToLiveRequest {
  ID: Int64;
  keys: boolean;
}

export interface WireLeaseTimeToLiveResponse {
  header: WireResponseHeader | null;
  ID: Int64;
  TTL: Int64;
  grantedTTL: Int64;
  keys: Buffer[];
}

export type WireLeaseLeasesRequest = Record<string, never>;

export interface WireLeaseStatus {
  ID: Int64;
}

export interface WireLeaseLeasesResponse {
  header: WireResponseHeader | null;
  leases: WireLeaseStatus[];
}

export interface WireMember {
  ID: Int64;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface WireMemberAddRequest {
  peerURLs: string[];
  isLearner: boolean;
}

export interface WireMemberAddResponse {
  header: WireResponseHeader | null;
  member: WireMember | null;
  members: WireMember[];
}

export interface WireMemberRemoveRequest {
  ID: Int64;
}

export interface WireMemberUpdateRequest {
  ID: Int64;
  peerURLs: string[];
}

export interface WireMemberListRequest {
  linearizable: boolean;
}

export interface WireMemberPromoteRequest {
  ID: Int64;
}

/** The answer of MemberRemove, MemberUpdate, MemberList and MemberPromote (same fields). */
export interface WireMembersResponse {
  header: WireResponseHeader | null;
  members: WireMember[];
}

/** etcdserverpb.AlarmType (file-level enum). */
export enum WireAlarmType {
  NONE = 0,
  NOSPACE = 1,
  CORRUPT = 2,
}

/** AlarmRequest.AlarmAction */
export enum WireAlarmAction {
  GET = 0,
  ACTIVATE = 1,
  DEACTIVATE = 2,
}

export interface WireAlarmRequest {
  action: WireAlarmAction;
  memberID: Int64;
  alarm: WireAlarmType;
}

export interface WireAlarmMember {
  memberID: Int64;
  alarm: WireAlarmType;
}

export interface WireAlarmResponse {
  header: WireResponseHeader | null;
  alarms: WireAlarmMember[];
}

export type WireStatusRequest = Record<string, never>;

export interface WireStatusResponse {
  header: WireResponseHeader | null;
  version: string;
  dbSize: Int64;
  leader: Int64;
  raftIndex: Int64;
  raftTerm: Int64;
  raftAppliedIndex: Int64;
  errors: string[];
  dbSizeInUse: Int64;
  isLearner: boolean;
}

export type WireDefragmentRequest = Record<string, never>;
export type WireHashRequest = Record<string, never>;
export type WireSnapshotRequest = Record<string, never>;

/** The answer of Defragment and MoveLeader (header only). */
export interface WireHeaderOnlyResponse {
  header: WireResponseHeader | null;
}

export interface WireHashResponse {
  header: WireResponseHeader | null;
  /** uint32: a plain number, not a string. */
  hash: number;
}

export interface WireHashKVRequest {
  revision: Int64;
}

export interface WireHashKVResponse {
  header: WireResponseHeader | null;
  hash: number;
  compact_revision: Int64;
}

export interface WireSnapshotResponse {
  header: WireResponseHeader | null;
  remaining_bytes: Int64;
  blob: Buffer;
}

export interface WireMoveLeaderRequest {
  targetID: Int64;
}

// ---------------------------------------------------------------- server side

/**
 * Handler maps for `server.addService(KVService, handlers)`: requests arrive
 * fully decoded, answers may leave fields out. Type aliases (not interfaces)
 * so that they stay assignable to grpc-js's untyped implementation type.
 */
export type KVHandlers = {
  Range: grpc.handleUnaryCall<WireRangeRequest, WireInput<WireRangeResponse>>;
  Put: grpc.handleUnaryCall<WirePutRequest, WireInput<WirePutResponse>>;
  DeleteRange: grpc.handleUnaryCall<WireDeleteRangeRequest, WireInput<WireDeleteRangeResponse>>;
  Txn: grpc.handleUnaryCall<WireTxnRequest, WireInput<WireTxnResponse>>;
  Compact: grpc.handleUnaryCall<WireCompactionRequest, WireInput<WireCompactionResponse>>;
};

export type WatchHandlers = {
  Watch: grpc.handleBidiStreamingCall<WireWatchRequest, WireInput<WireWatchResponse>>;
};

export type LeaseHandlers = {
  LeaseGrant: grpc.handleUnaryCall<WireLeaseGrantRequest, WireInput<WireLeaseGrantResponse>>;
  LeaseRevoke: grpc.handleUnaryCall<WireLeaseRevokeRequest, WireInput<WireLeaseRevokeResponse>>;
  LeaseKeepAlive: grpc.handleBidiStreamingCall<WireLeaseKeepAliveRequest, WireInput<WireLeaseKeepAliveResponse>>;
  LeaseTimeToLive: grpc.handleUnaryCall<WireLeaseTimeToLiveRequest, WireInput<WireLeaseTimeToLiveResponse>>;
  LeaseLeases: grpc.handleUnaryCall<WireLeaseLeasesRequest, WireInput<WireLeaseLeasesResponse>>;
};

export type ClusterHandlers = {
  MemberAdd: grpc.handleUnaryCall<WireMemberAddRequest, WireInput<WireMemberAddResponse>>;
  MemberRemove: grpc.handleUnaryCall<WireMemberRemoveRequest, WireInput<WireMembersResponse>>;
  MemberUpdate: grpc.handleUnaryCall<WireMemberUpdateRequest, WireInput<WireMembersResponse>>;
  MemberList: grpc.handleUnaryCall<WireMemberListRequest, WireInput<WireMembersResponse>>;
  MemberPromote: grpc.handleUnaryCall<WireMemberPromoteRequest, WireInput<WireMembersResponse>>;
};

export type MaintenanceHandlers = {
  Alarm: grpc.handleUnaryCall<WireAlarmRequest, WireInput<WireAlarmResponse>>;
  Status: grpc.handleUnaryCall<WireStatusRequest, WireInput<WireStatusResponse>>;
  Defragment: grpc.handleUnaryCall<WireDefragmentRequest, WireInput<WireHeaderOnlyResponse>>;
  Hash: grpc.handleUnaryCall<WireHashRequest, WireInput<WireHashResponse>>;
  HashKV: grpc.handleUnaryCall<WireHashKVRequest, WireInput<WireHashKVResponse>>;
  Snapshot: grpc.handleServerStreamingCall<WireSnapshotRequest, WireInput<WireSnapshotResponse>>;
  MoveLeader: grpc.handleUnaryCall<WireMoveLeaderRequest, WireInput<WireHeaderOnlyResponse>>;
};

// ---------------------------------------------------------------- client side

export type UnaryCallback<Res> = (err: grpc.ServiceError | null, response?: Res) => void;

/** A unary method of a grpc-js client (call it as `client.Range(…)`, never detached). */
export interface UnaryMethod<Req, Res> {
  (request: WireInput<Req>, callback: UnaryCallback<Res>): grpc.ClientUnaryCall;
  (request: WireInput<Req>, metadata: grpc.Metadata, callback: UnaryCallback<Res>): grpc.ClientUnaryCall;
  (request: WireInput<Req>, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: UnaryCallback<Res>): grpc.ClientUnaryCall;
}

export type BidiStreamMethod<Req, Res> = (
  metadata?: grpc.Metadata,
  options?: Partial<grpc.CallOptions>,
) => grpc.ClientDuplexStream<WireInput<Req>, Res>;

export type ServerStreamMethod<Req, Res> = (
  request: WireInput<Req>,
  metadata?: grpc.Metadata,
  options?: Partial<grpc.CallOptions>,
) => grpc.ClientReadableStream<Res>;

export interface KVClient extends grpc.Client {
  Range: UnaryMethod<WireRangeRequest, WireRangeResponse>;
  Put: UnaryMethod<WirePutRequest, WirePutResponse>;
  DeleteRange: UnaryMethod<WireDeleteRangeRequest, WireDeleteRangeResponse>;
  Txn: UnaryMethod<WireTxnRequest, WireTxnResponse>;
  Compact: UnaryMethod<WireCompactionRequest, WireCompactionResponse>;
}

export interface WatchClient extends grpc.Client {
  Watch: BidiStreamMethod<WireWatchRequest, WireWatchResponse>;
}

export interface LeaseClient extends grpc.Client {
  LeaseGrant: UnaryMethod<WireLeaseGrantRequest, WireLeaseGrantResponse>;
  LeaseRevoke: UnaryMethod<WireLeaseRevokeRequest, WireLeaseRevokeResponse>;
  LeaseKeepAlive: BidiStreamMethod<WireLeaseKeepAliveRequest, WireLeaseKeepAliveResponse>;
  LeaseTimeToLive: UnaryMethod<WireLeaseTimeToLiveRequest, WireLeaseTimeToLiveResponse>;
  LeaseLeases: UnaryMethod<WireLeaseLeasesRequest, WireLeaseLeasesResponse>;
}

export interface ClusterClient extends grpc.Client {
  MemberAdd: UnaryMethod<WireMemberAddRequest, WireMemberAddResponse>;
  MemberRemove: UnaryMethod<WireMemberRemoveRequest, WireMembersResponse>;
  MemberUpdate: UnaryMethod<WireMemberUpdateRequest, WireMembersResponse>;
  MemberList: UnaryMethod<WireMemberListRequest, WireMembersResponse>;
  MemberPromote: UnaryMethod<WireMemberPromoteRequest, WireMembersResponse>;
}

export interface MaintenanceClient extends grpc.Client {
  Alarm: UnaryMethod<WireAlarmRequest, WireAlarmResponse>;
  Status: UnaryMethod<WireStatusRequest, WireStatusResponse>;
  Defragment: UnaryMethod<WireDefragmentRequest, WireHeaderOnlyResponse>;
  Hash: UnaryMethod<WireHashRequest, WireHashResponse>;
  HashKV: UnaryMethod<WireHashKVRequest, WireHashKVResponse>;
  Snapshot: ServerStreamMethod<WireSnapshotRequest, WireSnapshotResponse>;
  MoveLeader: UnaryMethod<WireMoveLeaderRequest, WireHeaderOnlyResponse>;
}

export interface EtcdClients {
  kv: KVClient;
  watch: WatchClient;
  lease: LeaseClient;
  cluster: ClusterClient;
  maintenance: MaintenanceClient;
  /** Closes the one channel the five clients share. */
  close(): void;
}

/**
 * Clients for the five services on one shared channel to `address`
 * ("host:port"). For tests and tools; the messages are the wire shapes above.
 */
export function loadEtcdClients(
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): EtcdClients {
  const kv = new KVClientCtor(address, credentials, options) as unknown as KVClient;
  const shared = { ...options, channelOverride: kv.getChannel() };
  const watch = new WatchClientCtor(address, credentials, shared) as unknown as WatchClient;
  const lease = new LeaseClientCtor(address, credentials, shared) as unknown as LeaseClient;
  const cluster = new ClusterClientCtor(address, credentials, shared) as unknown as ClusterClient;
  const maintenance = new MaintenanceClientCtor(address, credentials, shared) as unknown as MaintenanceClient;
  return { kv, watch, lease, cluster, maintenance, close: () => kv.close() };
}
