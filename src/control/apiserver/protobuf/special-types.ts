/**
 * The apimachinery types whose JSON is not their protobuf message's shape:
 * each decoder reads the message's payload and returns the JSON value Go's
 * `MarshalJSON` writes for it, or `undefined` where Go writes `null` (a zero
 * time, an empty RawExtension), which the caller leaves out.
 */
import { KubeProtobufError } from './errors.js';
import type { JsonValue } from './json.js';
import { KUBE_PROTOBUF_MAGIC, WIRE_TYPE_NAMES, WireType, type WireReader } from './wire.js';

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

/** Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds; JSON writes it as null. */
const ZERO_TIME_UNIX_SECONDS = -62135596800;
/** RFC 3339 as Go formats it has a 4-digit year: 0000-01-01 … 9999-12-31 23:59:59. */
const MIN_RFC3339_UNIX_SECONDS = -62167219200;
const MAX_RFC3339_UNIX_SECONDS = 253402300799;
const NANOS_PER_SECOND = 1_000_000_000;

/** Decodes the fields of a small fixed message; any other field number is refused. */
function readFields(reader: WireReader, fullName: string, fields: Readonly<Record<number, 'int64' | 'int32' | 'string' | 'bytes'>>): Map<number, number | string | WireReader> {
  const out = new Map<number, number | string | WireReader>();
  while (!reader.done()) {
    const tag = reader.readTag();
    const type = fields[tag.fieldNumber];
    if (type === undefined) {
      throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', `unknown field number ${tag.fieldNumber} (${WIRE_TYPE_NAMES[tag.wireType]}) in ${fullName}`, { offset: tag.offset });
    }
    const wanted = type === 'int64' || type === 'int32' ? WireType.Varint : WireType.LengthDelimited;
    if (tag.wireType !== wanted) {
      throw reader.malformed(`field ${tag.fieldNumber} of ${fullName} has wire type ${WIRE_TYPE_NAMES[tag.wireType]}, expected ${WIRE_TYPE_NAMES[wanted]}`, tag.offset);
    }
    if (type === 'int64') out.set(tag.fieldNumber, reader.readInt64());
    else if (type === 'int32') out.set(tag.fieldNumber, reader.readInt32());
    else if (type === 'string') out.set(tag.fieldNumber, reader.readLengthDelimited().takeString());
    else out.set(tag.fieldNumber, reader.readLengthDelimited());
  }
  return out;
}

function formatUnixSeconds(seconds: number, reader: WireReader, offset: number): string {
  if (seconds < MIN_RFC3339_UNIX_SECONDS || seconds > MAX_RFC3339_UNIX_SECONDS) {
    throw reader.malformed(`time ${seconds}s since the epoch has a year outside [0,9999]`, offset);
  }
  // toISOString is "YYYY-MM-DDTHH:MM:SS.sssZ" for years 0…9999.
  return new Date(seconds * 1000).toISOString().slice(0, 19);
}

/** metav1.Time: whole seconds, as upstream's unmarshaller drops nanos (its JSON has none). */
export function decodeTime(reader: WireReader): string | undefined {
  const offset = reader.offset;
  if (reader.done()) return undefined; // a zero Time is written as an empty message
  const f = readFields(reader, `${META}.Time`, { 1: 'int64', 2: 'int32' });
  const seconds = (f.get(1) as number | undefined) ?? 0;
  if (seconds === ZERO_TIME_UNIX_SECONDS) return undefined;
  return `${formatUnixSeconds(seconds, reader, offset)}Z`;
}

/** metav1.MicroTime: six fraction digits, nanos truncated to micros as upstream does. */
export function decodeMicroTime(reader: WireReader): string | undefined {
  const offset = reader.offset;
  if (reader.done()) return undefined;
  const f = readFields(reader, `${META}.MicroTime`, { 1: 'int64', 2: 'int32' });
  const nanos = Math.trunc(((f.get(2) as number | undefined) ?? 0) / 1000) * 1000;
  // Go's time.Unix normalises nanos outside [0, 1e9) into the seconds.
  const seconds = ((f.get(1) as number | undefined) ?? 0) + Math.floor(nanos / NANOS_PER_SECOND);
  const micros = (((nanos % NANOS_PER_SECOND) + NANOS_PER_SECOND) % NANOS_PER_SECOND) / 1000;
  if (seconds === ZERO_TIME_UNIX_SECONDS && micros === 0) return undefined;
  return `${formatUnixSeconds(seconds, reader, offset)}.${String(micros).padStart(6, '0')}Z`;
}

/** intstr.IntOrString: {type 0 → intVal, type 1 → strVal}. */
export function decodeIntOrString(reader: WireReader): number | string {
  const offset = reader.offset;
  const f = readFields(reader, 'k8s.io.apimachinery.pkg.util.intstr.IntOrString', { 1: 'int64', 2: 'int32', 3: 'string' });
  const type = (f.get(1) as number | undefined) ?? 0;
  if (type === 0) return (f.get(2) as number | undefined) ?? 0;
  if (type === 1) return (f.get(3) as string | undefined) ?? '';
  throw reader.malformed(`IntOrString has type ${type}; only 0 (int) and 1 (string) exist`, offset);
}

/**
 * The grammar of resource.ParseQuantity: a signed decimal number and an
 * optional binary-SI (Ki…Ei), decimal-SI (n u m k M G T P E) or exponent
 * (e3, E-2) suffix.
 */
const QUANTITY = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

/**
 * resource.Quantity: its string, checked against the quantity grammar (Go's
 * unmarshaller parses it and fails on garbage). Not canonicalised: Go's
 * encoder writes the canonical form, and a server that takes JSON quantities
 * must handle non-canonical ones anyway. An empty message is Go's zero, "0".
 */
export function decodeQuantity(reader: WireReader): string {
  const offset = reader.offset;
  const f = readFields(reader, 'k8s.io.apimachinery.pkg.api.resource.Quantity', { 1: 'string' });
  const text = f.get(1) as string | undefined;
  if (text === undefined) return '0';
  if (!QUANTITY.test(text)) throw reader.malformed(`quantity ${JSON.stringify(text)} is not a valid quantity`, offset);
  return text;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function parseJson(raw: WireReader, what: string): JsonValue {
  const offset = raw.offset;
  try {
    return JSON.parse(utf8.decode(raw.takeBytes())) as JsonValue;
  } catch (e) {
    throw raw.malformed(`${what} is not valid JSON: ${(e as Error).message}`, offset);
  }
}

/**
 * runtime.RawExtension: raw bytes of an embedded object, JSON or (with the
 * `k8s\x00` magic) Kubernetes protobuf, which `decodeEmbedded` decodes.
 */
export function decodeRawExtension(reader: WireReader, decodeEmbedded: (raw: WireReader) => JsonValue): JsonValue | undefined {
  const f = readFields(reader, 'k8s.io.apimachinery.pkg.runtime.RawExtension', { 1: 'bytes' });
  const raw = f.get(1) as WireReader | undefined;
  if (raw === undefined || raw.done()) return undefined;
  if (raw.startsWith(KUBE_PROTOBUF_MAGIC)) return decodeEmbedded(raw);
  return parseJson(raw, 'RawExtension.raw');
}

/** metav1.FieldsV1: its raw bytes are the JSON of the field set. */
export function decodeFieldsV1(reader: WireReader): JsonValue | undefined {
  const f = readFields(reader, `${META}.FieldsV1`, { 1: 'bytes' });
  const raw = f.get(1) as WireReader | undefined;
  if (raw === undefined || raw.done()) return undefined;
  return parseJson(raw, 'FieldsV1.Raw');
}
