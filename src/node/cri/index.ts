/**
 * The CRI client of the node daemon: runtime.v1 over gRPC on containerd's
 * unix socket (our own proto/runtime/v1/api.proto). See types.ts for how the
 * wire's 64-bit integers and timestamps appear (numbers; timestamps in ms).
 */
export { CriClient, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PULL_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './client.js';
export type { CallOptions, CriClientOptions } from './client.js';
export { CRI_ERRORS, CriError, criErrorFromGrpc, isCriError } from './errors.js';
export type { CriErrorCode } from './errors.js';
export { EXEC_TIMEOUT_SECONDS_MAX, OOM_SCORE_ADJ_MAX, STOP_TIMEOUT_SECONDS_MAX } from './convert.js';
export type * from './types.js';
