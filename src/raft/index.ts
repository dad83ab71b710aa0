/**
 * skiff/raft — a pure, deterministic Raft core in the shape of etcd-io/raft's
 * RawNode, with in-memory storage. The durable LevelDB storage and the gRPC
 * transport build on these interfaces.
 */
export { RawNode, MAX_READ_CONTEXT_BYTES, type Status, type ProgressStatus } from './raw-node.js';
export { CAMPAIGN_TRANSFER, CampaignType } from './raft.js';
export {
  type RaftConfig,
  type RaftConfigInput,
  type RaftLogger,
  type RaftMutation,
  type RandomSource,
  RAFT_CONFIG_DEFAULTS,
  RAFT_CONFIG_LIMITS,
  validateConfig,
} from './config.js';
export { RaftError, type RaftErrorCode, type ProposalDroppedReason, isRaftError } from './errors.js';
export { MemoryStorage, type Storage, type InitialState } from './storage.js';
export { encodeConfChange, decodeConfChange } from './conf-change-codec.js';
export * from './types.js';
