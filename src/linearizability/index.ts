export {
  checkOperations,
  describeFailure,
  LinearizabilityError,
  DEFAULT_MAX_STEPS,
  DEFAULT_MAX_MEMO_BYTES,
} from './checker.js';
export type {
  Operation,
  Model,
  CheckVerdict,
  CheckOptions,
  CheckFailure,
  CheckResult,
  LinearizabilityErrorCode,
} from './checker.js';
export { kvModel } from './kv-model.js';
export type { KvInput, KvOutput, KvState, KvOperation } from './kv-model.js';
