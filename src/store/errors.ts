/**
 * Every error the store returns to a client, with a stable skiff code, the
 * gRPC status code and the exact message etcd uses for it (clients such as
 * etcdctl and client libraries match on these messages).
 */

/** gRPC status codes (the numeric values of google.rpc.Code). */
export enum GrpcCode {
  OK = 0,
  Cancelled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

export const STORE_ERRORS = {
  STORE_ERR_EMPTY_KEY: [GrpcCode.InvalidArgument, 'etcdserver: key is not provided'],
  STORE_ERR_KEY_NOT_FOUND: [GrpcCode.InvalidArgument, 'etcdserver: key not found'],
  STORE_ERR_VALUE_PROVIDED: [GrpcCode.InvalidArgument, 'etcdserver: value is provided'],
  STORE_ERR_LEASE_PROVIDED: [GrpcCode.InvalidArgument, 'etcdserver: lease is provided'],
  STORE_ERR_TOO_MANY_OPS: [GrpcCode.InvalidArgument, 'etcdserver: too many operations in txn request'],
  STORE_ERR_DUPLICATE_KEY: [GrpcCode.InvalidArgument, 'etcdserver: duplicate key given in txn request'],
  STORE_ERR_COMPACTED: [GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision has been compacted'],
  STORE_ERR_FUTURE_REV: [GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision is a future revision'],
  STORE_ERR_NO_SPACE: [GrpcCode.ResourceExhausted, 'etcdserver: mvcc: database space exceeded'],
  STORE_ERR_LEASE_NOT_FOUND: [GrpcCode.NotFound, 'etcdserver: requested lease not found'],
  STORE_ERR_LEASE_EXIST: [GrpcCode.FailedPrecondition, 'etcdserver: lease already exists'],
  STORE_ERR_LEASE_TTL_TOO_LARGE: [GrpcCode.OutOfRange, 'etcdserver: too large lease TTL'],
  STORE_ERR_MEMBER_EXIST: [GrpcCode.FailedPrecondition, 'etcdserver: member ID already exist'],
  STORE_ERR_PEER_URL_EXIST: [GrpcCode.FailedPrecondition, 'etcdserver: Peer URLs already exists'],
  STORE_ERR_MEMBER_NOT_ENOUGH_STARTED: [GrpcCode.FailedPrecondition, 'etcdserver: re-configuration failed due to not enough started members'],
  STORE_ERR_MEMBER_BAD_URLS: [GrpcCode.InvalidArgument, 'etcdserver: given member URLs are invalid'],
  STORE_ERR_MEMBER_NOT_FOUND: [GrpcCode.NotFound, 'etcdserver: member not found'],
  STORE_ERR_MEMBER_NOT_LEARNER: [GrpcCode.FailedPrecondition, 'etcdserver: can only promote a learner member'],
  STORE_ERR_LEARNER_NOT_READY: [GrpcCode.FailedPrecondition, 'etcdserver: can only promote a learner member which is in sync with leader'],
  STORE_ERR_TOO_MANY_LEARNERS: [GrpcCode.FailedPrecondition, 'etcdserver: too many learner members in cluster'],
  STORE_ERR_REQUEST_TOO_LARGE: [GrpcCode.InvalidArgument, 'etcdserver: request is too large'],
  STORE_ERR_TOO_MANY_REQUESTS: [GrpcCode.ResourceExhausted, 'etcdserver: too many requests'],
  STORE_ERR_NO_LEADER: [GrpcCode.Unavailable, 'etcdserver: no leader'],
  STORE_ERR_NOT_LEADER: [GrpcCode.FailedPrecondition, 'etcdserver: not leader'],
  STORE_ERR_LEADER_CHANGED: [GrpcCode.Unavailable, 'etcdserver: leader changed'],
  STORE_ERR_STOPPED: [GrpcCode.Unavailable, 'etcdserver: server stopped'],
  STORE_ERR_TIMEOUT: [GrpcCode.Unavailable, 'etcdserver: request timed out'],
  STORE_ERR_TIMEOUT_LEADER_FAIL: [GrpcCode.Unavailable, 'etcdserver: request timed out, possibly due to previous leader failure'],
  STORE_ERR_UNHEALTHY: [GrpcCode.Unavailable, 'etcdserver: unhealthy cluster'],
  STORE_ERR_NOT_SUPPORTED_FOR_LEARNER: [GrpcCode.Unavailable, 'etcdserver: rpc not supported for learner'],
  STORE_ERR_BAD_LEADER_TRANSFEREE: [GrpcCode.FailedPrecondition, 'etcdserver: bad leader transferee'],
  /** skiff keeps int64 values within 2^53 (JavaScript numbers); larger ones are refused. */
  STORE_ERR_INT64_RANGE: [GrpcCode.InvalidArgument, 'skiff: integer value exceeds 2^53-1'],
  /** A fenced write of a leader whose term is over (see StoreCommand.fencedTxn). */
  STORE_ERR_FENCED: [GrpcCode.FailedPrecondition, 'skiff: write fenced: the leadership it was made under has ended'],
} as const satisfies Record<string, readonly [GrpcCode, string]>;

export type StoreErrorCode = keyof typeof STORE_ERRORS;

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly grpcCode: GrpcCode;

  constructor(
    readonly code: StoreErrorCode,
    /** Extra detail for logs; the client sees etcd's message only. */
    readonly detail?: string,
  ) {
    super(STORE_ERRORS[code][1]);
    this.grpcCode = STORE_ERRORS[code][0];
  }
}

export function isStoreError(e: unknown, code?: StoreErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}
