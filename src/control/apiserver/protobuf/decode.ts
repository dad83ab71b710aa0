/**
 * Walks a protobuf message with its schema and builds the JSON object
 * Kubernetes' JSON encoding would have produced for the same Go value.
 *
 * Semantics, as Go's generated unmarshallers have them: a repeated field
 * appends (packed or not, for varint scalars); a single scalar appearing twice
 * keeps the last value; a single message appearing twice merges. Unlike them,
 * an unknown field number is an error (see errors.ts).
 */
import { KubeProtobufError } from './errors.js';
import { setOwn, type JsonObject, type JsonValue } from './json.js';
import type { FieldSchema, MessageSchema, ScalarType } from './schema.js';
import { decodeFieldsV1, decodeIntOrString, decodeMicroTime, decodeQuantity, decodeRawExtension, decodeTime } from './special-types.js';
import { WIRE_TYPE_NAMES, WireType, type Tag, type WireReader } from './wire.js';

export interface DecodeContext {
  /** Messages entered and not yet left; bounded by maxDepth. */
  depth: number;
  readonly maxDepth: number;
  /** JSON path segments of the field being decoded, for error messages. */
  readonly path: string[];
  /** Decodes a `k8s\x00` body embedded in a RawExtension. */
  readonly decodeEmbedded: (raw: WireReader) => JsonValue;
}

/** Decodes the message in `reader` into `target` (merging), and returns it. */
export function decodeMessage(reader: WireReader, schema: MessageSchema, ctx: DecodeContext, target: JsonObject = {}): JsonObject {
  if (ctx.depth >= ctx.maxDepth) {
    throw new KubeProtobufError('KUBE_PROTOBUF_ERR_TOO_DEEP', `messages nested deeper than ${ctx.maxDepth} levels`, { offset: reader.offset });
  }
  ctx.depth++;
  while (!reader.done()) {
    const tag = reader.readTag();
    const field = schema.fields.get(tag.fieldNumber);
    if (field === undefined) {
      throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', `unknown field number ${tag.fieldNumber} (${WIRE_TYPE_NAMES[tag.wireType]}) in ${schema.fullName}`, {
        offset: tag.offset,
      });
    }
    if (field.cardinality === 'map') decodeMapEntry(reader, tag, schema, field, ctx, target);
    else if (field.cardinality === 'repeated') decodeRepeated(reader, tag, schema, field, ctx, target);
    else decodeSingle(reader, tag, schema, field, ctx, target);
  }
  ctx.depth--;
  return target;
}

/** A property of the object being built, never one inherited from Object.prototype. */
function own(target: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(target, key) ? target[key] : undefined;
}

function isVarintScalar(field: FieldSchema): boolean {
  return field.value.kind === 'scalar' && field.value.type !== 'string' && field.value.type !== 'bytes';
}

function expectWireType(reader: WireReader, tag: Tag, schema: MessageSchema, field: FieldSchema, wanted: number): void {
  if (tag.wireType !== wanted) {
    throw reader.malformed(
      `field ${field.number} (${field.name}) of ${schema.fullName} has wire type ${WIRE_TYPE_NAMES[tag.wireType]}, expected ${WIRE_TYPE_NAMES[wanted]}`,
      tag.offset,
    );
  }
}

function readScalar(reader: WireReader, type: ScalarType): JsonValue {
  switch (type) {
    case 'string':
      return reader.readLengthDelimited().takeString();
    case 'bytes':
      return Buffer.from(reader.readLengthDelimited().takeBytes()).toString('base64');
    case 'bool':
      return reader.readBool();
    case 'int32':
      return reader.readInt32();
    case 'int64':
      return reader.readInt64();
  }
}

/**
 * One value of a field that is not packed: a scalar, a special type or a
 * message (merged into `existing` when that is an object). `undefined` stands
 * for Go's JSON `null` (a zero Time, an empty RawExtension).
 */
function readValue(reader: WireReader, tag: Tag, schema: MessageSchema, field: FieldSchema, ctx: DecodeContext, existing?: JsonValue): JsonValue | undefined {
  const value = field.value;
  if (value.kind === 'scalar') {
    expectWireType(reader, tag, schema, field, isVarintScalar(field) ? WireType.Varint : WireType.LengthDelimited);
    return readScalar(reader, value.type);
  }
  expectWireType(reader, tag, schema, field, WireType.LengthDelimited);
  const sub = reader.readLengthDelimited();
  if (value.kind === 'message') {
    const target = typeof existing === 'object' && existing !== null && !Array.isArray(existing) ? existing : {};
    return decodeMessage(sub, value.message, ctx, target);
  }
  switch (value.type) {
    case 'Time':
      return decodeTime(sub);
    case 'MicroTime':
      return decodeMicroTime(sub);
    case 'IntOrString':
      return decodeIntOrString(sub);
    case 'Quantity':
      return decodeQuantity(sub);
    case 'RawExtension':
      return decodeRawExtension(sub, ctx.decodeEmbedded);
    case 'FieldsV1':
      return decodeFieldsV1(sub);
  }
}

function isZero(v: JsonValue | undefined): boolean {
  return v === '' || v === 0 || v === false;
}

function decodeSingle(reader: WireReader, tag: Tag, schema: MessageSchema, field: FieldSchema, ctx: DecodeContext, target: JsonObject): void {
  if (field.inline) {
    expectWireType(reader, tag, schema, field, WireType.LengthDelimited);
    // Inlined (embedded) messages are asserted to be messages in schema.ts.
    if (field.value.kind === 'message') decodeMessage(reader.readLengthDelimited(), field.value.message, ctx, target);
    return;
  }
  ctx.path.push(field.name);
  const value = readValue(reader, tag, schema, field, ctx, own(target, field.name));
  ctx.path.pop();
  if (field.retired) {
    if (!isZero(value)) {
      throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', `field ${field.number} (${field.name}) of ${schema.fullName} was removed from Kubernetes and must be empty`, {
        offset: tag.offset,
      });
    }
    return;
  }
  if (value === undefined || (field.value.kind === 'scalar' && !field.keepZero && isZero(value))) delete target[field.name];
  else target[field.name] = value;
}

function decodeRepeated(reader: WireReader, tag: Tag, schema: MessageSchema, field: FieldSchema, ctx: DecodeContext, target: JsonObject): void {
  const existing = own(target, field.name);
  const list: JsonValue[] = Array.isArray(existing) ? existing : [];
  if (isVarintScalar(field) && tag.wireType === WireType.LengthDelimited && field.value.kind === 'scalar') {
    // Packed: one length-delimited run of varints.
    const packed = reader.readLengthDelimited();
    while (!packed.done()) list.push(readScalar(packed, field.value.type));
  } else {
    ctx.path.push(`${field.name}[${list.length}]`);
    list.push(readValue(reader, tag, schema, field, ctx) ?? null);
    ctx.path.pop();
  }
  // Go leaves a slice nil, and its JSON out, when nothing was appended.
  if (list.length > 0) target[field.name] = list;
}

/** One map<string, V> entry: key = 1, value = 2; either may be missing (zero). */
function decodeMapEntry(reader: WireReader, tag: Tag, schema: MessageSchema, field: FieldSchema, ctx: DecodeContext, target: JsonObject): void {
  expectWireType(reader, tag, schema, field, WireType.LengthDelimited);
  const entry = reader.readLengthDelimited();
  ctx.path.push(field.name);
  let key = '';
  let value: JsonValue | undefined;
  while (!entry.done()) {
    const t = entry.readTag();
    if (t.fieldNumber === 1) {
      if (t.wireType !== WireType.LengthDelimited) throw entry.malformed(`map key of ${schema.fullName}.${field.name} has wire type ${WIRE_TYPE_NAMES[t.wireType]}`, t.offset);
      key = entry.readLengthDelimited().takeString();
    } else if (t.fieldNumber === 2) {
      value = readValue(entry, t, schema, field, ctx, value);
    } else {
      throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', `unknown field number ${t.fieldNumber} in a map entry of ${schema.fullName}.${field.name}`, { offset: t.offset });
    }
  }
  ctx.path.pop();
  const existing = own(target, field.name);
  const map: JsonObject = typeof existing === 'object' && existing !== null && !Array.isArray(existing) ? existing : {};
  setOwn(map, key, value ?? zeroOf(field));
  target[field.name] = map;
}

/** The JSON of a map value that was not on the wire: Go's zero value of its type. */
function zeroOf(field: FieldSchema): JsonValue {
  const v = field.value;
  if (v.kind === 'message') return {};
  if (v.kind === 'special') return v.type === 'Quantity' ? '0' : v.type === 'IntOrString' ? 0 : null;
  return v.type === 'bool' ? false : v.type === 'int32' || v.type === 'int64' ? 0 : '';
}
