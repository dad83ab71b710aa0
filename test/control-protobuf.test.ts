import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  decodeKubeProtobuf,
  isKubeProtobufError,
  isSupportedKind,
  KUBE_PROTOBUF_CONTENT_TYPE,
  KUBE_PROTOBUF_ERRORS,
  KUBE_PROTOBUF_MAGIC,
  KubeProtobufError,
  SUPPORTED_KINDS,
  type JsonObject,
  type JsonValue,
  type KubeProtobufErrorCode,
} from '../src/control/apiserver/protobuf/index.js';
import { createCA } from '../src/control/pki/index.js';
import { Prng } from '../src/util/index.js';

// ---------------------------------------------------------------------------
// A protobuf writer for building bodies by hand. Each helper returns the bytes
// of one field (tag included), so a message is the concatenation of fields.

type Bytes = number[];

function varint(value: number | bigint): Bytes {
  // int64 semantics: negative values are their 64-bit two's complement.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: Bytes = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const tagOf = (field: number, wireType: number): Bytes => varint((field << 3) | wireType);
/** A varint field (int32, int64, bool). */
const vf = (field: number, value: number | bigint | boolean): Bytes => [...tagOf(field, 0), ...varint(typeof value === 'boolean' ? (value ? 1 : 0) : value)];
/** A length-delimited field from raw bytes. */
const lf = (field: number, payload: Bytes | Uint8Array): Bytes => [...tagOf(field, 2), ...varint(payload.length), ...payload];
/** A string field. */
const sf = (field: number, text: string): Bytes => lf(field, [...Buffer.from(text, 'utf8')]);
/** A nested message field from its fields. */
const mf = (field: number, ...fields: Bytes[]): Bytes => lf(field, fields.flat());
/** A map<string, V> entry whose value is already encoded as field 2. */
const entry = (field: number, key: string, value: Bytes): Bytes => mf(field, sf(1, key), value);
/** metav1.Time / MicroTime. */
const time = (field: number, seconds: number, nanos = 0): Bytes => mf(field, vf(1, seconds), ...(nanos === 0 ? [] : [vf(2, nanos)]));
/** IntOrString as an int or a string. */
const intOrString = (field: number, value: number | string): Bytes =>
  typeof value === 'number' ? mf(field, vf(1, 0), vf(2, value)) : mf(field, vf(1, 1), sf(3, value));
const quantity = (field: number, text: string): Bytes => mf(field, sf(1, text));

/** The whole body: magic, then runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""} as kubectl writes it. */
function body(apiVersion: string, kind: string, raw: Bytes, extra: Bytes = []): Uint8Array {
  return Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, apiVersion), sf(2, kind)), ...lf(2, raw), ...sf(3, ''), ...sf(4, ''), ...extra]);
}

const meta = (...fields: Bytes[]): Bytes => mf(1, ...fields);

function expectError(t: ExecutionContext, input: Uint8Array, code: KubeProtobufErrorCode, path?: string): KubeProtobufError {
  const e = t.throws(() => decodeKubeProtobuf(input), { instanceOf: KubeProtobufError });
  t.is(e.code, code, e.message);
  t.is(e.httpStatus, KUBE_PROTOBUF_ERRORS[code][0]);
  if (path !== undefined) t.is(e.path, path);
  return e;
}

// ---------------------------------------------------------------------------
// The envelope.

test('envelope: a Namespace body decodes to kind, apiVersion and the object', (t) => {
  const raw = [...meta(sf(1, 'x'), sf(2, ''), vf(7, 0), mf(8)), ...mf(2), ...mf(3, sf(1, ''))];
  t.deepEqual(decodeKubeProtobuf(body('v1', 'Namespace', raw)), { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'x' }, spec: {}, status: {} });
});

test('envelope: a missing raw is an object with TypeMeta only', (t) => {
  const input = Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, 'v1'), sf(2, 'ConfigMap'))]);
  t.deepEqual(decodeKubeProtobuf(input), { kind: 'ConfigMap', apiVersion: 'v1' });
});

test('envelope: every supported kind decodes from an empty raw, others are refused with 415', (t) => {
  t.true(SUPPORTED_KINDS.length >= 20);
  for (const { apiVersion, kind } of SUPPORTED_KINDS) {
    t.true(isSupportedKind(apiVersion, kind));
    t.deepEqual(decodeKubeProtobuf(body(apiVersion, kind, [])), { kind, apiVersion });
  }
  for (const [apiVersion, kind] of [
    ['scheduling.k8s.io/v1', 'PriorityClass'],
    ['apps/v1beta1', 'Deployment'],
    ['v1', 'PersistentVolume'],
    ['v1', 'toString'],
    ['__proto__', 'Pod'],
  ] as const) {
    t.false(isSupportedKind(apiVersion, kind));
    const e = expectError(t, body(apiVersion, kind, []), 'KUBE_PROTOBUF_ERR_UNSUPPORTED_KIND');
    t.is(e.reason, 'UnsupportedMediaType');
  }
});

test('envelope: wrong or missing magic, empty bodies and a missing kind', (t) => {
  for (const input of [[], [0x6b, 0x38, 0x73], [0x6b, 0x38, 0x73, 0x01, 0x0a, 0x00], [...Buffer.from('{"kind":"Pod"}')]]) {
    const e = expectError(t, Uint8Array.from(input), 'KUBE_PROTOBUF_ERR_NOT_PROTOBUF');
    t.is(e.reason, 'BadRequest');
  }
  expectError(t, Uint8Array.from(KUBE_PROTOBUF_MAGIC), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, 'v1'))]), 'KUBE_PROTOBUF_ERR_MALFORMED');
});

test('envelope: a content encoding or foreign content type is 415', (t) => {
  const gzip = Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, 'v1'), sf(2, 'Pod')), ...sf(3, 'gzip')]);
  expectError(t, gzip, 'KUBE_PROTOBUF_ERR_UNSUPPORTED_ENCODING');
  const json = Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, 'v1'), sf(2, 'Pod')), ...sf(4, 'application/json')]);
  expectError(t, json, 'KUBE_PROTOBUF_ERR_UNSUPPORTED_ENCODING');
  const proto = Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, 'v1'), sf(2, 'Pod')), ...sf(4, KUBE_PROTOBUF_CONTENT_TYPE)]);
  t.deepEqual(decodeKubeProtobuf(proto), { kind: 'Pod', apiVersion: 'v1' });
});

test('envelope: unknown fields in runtime.Unknown and runtime.TypeMeta are refused', (t) => {
  expectError(t, body('v1', 'Pod', [], vf(5, 1)), 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD');
  const e = expectError(t, Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...mf(1, sf(1, 'v1'), sf(2, 'Pod'), sf(3, 'x'))]), 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD');
  t.regex(e.message, /runtime\.TypeMeta/);
});

test('envelope: a body over the size limit is 413', (t) => {
  const input = body('v1', 'ConfigMap', entry(2, 'k', sf(2, 'x'.repeat(100))));
  const e = t.throws(() => decodeKubeProtobuf(input, { maxBodyBytes: 64 }), { instanceOf: KubeProtobufError });
  t.is(e.code, 'KUBE_PROTOBUF_ERR_TOO_LARGE');
  t.is(e.httpStatus, 413);
});

// ---------------------------------------------------------------------------
// The wire format: varints, lengths, wire types, field numbers.

/** A ReplicaSet whose metadata carries one varint field: generation (7, int64) or deletionGracePeriodSeconds (10, *int64). */
const withInt64 = (field: number, value: Bytes): Uint8Array => body('apps/v1', 'ReplicaSet', meta([...tagOf(field, 0), ...value]));
/** A ReplicaSet whose spec.replicas (1, *int32) is the given varint. */
const withInt32 = (value: Bytes): Uint8Array => body('apps/v1', 'ReplicaSet', mf(2, [...tagOf(1, 0), ...value]));

const readInt64 = (value: Bytes): JsonValue | undefined => (decodeKubeProtobuf(withInt64(10, value)).metadata as JsonObject).deletionGracePeriodSeconds;
const readInt32 = (value: Bytes): JsonValue | undefined => (decodeKubeProtobuf(withInt32(value)).spec as JsonObject).replicas;

test('wire: int64 varints up to ±(2^53 − 1), negatives in ten bytes', (t) => {
  const cases: [number | bigint, number][] = [
    [0, 0],
    [1, 1],
    [127, 127],
    [128, 128],
    [300, 300],
    [2 ** 31, 2 ** 31],
    [2 ** 32, 2 ** 32],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [-1, -1],
    [-(2 ** 31), -(2 ** 31)],
    [-(2 ** 32), -(2 ** 32)],
    [-Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
  ];
  for (const [input, expected] of cases) t.is(readInt64(varint(input)), expected, `int64 ${input}`);
  t.is(varint(-1).length, 10);
  // A non-minimal encoding is still valid protobuf.
  t.is(readInt64([0x81, 0x80, 0x80, 0x00]), 1);
});

test('wire: int64 beyond 2^53 is malformed rather than rounded', (t) => {
  for (const v of [2n ** 53n, 2n ** 63n - 1n, -(2n ** 53n), -(2n ** 63n)]) {
    const e = expectError(t, withInt64(10, varint(v)), 'KUBE_PROTOBUF_ERR_MALFORMED', 'metadata.deletionGracePeriodSeconds');
    t.regex(e.message, /2\^53/);
  }
});

test('wire: varints longer than 10 bytes or wider than 64 bits are malformed', (t) => {
  expectError(t, withInt64(10, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, withInt64(10, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, withInt64(10, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 'KUBE_PROTOBUF_ERR_MALFORMED');
});

test('wire: int32 takes sign-extended negatives and refuses values outside its range', (t) => {
  t.is(readInt32(varint(0)), 0);
  t.is(readInt32(varint(2 ** 31 - 1)), 2 ** 31 - 1);
  t.is(readInt32(varint(-1)), -1);
  t.is(readInt32(varint(-(2 ** 31))), -(2 ** 31));
  expectError(t, withInt32(varint(2 ** 31)), 'KUBE_PROTOBUF_ERR_MALFORMED', 'spec.replicas');
  expectError(t, withInt32(varint(2 ** 32 - 1)), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, withInt32(varint(-(2 ** 31) - 1)), 'KUBE_PROTOBUF_ERR_MALFORMED');
});

test('wire: truncated input is malformed wherever it is cut', (t) => {
  const full = body('v1', 'ConfigMap', [...meta(sf(1, 'c'), vf(7, 300)), ...entry(2, 'a', sf(2, 'b'))]);
  // Every strict prefix that still has the magic either fails or is a shorter
  // valid message; none may throw anything but a KubeProtobufError, and cuts
  // inside a field must fail.
  let failures = 0;
  for (let n = KUBE_PROTOBUF_MAGIC.length; n < full.length; n++) {
    try {
      decodeKubeProtobuf(full.subarray(0, n));
    } catch (e) {
      t.true(isKubeProtobufError(e), String(e));
      failures++;
    }
  }
  t.true(failures > full.length / 2);
  // A length that runs past its message, a varint cut short.
  const e = expectError(t, Uint8Array.from([...KUBE_PROTOBUF_MAGIC, ...tagOf(2, 2), 50, 1, 2, 3]), 'KUBE_PROTOBUF_ERR_MALFORMED');
  t.is(e.offset, 5);
  expectError(t, withInt64(10, [0x80, 0x80]), 'KUBE_PROTOBUF_ERR_MALFORMED');
  // A nested length longer than its parent's.
  expectError(t, body('v1', 'ConfigMap', [...tagOf(1, 2), 10, ...sf(1, 'c')]), 'KUBE_PROTOBUF_ERR_MALFORMED');
});

test('wire: unknown field numbers are refused, with the message name and path', (t) => {
  const e1 = expectError(t, body('v1', 'ConfigMap', meta(sf(1, 'c'), sf(99, 'x'))), 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', 'metadata');
  t.regex(e1.message, /unknown field number 99 \(length-delimited\) in k8s\.io\.apimachinery\.pkg\.apis\.meta\.v1\.ObjectMeta \(at metadata\)/);
  const pod = body('v1', 'Pod', mf(2, mf(2, sf(1, 'a')), mf(2, sf(1, 'b'), mf(6, vf(3, 80)), mf(6, vf(3, 81), vf(42, 1)))));
  const e2 = expectError(t, pod, 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', 'spec.containers[1].ports[1]');
  t.regex(e2.message, /k8s\.io\.api\.core\.v1\.ContainerPort/);
  // In special types and map entries too.
  expectError(t, body('v1', 'ConfigMap', meta(mf(8, vf(1, 5), vf(3, 1)))), 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', 'metadata.creationTimestamp');
  expectError(t, body('v1', 'ConfigMap', mf(2, sf(1, 'k'), sf(2, 'v'), sf(3, 'x'))), 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', 'data');
});

test('wire: a wrong wire type, field number 0 and groups are malformed', (t) => {
  expectError(t, body('v1', 'ConfigMap', meta(vf(1, 5))), 'KUBE_PROTOBUF_ERR_MALFORMED', 'metadata.name');
  expectError(t, body('v1', 'ConfigMap', meta(sf(7, 'x'))), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, body('v1', 'ConfigMap', meta([...tagOf(1, 5), 0, 0, 0, 0])), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, body('v1', 'ConfigMap', meta([...tagOf(14, 3)])), 'KUBE_PROTOBUF_ERR_MALFORMED');
  expectError(t, body('v1', 'ConfigMap', meta([0x00, 0x00])), 'KUBE_PROTOBUF_ERR_MALFORMED');
});

test('wire: nesting beyond the depth limit is refused', (t) => {
  const deep = body('v1', 'Pod', mf(2, mf(2, mf(15, mf(3, sf(1, 'u'))))));
  t.notThrows(() => decodeKubeProtobuf(deep, { maxDepth: 5 }));
  const e = t.throws(() => decodeKubeProtobuf(deep, { maxDepth: 4 }), { instanceOf: KubeProtobufError });
  t.is(e.code, 'KUBE_PROTOBUF_ERR_TOO_DEEP');
});

// ---------------------------------------------------------------------------
// Conversion to Kubernetes JSON.

test('json: zero scalars follow Go JSON: omitempty values drop, pointers and required fields stay', (t) => {
  const raw = [
    ...meta(sf(1, 'd'), sf(2, ''), sf(3, ''), vf(7, 0), vf(10, 0)),
    ...mf(2, vf(1, 0), vf(5, 0), vf(7, false), mf(3, mf(1), mf(2, mf(2, sf(1, ''), mf(6, vf(3, 0)), vf(16, false))))),
  ];
  t.deepEqual(decodeKubeProtobuf(body('apps/v1', 'Deployment', raw)), {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    // generateName, namespace (""), generation (0) are omitempty; deletionGracePeriodSeconds is a pointer.
    metadata: { name: 'd', deletionGracePeriodSeconds: 0 },
    // replicas is *int32; minReadySeconds and paused are omitempty.
    spec: { replicas: 0, template: { metadata: {}, spec: { containers: [{ name: '', ports: [{ containerPort: 0 }] }] } } },
  });
});

test('json: repeated fields append, a repeated single field keeps the last value, messages merge', (t) => {
  const raw = [...meta(sf(1, 'first'), sf(14, 'a'), mf(11, sf(1, 'x'), sf(2, '1'))), ...meta(sf(1, 'second'), sf(14, 'b'), mf(11, sf(1, 'x'), sf(2, '2')), mf(11, sf(1, 'y')))];
  t.deepEqual(decodeKubeProtobuf(body('v1', 'ServiceAccount', raw)).metadata, { name: 'second', finalizers: ['a', 'b'], labels: { x: '2', y: '' } });
});

test('json: packed and unpacked repeated varints both decode', (t) => {
  const unpacked = mf(2, mf(14, vf(4, 1), vf(4, 2)));
  const packed = mf(2, mf(14, lf(4, [...varint(3), ...varint(300), ...varint(-1)])));
  const groups = (raw: Bytes): JsonValue | undefined => (((decodeKubeProtobuf(body('v1', 'Pod', raw)).spec as JsonObject).securityContext as JsonObject).supplementalGroups);
  t.deepEqual(groups(unpacked), [1, 2]);
  t.deepEqual(groups(packed), [3, 300, -1]);
  t.deepEqual(groups([...unpacked, ...packed]), [1, 2, 3, 300, -1]);
});

test('json: times are RFC 3339 in UTC; zero and empty times are absent; MicroTime has six digits', (t) => {
  const ev = (fields: Bytes): JsonObject => decodeKubeProtobuf(body('v1', 'Event', fields));
  t.deepEqual(ev([...time(6, 1767323045), ...time(7, 0, 999_999_999)]), { kind: 'Event', apiVersion: 'v1', firstTimestamp: '2026-01-02T03:04:05Z', lastTimestamp: '1970-01-01T00:00:00Z' });
  t.deepEqual(ev([...mf(6), ...time(7, -62135596800)]), { kind: 'Event', apiVersion: 'v1' });
  t.is(ev(time(10, 1767323045, 123_456_789)).eventTime, '2026-01-02T03:04:05.123456Z');
  t.is(ev(time(10, 1767323045)).eventTime, '2026-01-02T03:04:05.000000Z');
  t.deepEqual(ev(mf(11, vf(1, 2), time(2, 0, 1000))).series, { count: 2, lastObservedTime: '1970-01-01T00:00:00.000001Z' });
  t.is(ev(time(6, 253402300799)).firstTimestamp, '9999-12-31T23:59:59Z');
  t.is(ev(time(6, -62167219200)).firstTimestamp, '0000-01-01T00:00:00Z');
  expectError(t, body('v1', 'Event', time(6, 253402300800)), 'KUBE_PROTOBUF_ERR_MALFORMED', 'firstTimestamp');
  const lease = decodeKubeProtobuf(body('coordination.k8s.io/v1', 'Lease', mf(2, sf(1, 'node-a'), vf(2, 40), time(4, 1767323045, 5_000), vf(5, 0))));
  t.deepEqual(lease.spec, { holderIdentity: 'node-a', leaseDurationSeconds: 40, renewTime: '2026-01-02T03:04:05.000005Z', leaseTransitions: 0 });
});

test('json: IntOrString becomes a number or a string; other types are malformed', (t) => {
  const port = (ios: Bytes): JsonValue | undefined => (((decodeKubeProtobuf(body('v1', 'Service', mf(2, mf(1, vf(3, 80), ios)))).spec as JsonObject).ports as JsonObject[])[0]!.targetPort);
  t.is(port(intOrString(4, 8080)), 8080);
  t.is(port(intOrString(4, 'http')), 'http');
  t.is(port(mf(4)), 0);
  t.is(port(mf(4, vf(1, 1))), '');
  expectError(t, body('v1', 'Service', mf(2, mf(1, mf(4, vf(1, 2))))), 'KUBE_PROTOBUF_ERR_MALFORMED', 'spec.ports[0].targetPort');
});

test('json: quantities are strings, checked against the quantity grammar', (t) => {
  const hard = (q: Bytes): JsonValue | undefined => (decodeKubeProtobuf(body('v1', 'ResourceQuota', mf(2, q))).spec as JsonObject).hard;
  t.deepEqual(hard([...entry(1, 'cpu', quantity(2, '500m')), ...entry(1, 'memory', quantity(2, '1Gi')), ...entry(1, 'pods', quantity(2, '10')), ...entry(1, 'x', quantity(2, '1e3')), ...entry(1, 'zero', mf(2))]), {
    cpu: '500m',
    memory: '1Gi',
    pods: '10',
    x: '1e3',
    zero: '0',
  });
  for (const bad of ['', 'abc', '1Gb', '1..0', '--1', ' 1']) expectError(t, body('v1', 'ResourceQuota', mf(2, entry(1, 'cpu', quantity(2, bad)))), 'KUBE_PROTOBUF_ERR_MALFORMED', 'spec.hard');
});

test('json: bytes are base64, maps with hostile keys stay plain data', (t) => {
  const secret = decodeKubeProtobuf(
    body('v1', 'Secret', [...entry(2, 'bin', lf(2, [0, 255, 1])), ...entry(2, 'empty', []), ...entry(2, '__proto__', lf(2, [104, 105])), ...sf(3, 'Opaque'), ...entry(4, 'constructor', sf(2, 'x'))]),
  );
  const data = secret.data as JsonObject;
  t.is(Object.getPrototypeOf(data), Object.prototype);
  t.deepEqual(Object.keys(data), ['bin', 'empty', '__proto__']);
  t.is(data.bin, 'AP8B');
  t.is(data.empty, '');
  t.is(Object.getOwnPropertyDescriptor(data, '__proto__')?.value, 'aGk=');
  t.is(secret.type, 'Opaque');
  t.deepEqual({ ...(secret.stringData as JsonObject) }, { constructor: 'x' });
});

test('json: strings keep a leading BOM and replace invalid UTF-8 as Go does', (t) => {
  const labels = decodeKubeProtobuf(body('v1', 'ConfigMap', meta(entry(11, 'bom', lf(2, [0xef, 0xbb, 0xbf, 0x61])), entry(11, 'bad', lf(2, [0x61, 0xff]))))).metadata as JsonObject;
  t.deepEqual(labels.labels, { bom: '\ufeffa', bad: 'a\ufffd' });
});

test('json: managedFields carry FieldsV1 as JSON, ownerReferences keep their pointer booleans', (t) => {
  const fields = Buffer.from('{"f:data":{"f:a":{}}}');
  const raw = meta(
    sf(1, 'c'),
    sf(5, 'uid-1'),
    sf(6, '42'),
    vf(7, 3),
    time(8, 1767323045),
    time(9, 1767323100),
    mf(13, sf(1, 'Deployment'), sf(3, 'd'), sf(4, 'uid-0'), sf(5, 'apps/v1'), vf(6, true), vf(7, false)),
    sf(14, 'example.com/f'),
    mf(17, sf(1, 'kubectl'), sf(2, 'Update'), sf(3, 'v1'), time(4, 1767323045), sf(6, 'FieldsV1'), mf(7, lf(1, fields))),
    sf(15, ''),
  );
  t.deepEqual(decodeKubeProtobuf(body('v1', 'ConfigMap', raw)).metadata, {
    name: 'c',
    uid: 'uid-1',
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: '2026-01-02T03:04:05Z',
    deletionTimestamp: '2026-01-02T03:05:00Z',
    ownerReferences: [{ kind: 'Deployment', name: 'd', uid: 'uid-0', apiVersion: 'apps/v1', controller: true, blockOwnerDeletion: false }],
    finalizers: ['example.com/f'],
    managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-01-02T03:04:05Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} } } }],
  });
  // The retired clusterName (15) is accepted only empty.
  expectError(t, body('v1', 'ConfigMap', meta(sf(15, 'old'))), 'KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', 'metadata');
  expectError(t, body('v1', 'ConfigMap', meta(mf(17, mf(7, lf(1, [...Buffer.from('{nope')]))))), 'KUBE_PROTOBUF_ERR_MALFORMED', 'metadata.managedFields[0].fieldsV1');
});

test('json: RawExtension holds JSON or an embedded protobuf object', (t) => {
  const asJson = decodeKubeProtobuf(body('apps/v1', 'ControllerRevision', [...meta(sf(1, 'r')), ...mf(2, lf(1, [...Buffer.from('{"spec":{"x":1}}')])), ...vf(3, 0)]));
  t.deepEqual(asJson, { kind: 'ControllerRevision', apiVersion: 'apps/v1', metadata: { name: 'r' }, data: { spec: { x: 1 } }, revision: 0 });
  const inner = body('v1', 'ConfigMap', [...meta(sf(1, 'inner')), ...entry(2, 'a', sf(2, 'b'))]);
  const nested = decodeKubeProtobuf(body('apps/v1', 'ControllerRevision', [...mf(2, lf(1, inner)), ...vf(3, 7)]));
  t.deepEqual(nested.data, { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'inner' }, data: { a: 'b' } });
  t.is(nested.revision, 7);
  t.false('data' in decodeKubeProtobuf(body('apps/v1', 'ControllerRevision', mf(2))));
  expectError(t, body('apps/v1', 'ControllerRevision', mf(2, lf(1, [...Buffer.from('not json')]))), 'KUBE_PROTOBUF_ERR_MALFORMED', 'data');
});

test('json: what cluster components write: Node, Binding, Endpoints, EndpointSlice, LimitRange, Scale', (t) => {
  const node = decodeKubeProtobuf(
    body('v1', 'Node', [
      ...meta(sf(1, 'n1')),
      ...mf(2, sf(1, '10.244.1.0/24'), vf(4, false), mf(5, sf(1, 'k'), sf(3, 'NoSchedule'), time(4, 1767323045)), sf(7, '10.244.1.0/24')),
      ...mf(
        3,
        entry(1, 'cpu', quantity(2, '4')),
        entry(2, 'memory', quantity(2, '7Gi')),
        mf(4, sf(1, 'Ready'), sf(2, 'True'), time(3, 1767323045), time(4, 1767323000), sf(5, 'KubeletReady')),
        mf(5, sf(1, 'InternalIP'), sf(2, '10.0.0.7')),
        mf(6, mf(1, vf(1, 10250))),
        mf(7, sf(1, 'm'), sf(2, ''), sf(7, 'v1.32.0'), sf(9, 'linux'), sf(10, 'amd64')),
        mf(8, sf(1, 'nginx:1.27'), vf(2, 70_000_000)),
      ),
    ]),
  );
  t.deepEqual(node, {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: { name: 'n1' },
    spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'k', effect: 'NoSchedule', timeAdded: '2026-01-02T03:04:05Z' }], podCIDRs: ['10.244.1.0/24'] },
    status: {
      capacity: { cpu: '4' },
      allocatable: { memory: '7Gi' },
      conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-02T03:04:05Z', lastTransitionTime: '2026-01-02T03:03:20Z', reason: 'KubeletReady' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.7' }],
      // DaemonEndpoint's JSON name really is "Port".
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      // NodeSystemInfo's strings have no omitempty: empty ones stay.
      nodeInfo: { machineID: 'm', systemUUID: '', kubeletVersion: 'v1.32.0', operatingSystem: 'linux', architecture: 'amd64' },
      images: [{ names: ['nginx:1.27'], sizeBytes: 70_000_000 }],
    },
  });
  const binding = decodeKubeProtobuf(body('v1', 'Binding', [...meta(sf(1, 'p'), sf(3, 'default')), ...mf(2, sf(1, 'Node'), sf(3, 'n1'))]));
  t.deepEqual(binding, { kind: 'Binding', apiVersion: 'v1', metadata: { name: 'p', namespace: 'default' }, target: { kind: 'Node', name: 'n1' } });
  const endpoints = decodeKubeProtobuf(body('v1', 'Endpoints', mf(2, mf(1, sf(1, '10.1.0.5'), mf(2, sf(1, 'Pod'), sf(3, 'p')), sf(4, 'n1')), mf(3, sf(1, 'http'), vf(2, 8080), sf(3, 'TCP')))));
  t.deepEqual(endpoints.subsets, [{ addresses: [{ ip: '10.1.0.5', targetRef: { kind: 'Pod', name: 'p' }, nodeName: 'n1' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }]);
  const slice = decodeKubeProtobuf(body('discovery.k8s.io/v1', 'EndpointSlice', [...mf(2, sf(1, '10.1.0.5'), mf(2, vf(1, true), vf(3, false)), sf(6, 'n1')), ...mf(3, sf(1, ''), vf(3, 8080)), ...sf(4, 'IPv4')]));
  t.deepEqual(slice, {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true, terminating: false }, nodeName: 'n1' }],
    ports: [{ name: '', port: 8080 }],
    addressType: 'IPv4',
  });
  const limits = decodeKubeProtobuf(body('v1', 'LimitRange', mf(2, mf(1, sf(1, 'Container'), entry(4, 'cpu', quantity(2, '500m')), entry(6, 'cpu', quantity(2, '2'))))));
  t.deepEqual(limits.spec, { limits: [{ type: 'Container', default: { cpu: '500m' }, maxLimitRequestRatio: { cpu: '2' } }] });
  const scale = decodeKubeProtobuf(body('autoscaling/v1', 'Scale', [...meta(sf(1, 'd')), ...mf(2, vf(1, 0)), ...mf(3, vf(1, 0), sf(2, 'app=web'))]));
  t.deepEqual(scale, { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'd' }, spec: {}, status: { replicas: 0, selector: 'app=web' } });
});

/** A Pod touching most of the PodSpec tree, as protobuf; the test below says what it must decode to. */
function fullPodBody(): Uint8Array {
  const container = [
    sf(1, 'app'),
    sf(2, 'nginx:1.27'),
    sf(3, 'sh'),
    sf(4, '-c'),
    sf(4, 'run'),
    mf(6, sf(1, 'http'), vf(3, 8080), sf(4, 'TCP')),
    mf(7, sf(1, 'A'), sf(2, '1')),
    mf(7, sf(1, 'NODE'), mf(3, mf(1, sf(1, 'v1'), sf(2, 'spec.nodeName')))),
    mf(7, sf(1, 'MEM'), mf(3, mf(2, sf(2, 'limits.memory'), quantity(3, '1Mi')))),
    mf(7, sf(1, 'CM'), mf(3, mf(3, mf(1, sf(1, 'cfg')), sf(2, 'k'), vf(3, true)))),
    mf(7, sf(1, 'S'), mf(3, mf(4, mf(1, sf(1, 'sec')), sf(2, 'p')))),
    mf(19, sf(1, 'P_'), mf(2, mf(1, sf(1, 'cfg')))),
    mf(8, entry(1, 'cpu', quantity(2, '1')), entry(2, 'memory', quantity(2, '64Mi')), mf(3, sf(1, 'gpu'))),
    mf(9, sf(1, 'data'), vf(2, true), sf(3, '/data'), sf(5, 'None')),
    mf(21, sf(1, 'blk'), sf(2, '/dev/xvda')),
    mf(10, mf(1, mf(2, sf(1, '/healthz'), intOrString(2, 'http'), sf(4, 'HTTP'), mf(5, sf(1, 'X'), sf(2, 'y')))), vf(2, 5), vf(4, 10)),
    mf(11, mf(1, mf(3, intOrString(1, 8080))), vf(6, 3)),
    mf(22, mf(1, mf(4, vf(1, 9000), sf(2, 'svc')))),
    mf(12, mf(2, mf(1, sf(1, 'sleep'), sf(1, '5'))), mf(1, mf(4, vf(1, 3)))),
    mf(15, mf(1, sf(1, 'NET_ADMIN'), sf(2, 'ALL')), vf(2, false), mf(3, sf(4, 's0')), vf(4, 1000), vf(7, false), mf(11, sf(1, 'RuntimeDefault')), mf(12, sf(1, 'Localhost'), sf(2, 'p')), mf(10, sf(3, 'u'))),
    mf(23, sf(1, 'cpu'), sf(2, 'NotRequired')),
    sf(24, 'Always'),
    sf(14, 'IfNotPresent'),
    vf(16, true),
  ];
  const spec = [
    mf(1, sf(1, 'data'), mf(2, mf(2, sf(1, 'Memory'), quantity(2, '1Gi')))),
    mf(1, sf(1, 'host'), mf(2, mf(1, sf(1, '/var'), sf(2, 'Directory')))),
    mf(1, sf(1, 'cfg'), mf(2, mf(19, mf(1, sf(1, 'cm')), mf(2, sf(1, 'a'), sf(2, 'a.txt'), vf(3, 0o400)), vf(3, 0o644)))),
    mf(1, sf(1, 'sec'), mf(2, mf(6, sf(1, 's'), vf(4, false)))),
    mf(1, sf(1, 'pvc'), mf(2, mf(10, sf(1, 'claim'), vf(2, true)))),
    mf(1, sf(1, 'dapi'), mf(2, mf(16, mf(1, sf(1, 'labels'), mf(2, sf(2, 'metadata.labels')))))),
    mf(1, sf(1, 'proj'), mf(2, mf(26, mf(1, mf(4, sf(1, 'aud'), vf(2, 3600), sf(3, 'token'))), mf(1, mf(3, mf(1, sf(1, 'cm')), vf(4, true)))))),
    mf(2, ...container),
    mf(20, sf(1, 'init'), sf(2, 'busybox'), mf(8)),
    sf(3, 'OnFailure'),
    vf(4, 30),
    entry(7, 'disk', sf(2, 'ssd')),
    sf(8, 'sa'),
    vf(11, true),
    mf(14, vf(2, 1000), vf(3, true), vf(5, 2000), mf(7, sf(1, 'net.core.somaxconn'), sf(2, '1024')), sf(9, 'OnRootMismatch')),
    mf(15, sf(1, 'regcred')),
    sf(16, 'h'),
    mf(
      18,
      mf(1, mf(1, mf(1, mf(1, sf(1, 'zone'), sf(2, 'In'), sf(3, 'a'), sf(3, 'b')))), mf(2, vf(1, 10), mf(2, mf(2, sf(1, 'f'), sf(2, 'Exists'))))),
      mf(2, mf(1, mf(1, entry(1, 'app', sf(2, 'db'))), sf(3, 'kubernetes.io/hostname'))),
      mf(3, mf(2, vf(1, 50), mf(2, mf(1, mf(2, sf(1, 'app'), sf(2, 'NotIn'), sf(3, 'x'))), sf(2, 'ns'), sf(3, 'zone'), sf(5, 'pod-template-hash')))),
    ),
    mf(22, sf(1, 'k'), sf(2, 'Equal'), sf(3, 'v'), sf(4, 'NoExecute'), vf(5, 60)),
    mf(23, sf(1, '10.0.0.1'), sf(2, 'a'), sf(2, 'b')),
    mf(26, sf(1, '1.1.1.1'), sf(2, 'svc.local'), mf(3, sf(1, 'ndots'), sf(2, '2'))),
    mf(28, sf(1, 'www.example.com/ready')),
    mf(33, vf(1, 1), sf(2, 'zone'), sf(3, 'DoNotSchedule'), mf(4, entry(1, 'app', sf(2, 'web')))),
    vf(30, false),
  ];
  const status = [sf(1, 'Running'), mf(2, sf(1, 'Ready'), sf(2, 'True'), time(4, 1767323045)), sf(5, '10.0.0.2'), sf(6, '10.1.0.5'), time(7, 1767323000), mf(12, sf(1, '10.1.0.5')),
    mf(8, sf(1, 'app'), mf(2, mf(2, time(1, 1767323001))), mf(3, mf(3, vf(1, 137), sf(3, 'OOMKilled'))), vf(4, true), vf(5, 1), sf(6, 'nginx:1.27'), sf(7, 'docker.io/nginx@sha256:1'), vf(9, true))];
  return body('v1', 'Pod', [...meta(sf(1, 'p'), sf(3, 'default')), ...mf(2, ...spec), ...mf(3, ...status)]);
}

test('json: a full PodSpec tree with inlined volume sources, probe handlers and key selectors', (t) => {
  const pod = decodeKubeProtobuf(fullPodBody());
  t.deepEqual(pod, {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: 'p', namespace: 'default' },
    spec: {
      volumes: [
        { name: 'data', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
        { name: 'host', hostPath: { path: '/var', type: 'Directory' } },
        { name: 'cfg', configMap: { name: 'cm', items: [{ key: 'a', path: 'a.txt', mode: 0o400 }], defaultMode: 0o644 } },
        { name: 'sec', secret: { secretName: 's', optional: false } },
        { name: 'pvc', persistentVolumeClaim: { claimName: 'claim', readOnly: true } },
        { name: 'dapi', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        { name: 'proj', projected: { sources: [{ serviceAccountToken: { audience: 'aud', expirationSeconds: 3600, path: 'token' } }, { configMap: { name: 'cm', optional: true } }] } },
      ],
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          command: ['sh'],
          args: ['-c', 'run'],
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [
            { name: 'A', value: '1' },
            { name: 'NODE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
            { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k', optional: true } } },
            { name: 'S', valueFrom: { secretKeyRef: { name: 'sec', key: 'p' } } },
          ],
          envFrom: [{ prefix: 'P_', configMapRef: { name: 'cfg' } }],
          resources: { limits: { cpu: '1' }, requests: { memory: '64Mi' }, claims: [{ name: 'gpu' }] },
          volumeMounts: [{ name: 'data', readOnly: true, mountPath: '/data', mountPropagation: 'None' }],
          volumeDevices: [{ name: 'blk', devicePath: '/dev/xvda' }],
          livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP', httpHeaders: [{ name: 'X', value: 'y' }] }, initialDelaySeconds: 5, periodSeconds: 10 },
          readinessProbe: { tcpSocket: { port: 8080 }, failureThreshold: 3 },
          startupProbe: { grpc: { port: 9000, service: 'svc' } },
          lifecycle: { preStop: { exec: { command: ['sleep', '5'] } }, postStart: { sleep: { seconds: 3 } } },
          securityContext: {
            capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
            privileged: false,
            seLinuxOptions: { level: 's0' },
            runAsUser: 1000,
            allowPrivilegeEscalation: false,
            seccompProfile: { type: 'RuntimeDefault' },
            appArmorProfile: { type: 'Localhost', localhostProfile: 'p' },
            windowsOptions: { runAsUserName: 'u' },
          },
          resizePolicy: [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }],
          restartPolicy: 'Always',
          imagePullPolicy: 'IfNotPresent',
          stdin: true,
        },
      ],
      initContainers: [{ name: 'init', image: 'busybox', resources: {} }],
      restartPolicy: 'OnFailure',
      terminationGracePeriodSeconds: 30,
      nodeSelector: { disk: 'ssd' },
      serviceAccountName: 'sa',
      hostNetwork: true,
      securityContext: { runAsUser: 1000, runAsNonRoot: true, fsGroup: 2000, sysctls: [{ name: 'net.core.somaxconn', value: '1024' }], fsGroupChangePolicy: 'OnRootMismatch' },
      imagePullSecrets: [{ name: 'regcred' }],
      hostname: 'h',
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] },
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchFields: [{ key: 'f', operator: 'Exists' }] } }],
        },
        podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] },
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 50,
              podAffinityTerm: { labelSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['x'] }] }, namespaces: ['ns'], topologyKey: 'zone', matchLabelKeys: ['pod-template-hash'] },
            },
          ],
        },
      },
      tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoExecute', tolerationSeconds: 60 }],
      hostAliases: [{ ip: '10.0.0.1', hostnames: ['a', 'b'] }],
      dnsConfig: { nameservers: ['1.1.1.1'], searches: ['svc.local'], options: [{ name: 'ndots', value: '2' }] },
      readinessGates: [{ conditionType: 'www.example.com/ready' }],
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }],
      enableServiceLinks: false,
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-02T03:04:05Z' }],
      hostIP: '10.0.0.2',
      podIP: '10.1.0.5',
      startTime: '2026-01-02T03:03:20Z',
      podIPs: [{ ip: '10.1.0.5' }],
      containerStatuses: [
        {
          name: 'app',
          state: { running: { startedAt: '2026-01-02T03:03:21Z' } },
          lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
          ready: true,
          restartCount: 1,
          image: 'nginx:1.27',
          imageID: 'docker.io/nginx@sha256:1',
          started: true,
        },
      ],
    },
  });
});

test('fuzz: corrupted bodies decode or fail with a KubeProtobufError, never anything else', (t) => {
  const seed = Number(process.env.SKIFF_FUZZ_SEED ?? 20260102);
  t.log(`seed ${seed} (rerun with SKIFF_FUZZ_SEED=${seed})`);
  const prng = new Prng(seed);
  const original = fullPodBody();
  const ITERATIONS = 3000;
  let decoded = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const bytes = Uint8Array.from(original);
    const mutations = 1 + prng.int(4);
    for (let m = 0; m < mutations; m++) {
      const at = KUBE_PROTOBUF_MAGIC.length + prng.int(bytes.length - KUBE_PROTOBUF_MAGIC.length);
      bytes[at] = prng.chance(0.5) ? prng.int(256) : bytes[at]! ^ (1 << prng.int(8));
    }
    const input = prng.chance(0.2) ? bytes.subarray(0, KUBE_PROTOBUF_MAGIC.length + prng.int(bytes.length)) : bytes;
    try {
      decodeKubeProtobuf(input);
      decoded++;
    } catch (e) {
      if (!isKubeProtobufError(e)) {
        t.fail(`seed ${seed}, iteration ${i}: ${String(e)} for ${Buffer.from(input).toString('hex')}`);
        return;
      }
    }
  }
  t.log(`${decoded} of ${ITERATIONS} corrupted bodies still decoded`);
  t.pass();
});

// ---------------------------------------------------------------------------
// The oracle: real kubectl. Each case runs a command twice against a
// recording server: for real (the body it POSTs, decoded) and with
// `--dry-run=client -o json` (the JSON it would have sent). The two must be
// equal after one normalisation, applied to both sides: members whose value
// is null are dropped (kubectl's JSON has `creationTimestamp: null`, which
// protobuf cannot express; an unset Time is simply absent). Nothing else is
// normalised: empty objects (`status: {}`, `resources: {}`) must appear on
// both sides, as Go's protobuf writes non-pointer structs even when empty.

const KUBECTL = 'kubectl';
const KUBECTL_TIMEOUT_MS = 30_000;
const execFileAsync = promisify(execFile);
const kubectlVersion = spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8', timeout: KUBECTL_TIMEOUT_MS });
const kubectlMissing = kubectlVersion.error !== undefined || kubectlVersion.status !== 0 ? `kubectl is not runnable here (${kubectlVersion.error?.message ?? kubectlVersion.stderr})` : undefined;

function dropNulls(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v === null || typeof v !== 'object') return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly contentType: string;
  readonly body: Buffer;
}

const DISCOVERY: Readonly<Record<string, readonly (readonly [resource: string, kind: string, namespaced: boolean])[]>> = {
  v1: [
    ['configmaps', 'ConfigMap', true],
    ['namespaces', 'Namespace', false],
    ['pods', 'Pod', true],
    ['resourcequotas', 'ResourceQuota', true],
    ['secrets', 'Secret', true],
    ['serviceaccounts', 'ServiceAccount', true],
    ['services', 'Service', true],
  ],
  'apps/v1': [['deployments', 'Deployment', true]],
  'batch/v1': [
    ['cronjobs', 'CronJob', true],
    ['jobs', 'Job', true],
  ],
  'rbac.authorization.k8s.io/v1': [
    ['clusterrolebindings', 'ClusterRoleBinding', false],
    ['clusterroles', 'ClusterRole', false],
    ['rolebindings', 'RoleBinding', true],
    ['roles', 'Role', true],
  ],
  'scheduling.k8s.io/v1': [['priorityclasses', 'PriorityClass', false]],
};

/** A Deployment for `kubectl expose` to read. */
const EXPOSED_DEPLOYMENT = {
  kind: 'Deployment',
  apiVersion: 'apps/v1',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 8080 }] }] } } },
};

/** Minimal discovery, a GET of one Deployment, and 201 for any write (its body recorded). */
function recordingServer(recorded: Recorded[]): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?', 1)[0]!;
      const send = (code: number, obj: object): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (req.method !== 'GET') {
        recorded.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        const gv = path.startsWith('/api/') ? 'v1' : path.split('/').slice(2, 4).join('/');
        const resource = path.split('/').at(-1);
        const kind = DISCOVERY[gv]?.find(([r]) => r === resource)?.[1] ?? 'Unknown';
        return send(201, { kind, apiVersion: gv, metadata: { name: 'recorded' } });
      }
      if (path === '/version') return send(200, { major: '1', minor: '32', gitVersion: 'v1.32.0' });
      if (path === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      if (path === '/apis') {
        const groups = Object.keys(DISCOVERY)
          .filter((gv) => gv.includes('/'))
          .map((gv) => {
            const [name, version] = gv.split('/') as [string, string];
            return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
          });
        return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      }
      const gv = path === '/api/v1' ? 'v1' : path.replace(/^\/apis\//, '');
      const resources = DISCOVERY[gv];
      if (resources !== undefined) {
        const list = resources.map(([name, kind, namespaced]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: ['create', 'get', 'list'] }));
        return send(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: list });
      }
      if (path === '/apis/apps/v1/namespaces/default/deployments/web') return send(200, EXPOSED_DEPLOYMENT);
      return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found` });
    });
  });
}

interface Harness {
  readonly dir: string;
  readonly recorded: Recorded[];
  /** Runs kubectl with `flags` placed before any `--` in `args`; resolves to its stdout. */
  kubectl(args: readonly string[], flags?: readonly string[]): Promise<string>;
}

async function withKubectl(t: ExecutionContext, run: (h: Harness) => Promise<void>): Promise<void> {
  if (kubectlMissing !== undefined) {
    t.log(`skipped: ${kubectlMissing}`);
    t.pass();
    return;
  }
  const recorded: Recorded[] = [];
  const server = recordingServer(recorded);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'skiff-kubectl-proto-'));
  try {
    const port = (server.address() as AddressInfo).port;
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: fake, cluster: {server: "http://127.0.0.1:' + String(port) + '"}}]',
        'users: [{name: fake, user: {token: fake-token}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: default}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    const env = { PATH: process.env.PATH ?? '', HOME: dir, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(dir, 'cache') };
    const kubectl = async (args: readonly string[], flags: readonly string[] = []): Promise<string> => {
      // Flags go before `--`: what follows it is the container's command.
      const dash = args.indexOf('--');
      const [head, tail] = dash < 0 ? [args, []] : [args.slice(0, dash), args.slice(dash)];
      const { stdout } = await execFileAsync(KUBECTL, [...head, ...flags, '--cache-dir', join(dir, 'cache'), ...tail], { env, cwd: dir, timeout: KUBECTL_TIMEOUT_MS });
      return stdout;
    };
    await run({ dir, recorded, kubectl });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}

interface KubectlCase {
  readonly name: string;
  readonly args: readonly string[];
  /** Files written to the working directory first. */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
  /** What kubectl 1.32 sends: protobuf for `create <type>`, JSON for `run` and `expose`. */
  readonly sends: 'protobuf' | 'json';
}

const TLS = createCA({ commonName: 'tls.example.com' });

const KUBECTL_CASES: readonly KubectlCase[] = [
  { name: 'create namespace', args: ['create', 'namespace', 'x'], sends: 'protobuf' },
  { name: 'create configmap from literals and a file', args: ['create', 'configmap', 'c', '--from-literal=a=b', '--from-literal=empty=', '--from-file=f.txt'], files: { 'f.txt': 'hello\nworld\n' }, sends: 'protobuf' },
  { name: 'create configmap with binary data', args: ['create', 'configmap', 'bin', '--from-file=blob=b.bin'], files: { 'b.bin': Uint8Array.of(0, 255, 254, 1, 2) }, sends: 'protobuf' },
  { name: 'create secret generic', args: ['create', 'secret', 'generic', 's', '--from-literal=k=v', '--from-file=key=b.bin'], files: { 'b.bin': Uint8Array.of(0, 255, 254) }, sends: 'protobuf' },
  { name: 'create secret tls', args: ['create', 'secret', 'tls', 'tls', '--cert=tls.crt', '--key=tls.key'], files: { 'tls.crt': TLS.certPem, 'tls.key': TLS.keyPem }, sends: 'protobuf' },
  { name: 'create secret docker-registry', args: ['create', 'secret', 'docker-registry', 'reg', '--docker-server=r.example.com', '--docker-username=u', '--docker-password=p'], sends: 'protobuf' },
  { name: 'create deployment', args: ['create', 'deployment', 'd', '--image=busybox', '--replicas=2', '--port=80'], sends: 'protobuf' },
  { name: 'create deployment with zero replicas and two images', args: ['create', 'deployment', 'zero', '--image=busybox', '--image=nginx', '--replicas=0'], sends: 'protobuf' },
  { name: 'create service nodeport', args: ['create', 'service', 'nodeport', 'n', '--tcp=80:8080', '--node-port=30080'], sends: 'protobuf' },
  { name: 'create service clusterip with a named target port', args: ['create', 'service', 'clusterip', 'ci', '--tcp=80:8080', '--tcp=443:https'], sends: 'protobuf' },
  { name: 'create headless service', args: ['create', 'service', 'clusterip', 'headless', '--clusterip=None'], sends: 'protobuf' },
  { name: 'create service externalname', args: ['create', 'service', 'externalname', 'en', '--external-name=db.example.com'], sends: 'protobuf' },
  { name: 'create service loadbalancer', args: ['create', 'service', 'loadbalancer', 'lb', '--tcp=80:8080'], sends: 'protobuf' },
  { name: 'create job', args: ['create', 'job', 'j', '--image=busybox', '--', 'echo', 'hi'], sends: 'protobuf' },
  { name: 'create cronjob', args: ['create', 'cronjob', 'cj', '--image=busybox', '--schedule=*/5 * * * *', '--restart=Never', '--', 'date'], sends: 'protobuf' },
  { name: 'create role', args: ['create', 'role', 'r', '--verb=get,list', '--resource=pods,deployments.apps', '--resource-name=a'], sends: 'protobuf' },
  { name: 'create rolebinding', args: ['create', 'rolebinding', 'rb', '--role=r', '--user=u', '--serviceaccount=default:sa', '--group=g'], sends: 'protobuf' },
  { name: 'create clusterrole', args: ['create', 'clusterrole', 'cr', '--verb=get', '--resource=pods', '--verb=watch'], sends: 'protobuf' },
  { name: 'create clusterrole with an aggregation rule', args: ['create', 'clusterrole', 'agg', '--aggregation-rule=rbac.example.com/aggregate=true'], sends: 'protobuf' },
  { name: 'create clusterrole for non-resource URLs', args: ['create', 'clusterrole', 'nr', '--verb=get', '--non-resource-url=/logs/*'], sends: 'protobuf' },
  { name: 'create clusterrolebinding', args: ['create', 'clusterrolebinding', 'crb', '--clusterrole=cr', '--user=u', '--group=g'], sends: 'protobuf' },
  { name: 'create serviceaccount', args: ['create', 'serviceaccount', 'sa'], sends: 'protobuf' },
  { name: 'create quota', args: ['create', 'quota', 'q', '--hard=pods=10,cpu=1,memory=1Gi', '--scopes=BestEffort'], sends: 'protobuf' },
  { name: 'run', args: ['run', 'p', '--image=busybox', '--labels=a=b', '--env=X=1', '--port=80', '--', 'sleep', '1'], sends: 'json' },
  { name: 'expose', args: ['expose', 'deployment', 'web', '--port=80', '--name=web'], sends: 'json' },
];

for (const c of KUBECTL_CASES) {
  test.serial(`kubectl: ${c.name} decodes to the JSON kubectl would send`, async (t) => {
    await withKubectl(t, async ({ dir, recorded, kubectl }) => {
      for (const [name, content] of Object.entries(c.files ?? {})) await writeFile(join(dir, name), content);
      const expected = JSON.parse(await kubectl(c.args, ['--dry-run=client', '-o', 'json'])) as JsonObject;
      t.is(recorded.length, 0, 'a client dry run sends nothing');
      await kubectl(c.args);
      const posts = recorded.filter((r) => r.method === 'POST');
      t.is(posts.length, 1, `one POST: ${recorded.map((r) => `${r.method} ${r.url}`).join(', ')}`);
      const post = posts[0]!;
      let actual: JsonObject;
      if (post.contentType === KUBE_PROTOBUF_CONTENT_TYPE) {
        t.deepEqual([...post.body.subarray(0, 4)], [...KUBE_PROTOBUF_MAGIC]);
        actual = decodeKubeProtobuf(post.body);
      } else {
        t.log(`kubectl sent ${post.contentType || 'no content type'}, not protobuf`);
        actual = JSON.parse(post.body.toString('utf8')) as JsonObject;
      }
      t.is(post.contentType === KUBE_PROTOBUF_CONTENT_TYPE ? 'protobuf' : 'json', c.sends);
      t.deepEqual(dropNulls(actual), dropNulls(expected));
    });
  });
}

test.serial('kubectl: a kind without a schema (PriorityClass) is refused with 415, not mangled', async (t) => {
  await withKubectl(t, async ({ recorded, kubectl }) => {
    await kubectl(['create', 'priorityclass', 'high', '--value=1000']);
    const post = recorded.find((r) => r.method === 'POST');
    t.is(post?.contentType, KUBE_PROTOBUF_CONTENT_TYPE);
    const e = t.throws(() => decodeKubeProtobuf(post!.body), { instanceOf: KubeProtobufError });
    t.is(e.code, 'KUBE_PROTOBUF_ERR_UNSUPPORTED_KIND');
    t.is(e.httpStatus, 415);
    t.regex(e.message, /scheduling\.k8s\.io\/v1.*PriorityClass/);
  });
});
