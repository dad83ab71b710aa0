import { RaftError } from './errors.js';
import type { NodeId } from './types.js';

/** The only randomness the core uses: an injected, seeded source. */
export interface RandomSource {
  /** An integer in [0, n). */
  int(n: number): number;
}

/** A pino-compatible subset; the core logs rare events only (elections, config changes). */
export interface RaftLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Mutations that break the protocol on purpose. They exist so that tests can
 * prove the simulator catches real bugs; never set one outside a test.
 * - `commit-previous-term`: the leader commits entries of earlier terms by
 *   counting replicas (the bug of Raft §5.4.2 / Figure 8).
 * - `vote-ignores-log`: votes are granted without the up-to-date log check.
 */
export type RaftMutation = 'commit-previous-term' | 'vote-ignores-log';

export interface RaftConfig {
  id: NodeId;
  /** Ticks a follower waits without hearing a leader before campaigning; randomized to [t, 2t). */
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  /** The last index the application has applied (for restarts); 0 to start from the snapshot. */
  appliedIndex: number;
  /** Upper bound on the entry bytes of one append message (at least one entry is always sent). */
  maxMsgBytes: number;
  /** Upper bound on committed entry bytes handed out in one Ready. */
  maxCommittedBytesPerReady: number;
  /** The leader refuses proposals while this many entry bytes are appended but not yet applied. */
  maxUncommittedBytes: number;
  /** Largest single entry a proposal may carry. */
  maxEntryBytes: number;
  /** Append messages in flight to one follower. */
  maxInflightMsgs: number;
  /** Entry bytes in flight to one follower. */
  maxInflightBytes: number;
  /** Read index requests waiting for their heartbeat round or for the leader's first commit. */
  maxPendingReadIndex: number;
  /** A leader that has not heard from a quorum for an election timeout steps down. */
  checkQuorum: boolean;
  /** Candidates first ask whether they could win before disturbing the cluster with a new term. */
  preVote: boolean;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding: boolean;
  /** A leader removed from (or demoted in) the configuration steps down once it applies that change. */
  stepDownOnRemoval: boolean;
  random: RandomSource;
  logger: RaftLogger;
  mutation: RaftMutation | null;
}

const silentLogger: RaftLogger = { debug() {}, info() {}, warn() {} };

export const RAFT_CONFIG_DEFAULTS = Object.freeze({
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  appliedIndex: 0,
  maxMsgBytes: 1024 * 1024,
  maxCommittedBytesPerReady: 64 * 1024 * 1024,
  maxUncommittedBytes: 256 * 1024 * 1024,
  maxEntryBytes: 8 * 1024 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxPendingReadIndex: 65536,
  checkQuorum: true,
  preVote: true,
  disableProposalForwarding: false,
  stepDownOnRemoval: true,
  logger: silentLogger,
  mutation: null,
});

export type RaftConfigInput = Partial<RaftConfig> & Pick<RaftConfig, 'id' | 'random'>;

/**
 * Upper bounds that keep a misconfiguration from exhausting memory: the
 * inflight window is preallocated per follower, and read requests are queued.
 */
export const RAFT_CONFIG_LIMITS = Object.freeze({
  maxInflightMsgs: 1 << 16,
  maxPendingReadIndex: 1 << 20,
  electionTimeoutTicks: 1 << 20,
});

/**
 * Fills defaults and validates; throws RAFT_ERR_INVALID_CONFIG naming the bad
 * field. A field given as undefined takes its default, like an absent one.
 */
export function validateConfig(input: RaftConfigInput): RaftConfig {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const c: RaftConfig = { ...RAFT_CONFIG_DEFAULTS, ...given } as RaftConfig;
  const bad = (field: string, why: string): never => {
    throw new RaftError('RAFT_ERR_INVALID_CONFIG', `invalid raft config: ${field} ${why}`);
  };
  const positiveInt = (field: keyof RaftConfig, max = Number.MAX_SAFE_INTEGER): void => {
    const v = c[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) bad(field, `must be a positive integer, got ${String(v)}`);
    if ((v as number) > max) bad(field, `must be at most ${max}, got ${String(v)}`);
  };
  const bool = (field: keyof RaftConfig): void => {
    if (typeof c[field] !== 'boolean') bad(field, `must be a boolean, got ${String(c[field])}`);
  };
  positiveInt('id');
  positiveInt('electionTimeoutTicks', RAFT_CONFIG_LIMITS.electionTimeoutTicks);
  positiveInt('heartbeatIntervalTicks');
  positiveInt('maxMsgBytes');
  positiveInt('maxCommittedBytesPerReady');
  positiveInt('maxUncommittedBytes');
  positiveInt('maxEntryBytes');
  positiveInt('maxInflightMsgs', RAFT_CONFIG_LIMITS.maxInflightMsgs);
  positiveInt('maxInflightBytes');
  positiveInt('maxPendingReadIndex', RAFT_CONFIG_LIMITS.maxPendingReadIndex);
  bool('checkQuorum');
  bool('preVote');
  bool('disableProposalForwarding');
  bool('stepDownOnRemoval');
  if (!Number.isSafeInteger(c.appliedIndex) || c.appliedIndex < 0) bad('appliedIndex', 'must be a non-negative integer');
  if (c.electionTimeoutTicks <= c.heartbeatIntervalTicks) bad('electionTimeoutTicks', 'must be greater than heartbeatIntervalTicks');
  if (typeof c.random?.int !== 'function') bad('random', 'must provide int(n)');
  if (typeof c.logger?.info !== 'function' || typeof c.logger.warn !== 'function' || typeof c.logger.debug !== 'function') {
    bad('logger', 'must provide debug, info and warn');
  }
  if (c.mutation !== null && c.mutation !== 'commit-previous-term' && c.mutation !== 'vote-ignores-log') {
    bad('mutation', `unknown mutation ${String(c.mutation)}`);
  }
  return c;
}
