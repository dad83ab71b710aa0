/**
 * Errors of the CRI client, with stable codes. A failed call carries the gRPC
 * status the runtime answered with (`grpcCode`, `grpcDetails`); errors found
 * before a call leaves (a request skiff refuses to send) have no status.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export const CRI_ERRORS = {
  /** The runtime's socket does not answer (containerd down, wrong path). */
  CRI_ERR_UNAVAILABLE: 'container runtime unavailable',
  /** The call did not finish within its deadline. */
  CRI_ERR_DEADLINE: 'container runtime call timed out',
  /** The sandbox, container or image named does not exist. */
  CRI_ERR_NOT_FOUND: 'not found in the container runtime',
  CRI_ERR_ALREADY_EXISTS: 'already exists in the container runtime',
  /** The runtime refused the request's content. */
  CRI_ERR_INVALID_ARGUMENT: 'the container runtime refused the request',
  /** The object is in a state that does not allow the call (e.g. start of a running container). */
  CRI_ERR_FAILED_PRECONDITION: 'the container runtime refused the call in this state',
  /** The runtime does not implement the method (an older CRI version). */
  CRI_ERR_UNIMPLEMENTED: 'the container runtime does not implement this call',
  /** A message over the size limit, or the runtime out of a resource. */
  CRI_ERR_RESOURCE_EXHAUSTED: 'message size or runtime resource limit exceeded',
  /** The call was cancelled (the client closed, an abort signal). */
  CRI_ERR_CANCELLED: 'container runtime call cancelled',
  /** Any other failure the runtime reported (gRPC UNKNOWN/INTERNAL…): runc, CNI, mount errors. */
  CRI_ERR_RUNTIME: 'the container runtime failed',
  /** skiff refused to send the request: a field out of range or missing. */
  CRI_ERR_BAD_REQUEST: 'invalid CRI request',
  /** The runtime's answer lacks what the CRI specification promises. */
  CRI_ERR_BAD_RESPONSE: 'invalid CRI response',
  /** The client was closed. */
  CRI_ERR_CLOSED: 'CRI client closed',
} as const;

export type CriErrorCode = keyof typeof CRI_ERRORS;

export class CriError extends Error {
  override readonly name = 'CriError';

  constructor(
    readonly code: CriErrorCode,
    /** What failed, for logs and users (the method, the id, the runtime's own message). */
    readonly detail = '',
    /** The gRPC status code the runtime answered with, when the error came from a call. */
    readonly grpcCode: GrpcStatus | null = null,
    /** The gRPC status details string (the runtime's message). */
    readonly grpcDetails = '',
  ) {
    super(detail ? `${CRI_ERRORS[code]}: ${detail}` : CRI_ERRORS[code]);
  }
}

const BY_STATUS: Partial<Record<GrpcStatus, CriErrorCode>> = {
  [GrpcStatus.UNAVAILABLE]: 'CRI_ERR_UNAVAILABLE',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'CRI_ERR_DEADLINE',
  [GrpcStatus.NOT_FOUND]: 'CRI_ERR_NOT_FOUND',
  [GrpcStatus.ALREADY_EXISTS]: 'CRI_ERR_ALREADY_EXISTS',
  [GrpcStatus.INVALID_ARGUMENT]: 'CRI_ERR_INVALID_ARGUMENT',
  [GrpcStatus.FAILED_PRECONDITION]: 'CRI_ERR_FAILED_PRECONDITION',
  [GrpcStatus.UNIMPLEMENTED]: 'CRI_ERR_UNIMPLEMENTED',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'CRI_ERR_RESOURCE_EXHAUSTED',
  [GrpcStatus.CANCELLED]: 'CRI_ERR_CANCELLED',
};

/** The typed error for a failed call of `method`; `err` is what grpc-js handed over. */
export function criErrorFromGrpc(method: string, err: { code?: number; details?: string; message?: string }): CriError {
  const code = typeof err.code === 'number' ? (err.code as GrpcStatus) : GrpcStatus.UNKNOWN;
  const details = err.details ?? err.message ?? '';
  return new CriError(BY_STATUS[code] ?? 'CRI_ERR_RUNTIME', `${method}: ${details}`, code, details);
}

/** True when `err` is a CriError with one of `codes`. */
export function isCriError(err: unknown, ...codes: CriErrorCode[]): err is CriError {
  return err instanceof CriError && (codes.length === 0 || codes.includes(err.code));
}
