/**
 * Conversions between the etcd wire messages (as @grpc/proto-loader delivers
 * them, see proto.ts) and the plain store types of src/store/types.ts.
 *
 * `…FromWire` accepts anything proto-loader may produce and also partial
 * objects: an absent or null field takes its proto3 default (0, false, empty
 * bytes, empty list). It refuses a 64-bit value that is not a safe integer, or
 * a negative one where the field cannot be negative, with
 * StoreError('STORE_ERR_INT64_RANGE') — the caller answers INVALID_ARGUMENT.
 * What is range-checked as non-negative, and why:
 *  - uint64 fields (header ids, term): unsigned by type;
 *  - revisions, versions, counts and TTLs in answers: the store never
 *    produces a negative one;
 *  - lease ids in requests: skiff's lease ids live in [0, 2^53) and upstream
 *    itself only ever generates positive ones.
 * Request fields to which upstream gives a meaning when negative keep their
 * sign: RangeRequest.revision and .limit (≤ 0 = newest / no limit), the
 * min/max revision filters, Compare operands, LeaseGrantRequest.TTL (raised
 * to the minimum TTL) and CompactionRequest.revision (answered "compacted").
 *
 * `…ToWire` builds what a serializer accepts, 64-bit values as decimal
 * strings. Its input comes from skiff itself, so a value that cannot be an
 * int64 there is a bug in skiff and fails an assertion.
 *
 * Bytes from the wire become plain Uint8Array views over the received Buffer
 * (no copy); bytes to the wire become Buffer views over the Uint8Array.
 */
import { assert, unreachable } from '../../util/assert.js';
import { StoreError } from '../errors.js';
import type {
  Compare,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../types.js';
import type {
  Int64,
  WireCompactionRequest,
  WireCompactionResponse,
  WireCompare,
  WireDeleteRangeRequest,
  WireDeleteRangeResponse,
  WireEvent,
  WireInput,
  WireKeyValue,
  WireLeaseGrantRequest,
  WireLeaseGrantResponse,
  WireLeaseRevokeRequest,
  WireLeaseRevokeResponse,
  WirePutRequest,
  WirePutResponse,
  WireRangeRequest,
  WireRangeResponse,
  WireRequestOp,
  WireResponseHeader,
  WireResponseOp,
  WireTxnRequest,
  WireTxnResponse,
} from './proto.js';

/**
 * Deepest nesting of transactions inside transactions accepted by the
 * conversion, which recurses once per level. Upstream bounds nesting only
 * indirectly (each level spends at least one of the 128 operations etcd allows
 * per txn), so a deeper txn could never be valid and gets etcd's "too many
 * operations". From the network this guard does not bind: protobufjs refuses
 * to decode (or encode) messages nested more than 100 deep, and each txn level
 * costs two (TxnRequest → RequestOp), so about 50 levels is the wire's limit.
 */
export const TXN_NESTING_DEPTH_MAX = 128;

const EMPTY_BYTES = new Uint8Array(0);

// ---------------------------------------------------------------- scalars

type Int64In = Int64 | number | bigint | null | undefined;

const DECIMAL = /^-?\d+$/;

/** A wire int64 as a number; absent is 0. Throws STORE_ERR_INT64_RANGE past 2^53-1. */
export function int64FromWire(v: Int64In, field = 'int64'): number {
  if (v === null || v === undefined || v === '') return 0;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (DECIMAL.test(v)) n = Number(v);
  else throw new StoreError('STORE_ERR_INT64_RANGE', `${field}: ${JSON.stringify(v)} is not a decimal integer`);
  // Number() of a decimal beyond 2^53-1 rounds to a value ≥ 2^53, which is
  // never a safe integer: the check below cannot be fooled by the rounding.
  if (!Number.isSafeInteger(n)) throw new StoreError('STORE_ERR_INT64_RANGE', `${field}: ${String(v)}`);
  return n;
}

/** As int64FromWire, and negative values are refused too. */
export function uint64FromWire(v: Int64In, field = 'uint64'): number {
  const n = int64FromWire(v, field);
  if (n < 0) throw new StoreError('STORE_ERR_INT64_RANGE', `${field}: ${n} is negative`);
  return n;
}

/** A number of ours as a wire int64 (decimal string). */
export function int64ToWire(n: number): Int64 {
  assert(Number.isSafeInteger(n), `int64ToWire: ${n} is not a safe integer`);
  return String(n);
}

/** A number of ours as a wire uint64 (decimal string). */
export function uint64ToWire(n: number): Int64 {
  assert(Number.isSafeInteger(n) && n >= 0, `uint64ToWire: ${n} is not a non-negative safe integer`);
  return String(n);
}

/** Wire bytes (Buffer, or any Uint8Array) as a plain Uint8Array view; absent is empty. */
export function bytesFromWire(b: Uint8Array | null | undefined): Uint8Array {
  if (b === null || b === undefined || b.byteLength === 0) return EMPTY_BYTES;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function bytesToWire(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

const bool = (b: boolean | null | undefined): boolean => b === true;
const enumNum = (e: number | null | undefined): number => e ?? 0;
const list = <T>(l: readonly T[] | null | undefined): readonly T[] => l ?? [];

// ---------------------------------------------------------------- header

/** What a member knows about itself when it answers; the revision comes with each answer. */
export interface HeaderContext {
  clusterId: number;
  memberId: number;
  raftTerm: number;
}

export function responseHeader(h: HeaderContext & { revision: number }): WireResponseHeader {
  return {
    cluster_id: uint64ToWire(h.clusterId),
    member_id: uint64ToWire(h.memberId),
    revision: int64ToWire(h.revision),
    raft_term: uint64ToWire(h.raftTerm),
  };
}

export function responseHeaderFromWire(h: WireInput<WireResponseHeader> | null | undefined): HeaderContext & { revision: number } {
  return {
    clusterId: uint64FromWire(h?.cluster_id, 'header.cluster_id'),
    memberId: uint64FromWire(h?.member_id, 'header.member_id'),
    revision: uint64FromWire(h?.revision, 'header.revision'),
    raftTerm: uint64FromWire(h?.raft_term, 'header.raft_term'),
  };
}

/**
 * Answers nested in a txn carry a header with only the revision set: that is
 * what etcd sends (it fills member, cluster and term in the outer header only).
 */
const NESTED: HeaderContext = { clusterId: 0, memberId: 0, raftTerm: 0 };

// ---------------------------------------------------------------- KeyValue, Event

export function keyValueFromWire(kv: WireInput<WireKeyValue> | null | undefined): KeyValue {
  return {
    key: bytesFromWire(kv?.key),
    createRevision: uint64FromWire(kv?.create_revision, 'kv.create_revision'),
    modRevision: uint64FromWire(kv?.mod_revision, 'kv.mod_revision'),
    version: uint64FromWire(kv?.version, 'kv.version'),
    value: bytesFromWire(kv?.value),
    lease: uint64FromWire(kv?.lease, 'kv.lease'),
  };
}

export function keyValueToWire(kv: KeyValue): WireKeyValue {
  return {
    key: bytesToWire(kv.key),
    create_revision: int64ToWire(kv.createRevision),
    mod_revision: int64ToWire(kv.modRevision),
    version: int64ToWire(kv.version),
    value: bytesToWire(kv.value),
    lease: int64ToWire(kv.lease),
  };
}

const optionalKv = (kv: WireInput<WireKeyValue> | null | undefined): KeyValue | null =>
  kv === null || kv === undefined ? null : keyValueFromWire(kv);

export function eventFromWire(e: WireInput<WireEvent>): WatchEvent {
  return { type: enumNum(e.type), kv: keyValueFromWire(e.kv), prevKv: optionalKv(e.prev_kv) };
}

export function eventToWire(e: WatchEvent): WireEvent {
  return { type: e.type as number, kv: keyValueToWire(e.kv), prev_kv: e.prevKv === null ? null : keyValueToWire(e.prevKv) };
}

// ---------------------------------------------------------------- Range

export function rangeRequestFromWire(r: WireInput<WireRangeRequest>): RangeRequest {
  return {
    key: bytesFromWire(r.key),
    rangeEnd: bytesFromWire(r.range_end),
    limit: int64FromWire(r.limit, 'limit'),
    revision: int64FromWire(r.revision, 'revision'),
    sortOrder: enumNum(r.sort_order),
    sortTarget: enumNum(r.sort_target),
    serializable: bool(r.serializable),
    keysOnly: bool(r.keys_only),
    countOnly: bool(r.count_only),
    minModRevision: int64FromWire(r.min_mod_revision, 'min_mod_revision'),
    maxModRevision: int64FromWire(r.max_mod_revision, 'max_mod_revision'),
    minCreateRevision: int64FromWire(r.min_create_revision, 'min_create_revision'),
    maxCreateRevision: int64FromWire(r.max_create_revision, 'max_create_revision'),
  };
}

export function rangeRequestToWire(r: RangeRequest): WireRangeRequest {
  return {
    key: bytesToWire(r.key),
    range_end: bytesToWire(r.rangeEnd),
    limit: int64ToWire(r.limit),
    revision: int64ToWire(r.revision),
    sort_order: r.sortOrder,
    sort_target: r.sortTarget,
    serializable: r.serializable,
    keys_only: r.keysOnly,
    count_only: r.countOnly,
    min_mod_revision: int64ToWire(r.minModRevision),
    max_mod_revision: int64ToWire(r.maxModRevision),
    min_create_revision: int64ToWire(r.minCreateRevision),
    max_create_revision: int64ToWire(r.maxCreateRevision),
  };
}

export function rangeResponseFromWire(r: WireInput<WireRangeResponse>): RangeResponse {
  return {
    kvs: list(r.kvs).map(keyValueFromWire),
    more: bool(r.more),
    count: uint64FromWire(r.count, 'count'),
    revision: responseHeaderFromWire(r.header).revision,
  };
}

export function rangeResponseToWire(r: RangeResponse, h: HeaderContext): WireRangeResponse {
  return {
    header: responseHeader({ ...h, revision: r.revision }),
    kvs: r.kvs.map(keyValueToWire),
    more: r.more,
    count: int64ToWire(r.count),
  };
}

// ---------------------------------------------------------------- Put

export function putRequestFromWire(r: WireInput<WirePutRequest>): PutRequest {
  return {
    key: bytesFromWire(r.key),
    value: bytesFromWire(r.value),
    lease: uint64FromWire(r.lease, 'lease'),
    prevKv: bool(r.prev_kv),
    ignoreValue: bool(r.ignore_value),
    ignoreLease: bool(r.ignore_lease),
  };
}

export function putRequestToWire(r: PutRequest): WirePutRequest {
  return {
    key: bytesToWire(r.key),
    value: bytesToWire(r.value),
    lease: int64ToWire(r.lease),
    prev_kv: r.prevKv,
    ignore_value: r.ignoreValue,
    ignore_lease: r.ignoreLease,
  };
}

export function putResponseFromWire(r: WireInput<WirePutResponse>): PutResponse {
  return { prevKv: optionalKv(r.prev_kv), revision: responseHeaderFromWire(r.header).revision };
}

export function putResponseToWire(r: PutResponse, h: HeaderContext): WirePutResponse {
  return {
    header: responseHeader({ ...h, revision: r.revision }),
    prev_kv: r.prevKv === null ? null : keyValueToWire(r.prevKv),
  };
}

// ---------------------------------------------------------------- DeleteRange

export function deleteRangeRequestFromWire(r: WireInput<WireDeleteRangeRequest>): DeleteRangeRequest {
  return { key: bytesFromWire(r.key), rangeEnd: bytesFromWire(r.range_end), prevKv: bool(r.prev_kv) };
}

export function deleteRangeRequestToWire(r: DeleteRangeRequest): WireDeleteRangeRequest {
  return { key: bytesToWire(r.key), range_end: bytesToWire(r.rangeEnd), prev_kv: r.prevKv };
}

export function deleteRangeResponseFromWire(r: WireInput<WireDeleteRangeResponse>): DeleteRangeResponse {
  return {
    deleted: uint64FromWire(r.deleted, 'deleted'),
    prevKvs: list(r.prev_kvs).map(keyValueFromWire),
    revision: responseHeaderFromWire(r.header).revision,
  };
}

export function deleteRangeResponseToWire(r: DeleteRangeResponse, h: HeaderContext): WireDeleteRangeResponse {
  return {
    header: responseHeader({ ...h, revision: r.revision }),
    deleted: int64ToWire(r.deleted),
    prev_kvs: r.prevKvs.map(keyValueToWire),
  };
}

// ---------------------------------------------------------------- Compare

/** The member of target_union that goes with each CompareTarget, by enum number. */
const OPERAND_FOR_TARGET = ['version', 'create_revision', 'mod_revision', 'value', 'lease'] as const;

/** Compare's target_union members side by side, for reading whichever is present. */
interface AllOperands {
  version: Int64;
  create_revision: Int64;
  mod_revision: Int64;
  value: Buffer;
  lease: Int64;
}

export function compareFromWire(c: WireInput<WireCompare>): Compare {
  // Every member is read (an absent one is zero), so a guard whose operand
  // does not match its target keeps upstream's meaning: the target's own
  // operand is then zero.
  const u = c as WireInput<AllOperands>;
  return {
    result: enumNum(c.result),
    target: enumNum(c.target),
    key: bytesFromWire(c.key),
    rangeEnd: bytesFromWire(c.range_end),
    version: int64FromWire(u.version, 'compare.version'),
    createRevision: int64FromWire(u.create_revision, 'compare.create_revision'),
    modRevision: int64FromWire(u.mod_revision, 'compare.mod_revision'),
    value: bytesFromWire(u.value),
    lease: int64FromWire(u.lease, 'compare.lease'),
  };
}

/** Sends only the operand that `target` names (a oneof holds one member). */
export function compareToWire(c: Compare): WireCompare {
  const base = { result: c.result as number, target: c.target as number, key: bytesToWire(c.key), range_end: bytesToWire(c.rangeEnd) };
  const member = OPERAND_FOR_TARGET[c.target];
  assert(member !== undefined, `compareToWire: unknown target ${c.target}`);
  switch (member) {
    case 'version':
      return { ...base, target_union: member, version: int64ToWire(c.version) };
    case 'create_revision':
      return { ...base, target_union: member, create_revision: int64ToWire(c.createRevision) };
    case 'mod_revision':
      return { ...base, target_union: member, mod_revision: int64ToWire(c.modRevision) };
    case 'value':
      return { ...base, target_union: member, value: bytesToWire(c.value) };
    case 'lease':
      return { ...base, target_union: member, lease: int64ToWire(c.lease) };
    default:
      return unreachable(member, 'compare target');
  }
}

// ---------------------------------------------------------------- Txn

type RequestOpMember = 'request_range' | 'request_put' | 'request_delete_range' | 'request_txn';
type ResponseOpMember = 'response_range' | 'response_put' | 'response_delete_range' | 'response_txn';

/**
 * The member a oneof holds: the virtual property proto-loader sets, else the
 * first member present (for hand-built objects). When several are present on
 * the wire protobuf keeps the last one decoded, which is what proto-loader
 * then names.
 */
function oneofMember<M extends string>(o: object, virtual: string, members: readonly M[]): M | undefined {
  const named = (o as Record<string, unknown>)[virtual];
  if (typeof named === 'string' && (members as readonly string[]).includes(named)) return named as M;
  const record = o as Record<string, unknown>;
  return members.find((m) => record[m] !== undefined && record[m] !== null);
}

const REQUEST_MEMBERS: readonly RequestOpMember[] = ['request_range', 'request_put', 'request_delete_range', 'request_txn'];
const RESPONSE_MEMBERS: readonly ResponseOpMember[] = ['response_range', 'response_put', 'response_delete_range', 'response_txn'];

function requestOpFromWire(op: WireInput<WireRequestOp>, depth: number): RequestOp {
  const o = op as Partial<Record<RequestOpMember, unknown>>;
  const member = oneofMember(op, 'request', REQUEST_MEMBERS);
  switch (member) {
    case 'request_range':
      return { range: rangeRequestFromWire(o.request_range as WireInput<WireRangeRequest>) };
    case 'request_put':
      return { put: putRequestFromWire(o.request_put as WireInput<WirePutRequest>) };
    case 'request_delete_range':
      return { deleteRange: deleteRangeRequestFromWire(o.request_delete_range as WireInput<WireDeleteRangeRequest>) };
    case 'request_txn':
      return { txn: txnFromWireAt(o.request_txn as WireInput<WireTxnRequest>, depth + 1) };
    case undefined:
      // Upstream answers an empty operation with this same error.
      throw new StoreError('STORE_ERR_KEY_NOT_FOUND', 'empty RequestOp in txn');
    default:
      return unreachable(member, 'RequestOp member');
  }
}

function txnFromWireAt(t: WireInput<WireTxnRequest>, depth: number): TxnRequest {
  if (depth > TXN_NESTING_DEPTH_MAX) throw new StoreError('STORE_ERR_TOO_MANY_OPS', `txn nested deeper than ${TXN_NESTING_DEPTH_MAX}`);
  return {
    compare: list(t.compare).map(compareFromWire),
    success: list(t.success).map((op) => requestOpFromWire(op, depth)),
    failure: list(t.failure).map((op) => requestOpFromWire(op, depth)),
  };
}

export function txnRequestFromWire(t: WireInput<WireTxnRequest>): TxnRequest {
  return txnFromWireAt(t, 1);
}

export function requestOpToWire(op: RequestOp): WireRequestOp {
  if ('range' in op) return { request: 'request_range', request_range: rangeRequestToWire(op.range) };
  if ('put' in op) return { request: 'request_put', request_put: putRequestToWire(op.put) };
  if ('deleteRange' in op) return { request: 'request_delete_range', request_delete_range: deleteRangeRequestToWire(op.deleteRange) };
  return { request: 'request_txn', request_txn: txnRequestToWire(op.txn) };
}

export function txnRequestToWire(t: TxnRequest): WireTxnRequest {
  return { compare: t.compare.map(compareToWire), success: t.success.map(requestOpToWire), failure: t.failure.map(requestOpToWire) };
}

function responseOpFromWire(op: WireInput<WireResponseOp>, depth: number): ResponseOp {
  const o = op as Partial<Record<ResponseOpMember, unknown>>;
  const member = oneofMember(op, 'response', RESPONSE_MEMBERS);
  switch (member) {
    case 'response_range':
      return { range: rangeResponseFromWire(o.response_range as WireInput<WireRangeResponse>) };
    case 'response_put':
      return { put: putResponseFromWire(o.response_put as WireInput<WirePutResponse>) };
    case 'response_delete_range':
      return { deleteRange: deleteRangeResponseFromWire(o.response_delete_range as WireInput<WireDeleteRangeResponse>) };
    case 'response_txn':
      return { txn: txnResponseFromWireAt(o.response_txn as WireInput<WireTxnResponse>, depth + 1) };
    case undefined:
      throw new StoreError('STORE_ERR_KEY_NOT_FOUND', 'empty ResponseOp in txn response');
    default:
      return unreachable(member, 'ResponseOp member');
  }
}

function txnResponseFromWireAt(t: WireInput<WireTxnResponse>, depth: number): TxnResponse {
  if (depth > TXN_NESTING_DEPTH_MAX) throw new StoreError('STORE_ERR_TOO_MANY_OPS', `txn response nested deeper than ${TXN_NESTING_DEPTH_MAX}`);
  return {
    succeeded: bool(t.succeeded),
    responses: list(t.responses).map((op) => responseOpFromWire(op, depth)),
    revision: responseHeaderFromWire(t.header).revision,
  };
}

export function txnResponseFromWire(t: WireInput<WireTxnResponse>): TxnResponse {
  return txnResponseFromWireAt(t, 1);
}

function responseOpToWire(op: ResponseOp): WireResponseOp {
  if ('range' in op) return { response: 'response_range', response_range: rangeResponseToWire(op.range, NESTED) };
  if ('put' in op) return { response: 'response_put', response_put: putResponseToWire(op.put, NESTED) };
  if ('deleteRange' in op) return { response: 'response_delete_range', response_delete_range: deleteRangeResponseToWire(op.deleteRange, NESTED) };
  return { response: 'response_txn', response_txn: txnResponseToWire(op.txn, NESTED) };
}

/** Nested answers get revision-only headers (see NESTED); `h` fills the outer one. */
export function txnResponseToWire(t: TxnResponse, h: HeaderContext): WireTxnResponse {
  return {
    header: responseHeader({ ...h, revision: t.revision }),
    succeeded: t.succeeded,
    responses: t.responses.map(responseOpToWire),
  };
}

// ---------------------------------------------------------------- Compact

export function compactionRequestFromWire(r: WireInput<WireCompactionRequest>): CompactionRequest {
  return { revision: int64FromWire(r.revision, 'revision'), physical: bool(r.physical) };
}

export function compactionRequestToWire(r: CompactionRequest): WireCompactionRequest {
  return { revision: int64ToWire(r.revision), physical: r.physical };
}

export function compactionResponseFromWire(r: WireInput<WireCompactionResponse>): CompactionResponse {
  return { revision: responseHeaderFromWire(r.header).revision };
}

export function compactionResponseToWire(r: CompactionResponse, h: HeaderContext): WireCompactionResponse {
  return { header: responseHeader({ ...h, revision: r.revision }) };
}

// ---------------------------------------------------------------- Lease

export function leaseGrantRequestFromWire(r: WireInput<WireLeaseGrantRequest>): LeaseGrantRequest {
  return { ttl: int64FromWire(r.TTL, 'TTL'), id: uint64FromWire(r.ID, 'ID') };
}

export function leaseGrantRequestToWire(r: LeaseGrantRequest): WireLeaseGrantRequest {
  return { TTL: int64ToWire(r.ttl), ID: int64ToWire(r.id) };
}

export function leaseGrantResponseFromWire(r: WireInput<WireLeaseGrantResponse>): LeaseGrantResponse {
  return { id: uint64FromWire(r.ID, 'ID'), ttl: uint64FromWire(r.TTL, 'TTL'), revision: responseHeaderFromWire(r.header).revision };
}

/** `error` stays empty: skiff reports failures as gRPC status errors, as etcd does. */
export function leaseGrantResponseToWire(r: LeaseGrantResponse, h: HeaderContext): WireLeaseGrantResponse {
  return { header: responseHeader({ ...h, revision: r.revision }), ID: int64ToWire(r.id), TTL: int64ToWire(r.ttl), error: '' };
}

export function leaseRevokeRequestFromWire(r: WireInput<WireLeaseRevokeRequest>): LeaseRevokeRequest {
  return { id: uint64FromWire(r.ID, 'ID') };
}

export function leaseRevokeRequestToWire(r: LeaseRevokeRequest): WireLeaseRevokeRequest {
  return { ID: int64ToWire(r.id) };
}

export function leaseRevokeResponseFromWire(r: WireInput<WireLeaseRevokeResponse>): LeaseRevokeResponse {
  return { revision: responseHeaderFromWire(r.header).revision };
}

export function leaseRevokeResponseToWire(r: LeaseRevokeResponse, h: HeaderContext): WireLeaseRevokeResponse {
  return { header: responseHeader({ ...h, revision: r.revision }) };
}
