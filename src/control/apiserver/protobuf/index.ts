/**
 * Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`,
 * what kubectl's typed commands such as `create deployment` and `run` send),
 * decoded into the JSON objects the same client would have sent as JSON, so
 * the rest of the API server only ever sees JSON. Pure: no I/O; every refusal
 * is a KubeProtobufError whose `httpStatus`/`reason` say which Status to
 * answer with (400, 413 or 415).
 */
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_DEPTH,
  decodeKubeProtobuf,
  type DecodeOptions,
  isSupportedKind,
  KUBE_PROTOBUF_CONTENT_TYPE,
  type KindRef,
  SUPPORTED_KINDS,
  schemaFor,
} from './envelope.js';
export type { FieldSchema, MessageSchema } from './schema.js';
export {
  isKubeProtobufError,
  KUBE_PROTOBUF_ERRORS,
  KubeProtobufError,
  type KubeProtobufErrorCode,
  type KubeProtobufStatusReason,
} from './errors.js';
export type { JsonObject, JsonValue } from './json.js';
export { KUBE_PROTOBUF_MAGIC } from './wire.js';
