/**
 * The Kubernetes protobuf envelope (k8s.io/apimachinery
 * `runtime/serializer/protobuf`): the magic `k8s\x00`, then a runtime.Unknown
 *
 *     1 typeMeta        runtime.TypeMeta { 1 apiVersion, 2 kind }
 *     2 raw             the object's own message (its TypeMeta is not in it)
 *     3 contentEncoding "" (nothing else is defined)
 *     4 contentType     "" or application/vnd.kubernetes.protobuf
 *
 * and the kinds we know how to read from `raw`.
 */
import { decodeMessage, type DecodeContext } from './decode.js';
import { KubeProtobufError } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import { buildSchema, type MessageSchema } from './schema.js';
import { APPS_V1 } from './schema-apps.js';
import { AUTOSCALING_V1 } from './schema-autoscaling.js';
import { BATCH_V1 } from './schema-batch.js';
import { COORDINATION_V1 } from './schema-coordination.js';
import { CORE_V1 } from './schema-core.js';
import { DISCOVERY_V1 } from './schema-discovery.js';
import { META_V1 } from './schema-meta.js';
import { RBAC_V1 } from './schema-rbac.js';
import { KUBE_PROTOBUF_MAGIC, WIRE_TYPE_NAMES, WireReader, WireType } from './wire.js';

export const KUBE_PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

/** kube-apiserver's default limit on a request body (`MaxRequestBodyBytes`, 3 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
/**
 * How deep messages may nest. The deepest real path (CronJob → jobTemplate →
 * … → podAntiAffinity → labelSelector → matchExpressions) is under 15 levels;
 * the limit keeps hostile input from exhausting the stack.
 */
export const DEFAULT_MAX_DEPTH = 64;

export interface DecodeOptions {
  readonly maxBodyBytes?: number;
  readonly maxDepth?: number;
}

const SCHEMA = buildSchema([META_V1, CORE_V1, APPS_V1, AUTOSCALING_V1, BATCH_V1, COORDINATION_V1, DISCOVERY_V1, RBAC_V1]);

/** apiVersion → kind → schema key: the kinds a protobuf body may carry. */
const KINDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  v1: {
    Binding: 'core.Binding',
    ConfigMap: 'core.ConfigMap',
    Endpoints: 'core.Endpoints',
    Event: 'core.Event',
    LimitRange: 'core.LimitRange',
    Namespace: 'core.Namespace',
    Node: 'core.Node',
    Pod: 'core.Pod',
    PodTemplate: 'core.PodTemplate',
    ReplicationController: 'core.ReplicationController',
    ResourceQuota: 'core.ResourceQuota',
    Secret: 'core.Secret',
    Service: 'core.Service',
    ServiceAccount: 'core.ServiceAccount',
  },
  'apps/v1': {
    ControllerRevision: 'apps.ControllerRevision',
    DaemonSet: 'apps.DaemonSet',
    Deployment: 'apps.Deployment',
    ReplicaSet: 'apps.ReplicaSet',
    StatefulSet: 'apps.StatefulSet',
  },
  'autoscaling/v1': { Scale: 'autoscaling.Scale' },
  'batch/v1': { CronJob: 'batch.CronJob', Job: 'batch.Job' },
  'coordination.k8s.io/v1': { Lease: 'coordination.Lease' },
  'discovery.k8s.io/v1': { EndpointSlice: 'discovery.EndpointSlice' },
  'rbac.authorization.k8s.io/v1': {
    ClusterRole: 'rbac.ClusterRole',
    ClusterRoleBinding: 'rbac.ClusterRoleBinding',
    Role: 'rbac.Role',
    RoleBinding: 'rbac.RoleBinding',
  },
};

export interface KindRef {
  readonly apiVersion: string;
  readonly kind: string;
}

/** Every apiVersion/kind a protobuf body may carry; others are answered 415. */
export const SUPPORTED_KINDS: readonly KindRef[] = Object.entries(KINDS).flatMap(([apiVersion, kinds]) => Object.keys(kinds).map((kind) => ({ apiVersion, kind })));

export function isSupportedKind(apiVersion: string, kind: string): boolean {
  return schemaFor(apiVersion, kind) !== undefined;
}

/** The schema of a kind (its fields as JSON names), for field validation of JSON bodies too. */
export function schemaFor(apiVersion: string, kind: string): MessageSchema | undefined {
  const kinds = Object.hasOwn(KINDS, apiVersion) ? KINDS[apiVersion]! : undefined;
  const key = kinds !== undefined && Object.hasOwn(kinds, kind) ? kinds[kind]! : undefined;
  return key === undefined ? undefined : SCHEMA.get(key);
}

interface Envelope {
  apiVersion: string;
  kind: string;
  raw: WireReader | undefined;
  contentEncoding: string;
  contentType: string;
}

function unknownField(fieldNumber: number, wireType: number, message: string, offset: number): KubeProtobufError {
  return new KubeProtobufError('KUBE_PROTOBUF_ERR_UNKNOWN_FIELD', `unknown field number ${fieldNumber} (${WIRE_TYPE_NAMES[wireType]}) in ${message}`, { offset });
}

function readString(reader: WireReader, wireType: number, offset: number, what: string): string {
  if (wireType !== WireType.LengthDelimited) throw reader.malformed(`${what} has wire type ${WIRE_TYPE_NAMES[wireType]}, expected length-delimited`, offset);
  return reader.readLengthDelimited().takeString();
}

function readTypeMeta(reader: WireReader, envelope: Envelope): void {
  while (!reader.done()) {
    const tag = reader.readTag();
    if (tag.fieldNumber === 1) envelope.apiVersion = readString(reader, tag.wireType, tag.offset, 'TypeMeta.apiVersion');
    else if (tag.fieldNumber === 2) envelope.kind = readString(reader, tag.wireType, tag.offset, 'TypeMeta.kind');
    else throw unknownField(tag.fieldNumber, tag.wireType, 'k8s.io.apimachinery.pkg.runtime.TypeMeta', tag.offset);
  }
}

/** Reads the magic and the runtime.Unknown around the object. */
function readEnvelope(reader: WireReader): Envelope {
  if (!reader.startsWith(KUBE_PROTOBUF_MAGIC)) {
    throw new KubeProtobufError('KUBE_PROTOBUF_ERR_NOT_PROTOBUF', 'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]', {
      offset: reader.offset,
    });
  }
  reader.skip(KUBE_PROTOBUF_MAGIC.length);
  if (reader.done()) throw reader.malformed('empty body after the protobuf prefix');
  const envelope: Envelope = { apiVersion: '', kind: '', raw: undefined, contentEncoding: '', contentType: '' };
  while (!reader.done()) {
    const tag = reader.readTag();
    switch (tag.fieldNumber) {
      case 1:
        if (tag.wireType !== WireType.LengthDelimited) throw reader.malformed(`Unknown.typeMeta has wire type ${WIRE_TYPE_NAMES[tag.wireType]}`, tag.offset);
        readTypeMeta(reader.readLengthDelimited(), envelope);
        break;
      case 2:
        if (tag.wireType !== WireType.LengthDelimited) throw reader.malformed(`Unknown.raw has wire type ${WIRE_TYPE_NAMES[tag.wireType]}`, tag.offset);
        envelope.raw = reader.readLengthDelimited();
        break;
      case 3:
        envelope.contentEncoding = readString(reader, tag.wireType, tag.offset, 'Unknown.contentEncoding');
        break;
      case 4:
        envelope.contentType = readString(reader, tag.wireType, tag.offset, 'Unknown.contentType');
        break;
      default:
        throw unknownField(tag.fieldNumber, tag.wireType, 'k8s.io.apimachinery.pkg.runtime.Unknown', tag.offset);
    }
  }
  return envelope;
}

function decodeEnvelope(reader: WireReader, ctx: DecodeContext): JsonObject {
  const envelope = readEnvelope(reader);
  const { apiVersion, kind } = envelope;
  if (envelope.contentEncoding !== '') {
    throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNSUPPORTED_ENCODING', `content encoding ${JSON.stringify(envelope.contentEncoding)} is not supported`);
  }
  if (envelope.contentType !== '' && envelope.contentType !== KUBE_PROTOBUF_CONTENT_TYPE) {
    throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNSUPPORTED_ENCODING', `embedded content type ${JSON.stringify(envelope.contentType)} is not supported`);
  }
  if (kind === '') throw new KubeProtobufError('KUBE_PROTOBUF_ERR_MALFORMED', "Object 'Kind' is missing in the protobuf envelope");
  const schema = schemaFor(apiVersion, kind);
  if (schema === undefined) {
    throw new KubeProtobufError('KUBE_PROTOBUF_ERR_UNSUPPORTED_KIND', `the protobuf body's apiVersion ${JSON.stringify(apiVersion)}, kind ${JSON.stringify(kind)} is not supported; send it as JSON`);
  }
  // Kubernetes' JSON puts TypeMeta first: kind, then apiVersion.
  const target: JsonObject = { kind, apiVersion };
  return envelope.raw === undefined ? target : decodeMessage(envelope.raw, schema, ctx, target);
}

/**
 * Decodes a Kubernetes protobuf request body (`Content-Type:
 * application/vnd.kubernetes.protobuf`) into the JSON object the client would
 * have sent as JSON: lowerCamel field names, RFC 3339 times, IntOrString as a
 * number or string, quantities as strings, bytes as base64, zero values left
 * out where Go's JSON leaves them out. Pure; throws KubeProtobufError.
 */
export function decodeKubeProtobuf(body: Uint8Array, options: DecodeOptions = {}): JsonObject {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (body.length > maxBodyBytes) {
    throw new KubeProtobufError('KUBE_PROTOBUF_ERR_TOO_LARGE', `body of ${body.length} bytes exceeds the limit of ${maxBodyBytes} bytes`);
  }
  const ctx: DecodeContext = {
    depth: 0,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    path: [],
    decodeEmbedded: (raw: WireReader): JsonValue => decodeEnvelope(raw, ctx),
  };
  try {
    return decodeEnvelope(new WireReader(body), ctx);
  } catch (e) {
    if (e instanceof KubeProtobufError) throw e.locate(ctx.path.join('.'));
    throw e;
  }
}
