/**
 * Every way a Kubernetes protobuf request body can be refused, with a stable
 * code and the HTTP status and `Status.reason` the API server answers with.
 * kube-apiserver answers a body it cannot decode with 400 BadRequest and a
 * kind it has no protobuf type for with 415 UnsupportedMediaType; we do the
 * same, and 413 for a body over the size limit. Unlike upstream's generated unmarshallers, which skip field numbers
 * they do not know, we refuse them (400): the caller then sees an error
 * instead of an object that silently lost data.
 */

export type KubeProtobufStatusReason = 'BadRequest' | 'RequestEntityTooLarge' | 'UnsupportedMediaType';

export const KUBE_PROTOBUF_ERRORS = {
  /** The body does not start with the 4-byte magic `k8s\x00`. */
  KUBE_PROTOBUF_ERR_NOT_PROTOBUF: [400, 'BadRequest'],
  /** The envelope names an apiVersion/kind we have no schema for. */
  KUBE_PROTOBUF_ERR_UNSUPPORTED_KIND: [415, 'UnsupportedMediaType'],
  /** The envelope's contentEncoding/contentType is one we do not decode (e.g. gzip). */
  KUBE_PROTOBUF_ERR_UNSUPPORTED_ENCODING: [415, 'UnsupportedMediaType'],
  /** Broken wire data: truncation, a bad varint, a wrong wire type, a value out of range. */
  KUBE_PROTOBUF_ERR_MALFORMED: [400, 'BadRequest'],
  /** A field number the schema does not have (or a removed field that carries a value). */
  KUBE_PROTOBUF_ERR_UNKNOWN_FIELD: [400, 'BadRequest'],
  /** Messages nested deeper than the decoder's limit. */
  KUBE_PROTOBUF_ERR_TOO_DEEP: [400, 'BadRequest'],
  /** A body larger than the decoder's limit. */
  KUBE_PROTOBUF_ERR_TOO_LARGE: [413, 'RequestEntityTooLarge'],
} as const satisfies Record<string, readonly [number, KubeProtobufStatusReason]>;

export type KubeProtobufErrorCode = keyof typeof KUBE_PROTOBUF_ERRORS;

export interface KubeProtobufErrorDetails {
  /** Byte offset in the body (magic included) where the problem was found. */
  readonly offset?: number;
}

export class KubeProtobufError extends Error {
  override readonly name = 'KubeProtobufError';
  /** HTTP status the API server answers with for this body. */
  readonly httpStatus: number;
  readonly reason: KubeProtobufStatusReason;
  readonly offset: number | undefined;
  /**
   * Where in the object the problem is, as a JSON path (`spec.containers[0]`);
   * empty at the top level. Filled in by the decoder as the error leaves it.
   */
  path = '';

  constructor(
    readonly code: KubeProtobufErrorCode,
    readonly detail: string,
    details: KubeProtobufErrorDetails = {},
  ) {
    super(detail);
    this.httpStatus = KUBE_PROTOBUF_ERRORS[code][0];
    this.reason = KUBE_PROTOBUF_ERRORS[code][1];
    this.offset = details.offset;
  }

  /** Records where the error happened, once, and rewrites the message to say so. */
  locate(path: string): this {
    if (this.path === '' && path !== '') {
      this.path = path;
      this.message = `${this.detail} (at ${path})`;
    }
    return this;
  }
}

export function isKubeProtobufError(e: unknown, code?: KubeProtobufErrorCode): e is KubeProtobufError {
  return e instanceof KubeProtobufError && (code === undefined || e.code === code);
}
