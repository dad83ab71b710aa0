/**
 * The etcd v3 wire layer of the store: (a) our .proto files against the
 * etcd3 npm package's copy of upstream's (field numbers, types, oneofs,
 * enums, methods, streaming flags), compared over protobufjs reflection
 * trees; (b) the conversions of src/store/api/convert.ts, round-tripped
 * through the real serializers, with their int64 and nesting limits; (c) a
 * grpc-js server answering KV.Range to the etcd3 npm client.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { Etcd3 } from 'etcd3';
import protobuf from 'protobufjs';
import {
  TXN_NESTING_DEPTH_MAX,
  compactionRequestFromWire,
  compactionRequestToWire,
  compactionResponseFromWire,
  compactionResponseToWire,
  compareFromWire,
  deleteRangeRequestFromWire,
  deleteRangeRequestToWire,
  deleteRangeResponseFromWire,
  deleteRangeResponseToWire,
  eventFromWire,
  eventToWire,
  int64FromWire,
  keyValueFromWire,
  keyValueToWire,
  leaseGrantRequestFromWire,
  leaseGrantRequestToWire,
  leaseGrantResponseFromWire,
  leaseGrantResponseToWire,
  leaseRevokeRequestFromWire,
  leaseRevokeRequestToWire,
  leaseRevokeResponseFromWire,
  leaseRevokeResponseToWire,
  putRequestFromWire,
  putRequestToWire,
  putResponseFromWire,
  putResponseToWire,
  rangeRequestFromWire,
  rangeRequestToWire,
  rangeResponseFromWire,
  rangeResponseToWire,
  responseHeader,
  txnRequestFromWire,
  txnRequestToWire,
  txnResponseFromWire,
  txnResponseToWire,
  uint64FromWire,
  type HeaderContext,
} from '../src/store/api/convert.js';
import {
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchService,
  loadEtcdClients,
  type KVHandlers,
  type WireRangeRequest,
  type WireRangeResponse,
  type WireTxnRequest,
} from '../src/store/api/proto.js';
import { GrpcCode, STORE_ERRORS, StoreError, type StoreErrorCode } from '../src/store/errors.js';
import {
  CompareResult,
  CompareTarget,
  EventType,
  SortOrder,
  SortTarget,
  type Compare,
  type KeyValue,
  type RangeRequest,
  type RequestOp,
  type TxnRequest,
  type TxnResponse,
  type WatchEvent,
} from '../src/store/types.js';

// ---------------------------------------------------------------- (a) cross-check against upstream

const require = createRequire(import.meta.url);
const UPSTREAM_RPC = require.resolve('etcd3/proto/rpc.proto');
const OUR_PROTO_ROOT = fileURLToPath(new URL('../src/store/proto/', import.meta.url));

/** Upstream methods we leave out on purpose (see the header of rpc.proto). */
const OMITTED_METHODS = new Set(['etcdserverpb.Maintenance.Downgrade']);
const OUR_SERVICES = ['KV', 'Watch', 'Lease', 'Cluster', 'Maintenance'];

function loadOurs(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : OUR_PROTO_ROOT + target);
  root.loadSync(['etcdserverpb/rpc.proto', 'mvccpb/kv.proto'], { keepCase: true });
  root.resolveAll();
  return root;
}

function loadUpstream(): protobuf.Root {
  const root = new protobuf.Root().loadSync(UPSTREAM_RPC, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Every message, enum and service under `ns`, by full name. */
function walk(ns: protobuf.NamespaceBase, out = new Map<string, protobuf.ReflectionObject>()): Map<string, protobuf.ReflectionObject> {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type || obj instanceof protobuf.Enum || obj instanceof protobuf.Service) out.set(obj.fullName, obj);
    if (obj instanceof protobuf.Namespace) walk(obj, out);
  }
  return out;
}

/** upstream's etcd3 copy renames enum values (NOT_EQUAL → NotEqual); compare spelling-insensitively. */
const norm = (name: string): string => name.replace(/_/g, '').toLowerCase();
const fieldType = (f: protobuf.Field): string => (f.resolvedType ? f.resolvedType.fullName : f.type);

function compareType(ours: protobuf.Type, up: protobuf.Type, bad: string[]): number {
  let checked = 0;
  for (const f of ours.fieldsArray) {
    const u = up.fields[f.name];
    const where = `${ours.fullName}.${f.name}`;
    if (!u) {
      bad.push(`${where}: not in upstream`);
      continue;
    }
    if (u.id !== f.id) bad.push(`${where}: number ${f.id}, upstream ${u.id}`);
    if (fieldType(u) !== fieldType(f)) bad.push(`${where}: type ${fieldType(f)}, upstream ${fieldType(u)}`);
    if (u.repeated !== f.repeated) bad.push(`${where}: repeated ${f.repeated}, upstream ${u.repeated}`);
    if ((u.partOf?.name ?? null) !== (f.partOf?.name ?? null)) bad.push(`${where}: oneof ${f.partOf?.name}, upstream ${u.partOf?.name}`);
    checked++;
  }
  for (const u of up.fieldsArray) if (!ours.fields[u.name]) bad.push(`${ours.fullName}.${u.name}: missing (upstream number ${u.id})`);
  const oneofs = (t: protobuf.Type): string[] => t.oneofsArray.map((o) => `${o.name}(${o.fieldsArray.map((x) => x.name).join(',')})`).sort();
  if (JSON.stringify(oneofs(ours)) !== JSON.stringify(oneofs(up))) bad.push(`${ours.fullName}: oneofs ${oneofs(ours)}, upstream ${oneofs(up)}`);
  return checked;
}

function compareEnum(ours: protobuf.Enum, up: protobuf.Enum, bad: string[]): number {
  const byNum = (e: protobuf.Enum): string[] => Object.entries(e.values).map(([k, v]) => `${v}=${norm(k)}`).sort();
  if (JSON.stringify(byNum(ours)) !== JSON.stringify(byNum(up))) bad.push(`${ours.fullName}: values ${byNum(ours)}, upstream ${byNum(up)}`);
  return Object.keys(ours.values).length;
}

function compareService(ours: protobuf.Service, up: protobuf.Service, bad: string[]): number {
  for (const m of up.methodsArray) {
    if (!ours.methods[m.name] && !OMITTED_METHODS.has(`${up.fullName.slice(1)}.${m.name}`)) bad.push(`${ours.fullName}.${m.name}: missing`);
  }
  for (const m of ours.methodsArray) {
    const u = up.methods[m.name];
    const where = `${ours.fullName}.${m.name}`;
    if (!u) {
      bad.push(`${where}: not in upstream`);
      continue;
    }
    const sig = (x: protobuf.Method): string =>
      `${x.requestStream ? 'stream ' : ''}${x.resolvedRequestType?.fullName} -> ${x.responseStream ? 'stream ' : ''}${x.resolvedResponseType?.fullName}`;
    if (sig(u) !== sig(m)) bad.push(`${where}: ${sig(m)}, upstream ${sig(u)}`);
  }
  return ours.methodsArray.length;
}

/** The messages and enums reachable from a service's methods (what it "uses"). */
function reachable(root: protobuf.Root, services: string[], skip: Set<string>): Set<string> {
  const seen = new Set<string>();
  const visit = (t: protobuf.Type | protobuf.Enum): void => {
    if (seen.has(t.fullName)) return;
    seen.add(t.fullName);
    if (t instanceof protobuf.Type) for (const f of t.fieldsArray) if (f.resolvedType) visit(f.resolvedType);
  };
  for (const s of services) {
    const svc = root.lookupService(`etcdserverpb.${s}`);
    for (const m of svc.methodsArray) {
      if (skip.has(`etcdserverpb.${s}.${m.name}`)) continue;
      visit(m.resolvedRequestType!);
      visit(m.resolvedResponseType!);
    }
  }
  return seen;
}

test('(a) every message, enum and service matches upstream field numbers, types and method signatures', (t) => {
  const ours = loadOurs();
  const up = loadUpstream();
  const bad: string[] = [];
  let checked = 0;
  const ourObjects = walk(ours);
  for (const [name, obj] of ourObjects) {
    const u = up.lookup(name);
    if (u === null) {
      bad.push(`${name}: not in upstream`);
    } else if (obj instanceof protobuf.Type && u instanceof protobuf.Type) {
      checked += compareType(obj, u, bad);
    } else if (obj instanceof protobuf.Enum && u instanceof protobuf.Enum) {
      checked += compareEnum(obj, u, bad);
    } else if (obj instanceof protobuf.Service && u instanceof protobuf.Service) {
      checked += compareService(obj, u, bad);
    } else {
      bad.push(`${name}: kind differs from upstream`);
    }
  }
  // Everything the five services use upstream must be defined here, and
  // nothing else (no Auth, no Downgrade, no stray messages).
  const need = reachable(up, OUR_SERVICES, OMITTED_METHODS);
  const have = new Set([...ourObjects.keys()].filter((n) => !(ourObjects.get(n) instanceof protobuf.Service)));
  for (const n of need) if (!have.has(n)) bad.push(`${n}: used by our services upstream, not defined`);
  for (const n of have) if (!need.has(n)) bad.push(`${n}: defined but not used by any of our services`);
  for (const s of OUR_SERVICES) if (!ourObjects.has(`.etcdserverpb.${s}`)) bad.push(`service ${s}: missing`);

  t.deepEqual(bad, [], bad.join('\n'));
  t.true(checked > 200, `only ${checked} fields, values and methods compared`);
  t.is(ours.lookupType('etcdserverpb.WatchResponse').fields['events']!.id, 11);
  t.is(ours.lookupType('etcdserverpb.Compare').fields['range_end']!.id, 64);
});

test('(a) the grpc-js service definitions carry the right paths and streaming flags', (t) => {
  const sig = (def: grpc.ServiceDefinition): string[] =>
    Object.values(def as Record<string, grpc.MethodDefinition<unknown, unknown>>).map(
      (m) => `${m.path} ${m.requestStream ? 'stream' : 'unary'}/${m.responseStream ? 'stream' : 'unary'}`,
    );
  t.deepEqual(sig(KVService), [
    '/etcdserverpb.KV/Range unary/unary',
    '/etcdserverpb.KV/Put unary/unary',
    '/etcdserverpb.KV/DeleteRange unary/unary',
    '/etcdserverpb.KV/Txn unary/unary',
    '/etcdserverpb.KV/Compact unary/unary',
  ]);
  t.deepEqual(sig(WatchService), ['/etcdserverpb.Watch/Watch stream/stream']);
  t.deepEqual(sig(LeaseService), [
    '/etcdserverpb.Lease/LeaseGrant unary/unary',
    '/etcdserverpb.Lease/LeaseRevoke unary/unary',
    '/etcdserverpb.Lease/LeaseKeepAlive stream/stream',
    '/etcdserverpb.Lease/LeaseTimeToLive unary/unary',
    '/etcdserverpb.Lease/LeaseLeases unary/unary',
  ]);
  t.deepEqual(sig(ClusterService), [
    '/etcdserverpb.Cluster/MemberAdd unary/unary',
    '/etcdserverpb.Cluster/MemberRemove unary/unary',
    '/etcdserverpb.Cluster/MemberUpdate unary/unary',
    '/etcdserverpb.Cluster/MemberList unary/unary',
    '/etcdserverpb.Cluster/MemberPromote unary/unary',
  ]);
  t.deepEqual(sig(MaintenanceService), [
    '/etcdserverpb.Maintenance/Alarm unary/unary',
    '/etcdserverpb.Maintenance/Status unary/unary',
    '/etcdserverpb.Maintenance/Defragment unary/unary',
    '/etcdserverpb.Maintenance/Hash unary/unary',
    '/etcdserverpb.Maintenance/HashKV unary/unary',
    '/etcdserverpb.Maintenance/Snapshot unary/stream',
    '/etcdserverpb.Maintenance/MoveLeader unary/unary',
  ]);
});

test('(a) the upstream error table in errors.ts keeps etcd codes and messages', (t) => {
  // Spot checks of entries clients match on; the full table was verified by
  // hand against api/v3rpc/rpctypes/error.go (v3.4.45, v3.5.33).
  t.deepEqual(STORE_ERRORS.STORE_ERR_COMPACTED, [GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision has been compacted']);
  t.deepEqual(STORE_ERRORS.STORE_ERR_LEASE_NOT_FOUND, [GrpcCode.NotFound, 'etcdserver: requested lease not found']);
  t.deepEqual(STORE_ERRORS.STORE_ERR_NOT_LEADER, [GrpcCode.FailedPrecondition, 'etcdserver: not leader']);
  t.deepEqual(STORE_ERRORS.STORE_ERR_NO_LEADER, [GrpcCode.Unavailable, 'etcdserver: no leader']);
});

// ---------------------------------------------------------------- (b) conversions

const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);
const HDR: HeaderContext = { clusterId: 0x1234_5678_9abc, memberId: 42, raftTerm: 7 };

/** Through the real serializer and deserializer of one method's request or response. */
function viaWire<T>(def: grpc.ServiceDefinition, method: string, side: 'request' | 'response', msg: T): unknown {
  const m = (def as Record<string, grpc.MethodDefinition<unknown, unknown>>)[method]!;
  return side === 'request' ? m.requestDeserialize(m.requestSerialize(msg)) : m.responseDeserialize(m.responseSerialize(msg));
}

function storeError(t: ExecutionContext, fn: () => unknown, code: StoreErrorCode): void {
  const e = t.throws(fn, { instanceOf: StoreError });
  t.is(e?.code, code);
  t.is(e?.message, STORE_ERRORS[code][1]);
  t.is(e?.grpcCode, STORE_ERRORS[code][0]);
}

const kv = (key: string, rev: number, value = 'v', lease = 0): KeyValue => ({
  key: b(key),
  createRevision: rev - 1,
  modRevision: rev,
  version: 2,
  value: b(value),
  lease,
});

const fullRange: RangeRequest = {
  key: b('/registry/pods/'),
  rangeEnd: b('/registry/pods0'),
  limit: 500,
  revision: 9_007_199_254_740_991,
  sortOrder: SortOrder.Descend,
  sortTarget: SortTarget.Mod,
  serializable: true,
  keysOnly: true,
  countOnly: false,
  minModRevision: 1,
  maxModRevision: 2,
  minCreateRevision: 3,
  maxCreateRevision: 4,
};

const compares: Compare[] = [
  { result: CompareResult.Equal, target: CompareTarget.Version, key: b('a'), rangeEnd: new Uint8Array(), version: 3, createRevision: 0, modRevision: 0, value: new Uint8Array(), lease: 0 },
  { result: CompareResult.Greater, target: CompareTarget.Create, key: b('a'), rangeEnd: b('b'), version: 0, createRevision: 5, modRevision: 0, value: new Uint8Array(), lease: 0 },
  { result: CompareResult.Less, target: CompareTarget.Mod, key: b('a'), rangeEnd: new Uint8Array(), version: 0, createRevision: 0, modRevision: 6, value: new Uint8Array(), lease: 0 },
  { result: CompareResult.NotEqual, target: CompareTarget.Value, key: b('a'), rangeEnd: new Uint8Array(), version: 0, createRevision: 0, modRevision: 0, value: b('x'), lease: 0 },
  { result: CompareResult.Equal, target: CompareTarget.Lease, key: b('a'), rangeEnd: new Uint8Array(), version: 0, createRevision: 0, modRevision: 0, value: new Uint8Array(), lease: 77 },
];

const nestedTxn: TxnRequest = {
  compare: compares,
  success: [
    { range: fullRange },
    { put: { key: b('k'), value: b('v'), lease: 12, prevKv: true, ignoreValue: false, ignoreLease: false } },
    {
      txn: {
        compare: [compares[2]!],
        success: [{ deleteRange: { key: b('d'), rangeEnd: b('e'), prevKv: true } }],
        failure: [{ txn: { compare: [], success: [{ put: { key: b('deep'), value: b(''), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: true } }], failure: [] } }],
      },
    },
  ],
  failure: [{ deleteRange: { key: b('z'), rangeEnd: new Uint8Array(), prevKv: false } }],
};

const nestedTxnResponse: TxnResponse = {
  succeeded: true,
  revision: 41,
  responses: [
    { range: { kvs: [kv('a', 3), kv('b', 4, 'w', 9)], more: true, count: 10, revision: 41 } },
    { put: { prevKv: kv('k', 2), revision: 41 } },
    {
      txn: {
        succeeded: false,
        revision: 41,
        responses: [{ txn: { succeeded: true, revision: 41, responses: [{ put: { prevKv: null, revision: 41 } }] } }],
      },
    },
    { deleteRange: { deleted: 2, prevKvs: [kv('d', 5)], revision: 41 } },
  ],
};

test('(b) KV requests and answers survive plain → wire → bytes → wire → plain', (t) => {
  t.deepEqual(rangeRequestFromWire(viaWire(KVService, 'Range', 'request', rangeRequestToWire(fullRange)) as WireRangeRequest), fullRange);
  const rr = { kvs: [kv('a', 3), kv('b', 4, '', 5)], more: false, count: 2, revision: 8 };
  t.deepEqual(rangeResponseFromWire(viaWire(KVService, 'Range', 'response', rangeResponseToWire(rr, HDR)) as WireRangeResponse), rr);

  const put = { key: b('k'), value: b('v'), lease: 9_007_199_254_740_991, prevKv: true, ignoreValue: false, ignoreLease: false };
  t.deepEqual(putRequestFromWire(viaWire(KVService, 'Put', 'request', putRequestToWire(put)) as never), put);
  for (const pr of [{ prevKv: null, revision: 3 }, { prevKv: kv('k', 2), revision: 3 }]) {
    t.deepEqual(putResponseFromWire(viaWire(KVService, 'Put', 'response', putResponseToWire(pr, HDR)) as never), pr);
  }

  const del = { key: b('a'), rangeEnd: new Uint8Array([0]), prevKv: true };
  t.deepEqual(deleteRangeRequestFromWire(viaWire(KVService, 'DeleteRange', 'request', deleteRangeRequestToWire(del)) as never), del);
  const dr = { deleted: 2, prevKvs: [kv('a', 3), kv('b', 4)], revision: 5 };
  t.deepEqual(deleteRangeResponseFromWire(viaWire(KVService, 'DeleteRange', 'response', deleteRangeResponseToWire(dr, HDR)) as never), dr);

  const cr = { revision: 100, physical: true };
  t.deepEqual(compactionRequestFromWire(viaWire(KVService, 'Compact', 'request', compactionRequestToWire(cr)) as never), cr);
  t.deepEqual(compactionResponseFromWire(viaWire(KVService, 'Compact', 'response', compactionResponseToWire({ revision: 100 }, HDR)) as never), { revision: 100 });
});

test('(b) nested txn requests and answers round-trip, with every compare target', (t) => {
  const wire = viaWire(KVService, 'Txn', 'request', txnRequestToWire(nestedTxn)) as WireTxnRequest;
  t.deepEqual(txnRequestFromWire(wire), nestedTxn);
  // The oneofs are on the wire as upstream has them.
  t.deepEqual(wire.compare.map((c) => c.target_union), ['version', 'create_revision', 'mod_revision', 'value', 'lease']);
  t.deepEqual(wire.success.map((op) => op.request), ['request_range', 'request_put', 'request_txn']);

  const out = txnResponseToWire(nestedTxnResponse, HDR);
  t.deepEqual(txnResponseFromWire(viaWire(KVService, 'Txn', 'response', out) as never), nestedTxnResponse);
  // Only the outer header names the member; nested ones carry the revision alone, as etcd's do.
  t.deepEqual(out.header, { cluster_id: String(HDR.clusterId), member_id: '42', revision: '41', raft_term: '7' });
  const inner = out.responses[0]!;
  t.true(inner.response === 'response_range' && inner.response_range.header?.member_id === '0' && inner.response_range.header.revision === '41');
});

test('(b) bytes from the wire become plain Uint8Arrays', (t) => {
  const w = viaWire(KVService, 'Put', 'request', putRequestToWire({ key: b('k'), value: b('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false }));
  t.true(Buffer.isBuffer((w as { key: unknown }).key));
  const plain = putRequestFromWire(w as never);
  t.is(Object.getPrototypeOf(plain.key), Uint8Array.prototype);
  t.is(Object.getPrototypeOf(plain.value), Uint8Array.prototype);
});

test('(b) KeyValue and mvccpb.Event (PUT and DELETE) round-trip inside a WatchResponse', (t) => {
  const events: WatchEvent[] = [
    { type: EventType.Put, kv: kv('a', 3), prevKv: kv('a', 2, 'old') },
    { type: EventType.Delete, kv: { key: b('a'), createRevision: 0, modRevision: 4, version: 0, value: new Uint8Array(), lease: 0 }, prevKv: null },
  ];
  const w = viaWire(WatchService, 'Watch', 'response', { header: responseHeader({ ...HDR, revision: 4 }), events: events.map(eventToWire) }) as {
    events: Parameters<typeof eventFromWire>[0][];
  };
  t.deepEqual(w.events.map(eventFromWire), events);
  t.deepEqual(
    w.events.map((e) => e.type),
    [0, 1],
  );
  t.deepEqual(keyValueFromWire(keyValueToWire(kv('x', 9, 'y', 3))), kv('x', 9, 'y', 3));
});

test('(b) lease grant and revoke round-trip', (t) => {
  const g = { ttl: 60, id: 0x1f_ffff_ffff_ffff };
  t.deepEqual(leaseGrantRequestFromWire(viaWire(LeaseService, 'LeaseGrant', 'request', leaseGrantRequestToWire(g)) as never), g);
  const gr = { id: 123, ttl: 60, revision: 5 };
  const grWire = leaseGrantResponseToWire(gr, HDR);
  t.is(grWire.error, '');
  t.deepEqual(leaseGrantResponseFromWire(viaWire(LeaseService, 'LeaseGrant', 'response', grWire) as never), gr);
  t.deepEqual(leaseRevokeRequestFromWire(viaWire(LeaseService, 'LeaseRevoke', 'request', leaseRevokeRequestToWire({ id: 123 })) as never), { id: 123 });
  t.deepEqual(leaseRevokeResponseFromWire(viaWire(LeaseService, 'LeaseRevoke', 'response', leaseRevokeResponseToWire({ revision: 6 }, HDR)) as never), { revision: 6 });
});

test('(b) absent fields take proto3 defaults', (t) => {
  t.deepEqual(rangeRequestFromWire({}), {
    key: new Uint8Array(),
    rangeEnd: new Uint8Array(),
    limit: 0,
    revision: 0,
    sortOrder: SortOrder.None,
    sortTarget: SortTarget.Key,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
  });
  t.deepEqual(putRequestFromWire({ key: Buffer.from('k') }), { key: b('k'), value: new Uint8Array(), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false });
  t.deepEqual(txnRequestFromWire({}), { compare: [], success: [], failure: [] });
  t.deepEqual(rangeResponseFromWire({}), { kvs: [], more: false, count: 0, revision: 0 });
  t.deepEqual(leaseGrantRequestFromWire(viaWire(LeaseService, 'LeaseGrant', 'request', {}) as never), { ttl: 0, id: 0 });
  // A Compare without an operand compares against zero.
  t.is(compareFromWire({ target: CompareTarget.Version, key: Buffer.from('a') }).version, 0);
  // An operand in the wrong member stays where it was sent: the target's own operand is zero (upstream's reading).
  const odd = compareFromWire({ target: CompareTarget.Version, key: Buffer.from('a'), target_union: 'mod_revision', mod_revision: '7' });
  t.is(odd.version, 0);
  t.is(odd.modRevision, 7);
  // A delete event's kv may be absent on the wire: it becomes an empty KeyValue.
  t.deepEqual(eventFromWire({ type: 1, kv: null, prev_kv: null }).kv, keyValueFromWire(null));
});

test('(b) int64 boundaries: safe integers pass, anything else is STORE_ERR_INT64_RANGE', (t) => {
  const max = Number.MAX_SAFE_INTEGER;
  t.is(int64FromWire(String(max)), max);
  t.is(int64FromWire(String(-max)), -max);
  t.is(int64FromWire('0'), 0);
  t.is(int64FromWire(undefined), 0);
  t.is(uint64FromWire(String(max)), max);
  for (const v of ['9007199254740992', '-9007199254740992', '9223372036854775807', '-9223372036854775808', '18446744073709551615', '1e3', '12abc', ' 1']) {
    storeError(t, () => int64FromWire(v), 'STORE_ERR_INT64_RANGE');
  }
  storeError(t, () => uint64FromWire('-1'), 'STORE_ERR_INT64_RANGE');
  t.is(STORE_ERRORS.STORE_ERR_INT64_RANGE[0], GrpcCode.InvalidArgument);

  // Through a real decode: proto-loader hands 2^53+1 over exactly, as a string; the conversion refuses it.
  const big = viaWire(KVService, 'Put', 'request', { key: Buffer.from('k'), lease: '9007199254740993' }) as { lease: string };
  t.is(big.lease, '9007199254740993');
  storeError(t, () => putRequestFromWire(big as never), 'STORE_ERR_INT64_RANGE');
  // An int64 wrapped to negative (e.g. a uint64 id ≥ 2^63 sent by a client) is refused as a lease id.
  storeError(t, () => leaseRevokeRequestFromWire(viaWire(LeaseService, 'LeaseRevoke', 'request', { ID: '-1' }) as never), 'STORE_ERR_INT64_RANGE');
  // Negative where upstream gives it a meaning: kept.
  t.is(rangeRequestFromWire(viaWire(KVService, 'Range', 'request', { key: Buffer.from('k'), revision: '-1', limit: '-5' }) as never).revision, -1);
  t.is(leaseGrantRequestFromWire({ TTL: '-3' }).ttl, -3);
  // Negative revisions in an answer, or a nested overflow, are refused wherever they sit.
  storeError(t, () => keyValueFromWire({ key: Buffer.from('k'), mod_revision: '-2' }), 'STORE_ERR_INT64_RANGE');
  const deepBig: WireTxnRequest = {
    compare: [],
    success: [{ request: 'request_txn', request_txn: { compare: [], success: [{ request: 'request_range', request_range: { ...rangeRequestToWire(fullRange), limit: '9007199254740992' } }], failure: [] } }],
    failure: [],
  };
  storeError(t, () => txnRequestFromWire(deepBig), 'STORE_ERR_INT64_RANGE');
});

test('(b) an empty RequestOp and over-deep txn nesting are refused like upstream', (t) => {
  storeError(t, () => txnRequestFromWire(viaWire(KVService, 'Txn', 'request', { success: [{}] }) as never), 'STORE_ERR_KEY_NOT_FOUND');
  const nest = (depth: number): TxnRequest => {
    let txn: TxnRequest = { compare: [], success: [], failure: [] };
    for (let i = 1; i < depth; i++) txn = { compare: [], success: [{ txn } as RequestOp], failure: [] };
    return txn;
  };
  const ok = nest(TXN_NESTING_DEPTH_MAX);
  t.deepEqual(txnRequestFromWire(txnRequestToWire(ok)), ok);
  storeError(t, () => txnRequestFromWire(txnRequestToWire(nest(TXN_NESTING_DEPTH_MAX + 1))), 'STORE_ERR_TOO_MANY_OPS');
  // On the wire protobufjs stops first: 100 message levels, two per txn level.
  const wireOk = nest(50);
  t.deepEqual(txnRequestFromWire(viaWire(KVService, 'Txn', 'request', txnRequestToWire(wireOk)) as never), wireOk);
  t.throws(() => viaWire(KVService, 'Txn', 'request', txnRequestToWire(nest(52))), { message: /depth/ });
});

// ---------------------------------------------------------------- (c) a real etcd client on the wire

test('(c) the etcd3 npm client reads a key from a grpc-js server built on our definitions', async (t) => {
  const seen: WireRangeRequest[] = [];
  const handlers: KVHandlers = {
    Range: (call, callback) => {
      seen.push(call.request);
      const value = { key: b('foo'), createRevision: 2, modRevision: 3, version: 2, value: b('bar'), lease: 0 };
      callback(null, rangeResponseToWire({ kvs: [value], more: false, count: 1, revision: 3 }, HDR));
    },
    Put: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
    DeleteRange: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
    Txn: (call, callback) => callback(null, txnResponseToWire({ succeeded: call.request.compare.length === 0, responses: [], revision: 3 }, HDR)),
    Compact: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
  };
  const server = new grpc.Server();
  server.addService(KVService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new Etcd3({ hosts: `127.0.0.1:${port}` });
  const ours = loadEtcdClients(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    t.is(await client.get('foo').string(), 'bar');
    t.is(seen.length, 1);
    t.is(Buffer.from(seen[0]!.key).toString(), 'foo');
    t.is(seen[0]!.range_end.length, 0);

    // The typed client speaks the same wire: a Range and a nested Txn.
    const range = await new Promise<WireRangeResponse>((resolve, reject) =>
      ours.kv.Range({ key: Buffer.from('foo') }, (err, res) => (err || !res ? reject(err) : resolve(res))),
    );
    t.deepEqual(rangeResponseFromWire(range).kvs.map((x) => new TextDecoder().decode(x.value)), ['bar']);
    t.is(range.header?.cluster_id, String(HDR.clusterId));
    const txn = await new Promise<TxnResponse>((resolve, reject) =>
      ours.kv.Txn(txnRequestToWire({ compare: [], success: nestedTxn.success, failure: [] }), (err, res) =>
        err || !res ? reject(err) : resolve(txnResponseFromWire(res)),
      ),
    );
    t.deepEqual(txn, { succeeded: true, responses: [], revision: 3 });
  } finally {
    ours.close();
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
});
