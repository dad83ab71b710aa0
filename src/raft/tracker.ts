/**
 * What the leader knows about each member's log (Progress), the window of
 * append messages in flight to it (Inflights), and the membership with its
 * vote tally (ProgressTracker).
 */
import { assert } from '../util/assert.js';
import { JointConfig, VoteResult, ascending } from './quorum.js';
import { ProgressState, type ConfState, type NodeId } from './types.js';

/**
 * A bounded ring of the last indexes of append messages not yet acknowledged,
 * with their byte sizes. Full when either bound is reached.
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: Float64Array;
  private readonly sizes: Float64Array;

  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {
    assert(maxMsgs > 0, 'Inflights: maxMsgs must be positive');
    this.indexes = new Float64Array(maxMsgs);
    this.sizes = new Float64Array(maxMsgs);
  }

  add(index: number, bytes: number): void {
    assert(this.count < this.maxMsgs, 'Inflights.add: window is full');
    const slot = (this.start + this.count) % this.maxMsgs;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ index (they were acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.indexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.maxMsgs;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  full(): boolean {
    return this.count === this.maxMsgs || this.bytes >= this.maxBytes;
  }

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

export class Progress {
  /** Highest index known to be replicated on this member. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /**
   * Sending is paused: in Probe state one append is out (wait for its answer
   * or a heartbeat response); in Replicate state the inflight window is full.
   */
  msgAppFlowPaused = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, isLearner: boolean, inflights: Inflights) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = inflights;
  }

  /**
   * A copy for a configuration change in preparation. The inflight window is
   * shared: only one of the two progress maps survives the change.
   */
  clone(): Progress {
    const p = new Progress(this.next, this.isLearner, this.inflights);
    p.match = this.match;
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.recentActive = this.recentActive;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    return p;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, probe from just past it (or past match if that is further).
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an acknowledgement of everything up to n. Returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejected append for index `rejected`, with the follower's hint
   * that its log may match up to `matchHint`. Returns false when the rejection
   * is stale (an answer to an older message) and was ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Bookkeeping after sending an append with `entries` entries totalling `bytes`, ending at lastIndex. */
  sentEntries(entries: number, bytes: number, lastIndex: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === ProgressState.Probe) {
      this.msgAppFlowPaused = true;
    }
  }

  isPaused(): boolean {
    return this.state === ProgressState.Snapshot || this.msgAppFlowPaused;
  }
}

export interface TallyResult {
  granted: number;
  rejected: number;
  result: VoteResult;
}

export class TrackerConfig {
  constructor(
    readonly voters: JointConfig = new JointConfig(),
    /** Learners that are not voters in either half. */
    readonly learners: Set<NodeId> = new Set(),
    /** Outgoing voters that become learners when the joint configuration is left. */
    readonly learnersNext: Set<NodeId> = new Set(),
    public autoLeave = false,
  ) {}

  clone(): TrackerConfig {
    return new TrackerConfig(this.voters.clone(), new Set(this.learners), new Set(this.learnersNext), this.autoLeave);
  }

  toConfState(): ConfState {
    return {
      voters: [...this.voters.incoming].sort(ascending),
      votersOutgoing: [...this.voters.outgoing].sort(ascending),
      learners: [...this.learners].sort(ascending),
      learnersNext: [...this.learnersNext].sort(ascending),
      autoLeave: this.autoLeave,
    };
  }
}

export type ProgressMap = Map<NodeId, Progress>;

export class ProgressTracker {
  config = new TrackerConfig();
  progress: ProgressMap = new Map();
  /** Member ids sorted ascending; rebuilt on every configuration change. */
  private sortedIds: NodeId[] = [];
  private readonly votes = new Map<NodeId, boolean>();
  private readonly ackedScratch = (id: NodeId): number | undefined => this.progress.get(id)?.match;

  constructor(
    readonly maxInflightMsgs: number,
    readonly maxInflightBytes: number,
  ) {}

  setConfig(config: TrackerConfig, progress: ProgressMap): void {
    this.config = config;
    this.progress = progress;
    this.sortedIds = [...progress.keys()].sort(ascending);
  }

  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, isLearner, new Inflights(this.maxInflightMsgs, this.maxInflightBytes));
  }

  /** Every member, voters and learners, in ascending id order. */
  ids(): readonly NodeId[] {
    return this.sortedIds;
  }

  committed(): number {
    return this.config.voters.committed(this.ackedScratch);
  }

  isSingleton(): boolean {
    const v = this.config.voters;
    return v.incoming.size === 1 && v.outgoing.size === 0;
  }

  isVoter(id: NodeId): boolean {
    return this.config.voters.has(id);
  }

  /** Whether a quorum has been heard from since the last check (the leader counts itself). */
  quorumActive(self: NodeId): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      votes.set(id, id === self || pr.recentActive);
    }
    return this.config.voters.voteResult(votes) === VoteResult.Won;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a member's first answer in a term is the one that counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): TallyResult {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }

  /** Whether the acknowledgements in `acks` form a quorum of the voters. */
  quorumOf(acks: ReadonlySet<NodeId>): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    return this.config.voters.voteResult(votes) === VoteResult.Won;
  }

  confState(): ConfState {
    return this.config.toConfState();
  }
}
