/**
 * Every error the Raft package raises for a caller's request, with a stable
 * code. Bugs in the core itself are AssertionErrors (src/util/assert.ts).
 */
export type RaftErrorCode =
  /** A proposal was not appended; nothing about it reached the log. See `reason`. */
  | 'RAFT_ERR_PROPOSAL_DROPPED'
  /** A read index request was not accepted; retry later or elsewhere. */
  | 'RAFT_ERR_READ_INDEX_DROPPED'
  /** The requested log index is behind the last snapshot. */
  | 'RAFT_ERR_COMPACTED'
  /** The requested log index is past the end of the log. */
  | 'RAFT_ERR_UNAVAILABLE'
  /** A snapshot older than the one already held was offered. */
  | 'RAFT_ERR_SNAPSHOT_OUT_OF_DATE'
  /** The storage is preparing a snapshot; ask again later. */
  | 'RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  /** A message that only the core may generate was given to step(). */
  | 'RAFT_ERR_STEP_LOCAL_MESSAGE'
  /** A response from a node that is not in the configuration. */
  | 'RAFT_ERR_STEP_PEER_NOT_FOUND'
  | 'RAFT_ERR_INVALID_CONFIG'
  | 'RAFT_ERR_INVALID_CONF_CHANGE'
  /** A read index context must be non-empty, at most MAX_READ_CONTEXT_BYTES, and unique among pending reads. */
  | 'RAFT_ERR_INVALID_READ_CONTEXT'
  /** A message from the network could not be decoded, or came from another cluster. */
  | 'RAFT_ERR_BAD_MESSAGE'
  /** The log on disk cannot be read back (a torn or foreign file). */
  | 'RAFT_ERR_CORRUPT_LOG'
  /** The node is stopped or stopping. */
  | 'RAFT_ERR_STOPPED';

export type ProposalDroppedReason =
  | 'no-leader'
  | 'forwarding-disabled'
  | 'leadership-transfer'
  | 'uncommitted-limit'
  | 'entry-too-large'
  | 'not-in-configuration'
  | 'conf-change-pending'
  | 'invalid-conf-change'
  | 'not-leader';

export class RaftError extends Error {
  override readonly name = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    readonly reason?: ProposalDroppedReason,
  ) {
    super(message);
  }
}

export function proposalDropped(reason: ProposalDroppedReason, detail: string): RaftError {
  return new RaftError('RAFT_ERR_PROPOSAL_DROPPED', `proposal dropped (${reason}): ${detail}`, reason);
}

export function isRaftError(e: unknown, code?: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && (code === undefined || e.code === code);
}
