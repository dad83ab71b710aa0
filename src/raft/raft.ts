/**
 * The Raft state machine: pure, synchronous, deterministic. It never touches a
 * disk, a socket or a clock; time is tick(), randomness is the injected source,
 * and everything it wants done comes out as messages and log changes that the
 * caller collects through RawNode.ready().
 *
 * One step function per role (stepLeader, stepCandidate, stepFollower) after a
 * common prologue in step() that handles terms. The shape follows etcd-io/raft;
 * the deviations are noted where they are made.
 */
import { assert } from '../util/assert.js';
import { Changer, isLeaveJoint, restoreConfig, type ConfigResult } from './conf-change.js';
import { decodeConfChange, encodeConfChange } from './conf-change-codec.js';
import { type RaftConfig, type RaftConfigInput, validateConfig } from './config.js';
import { type ProposalDroppedReason, RaftError, isRaftError, proposalDropped } from './errors.js';
import { RaftLog } from './log.js';
import { VoteResult } from './quorum.js';
import { ReadOnly } from './read-only.js';
import type { Storage } from './storage.js';
import { type Progress, ProgressTracker } from './tracker.js';
import {
  type ConfChange,
  ConfChangeTransition,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  ProgressState,
  type ReadState,
  type Snapshot,
  StateType,
  entriesPayloadBytes,
  isEmptyHardState,
  isEmptySnapshot,
  newMessage,
  voteResponseType,
} from './types.js';

/** Marks a vote request caused by a leadership transfer: it overrides leader stickiness. */
export const CAMPAIGN_TRANSFER: Uint8Array = new TextEncoder().encode('CampaignTransfer');

interface ConfChangeRefusal {
  reason: ProposalDroppedReason;
  detail: string;
}

export enum CampaignType {
  PreElection = 0,
  Election = 1,
  Transfer = 2,
}

const LEAVE_JOINT: ConfChange = { transition: ConfChangeTransition.Auto, changes: [], context: EMPTY_BYTES };

function isCampaignTransfer(ctx: Uint8Array | null): boolean {
  if (!ctx || ctx.length !== CAMPAIGN_TRANSFER.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

export class Raft {
  readonly id: NodeId;
  readonly cfg: RaftConfig;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;

  term = 0;
  vote: NodeId = NONE;
  state: StateType = StateType.Follower;
  lead: NodeId = NONE;
  isLearner = false;
  /** The member a leadership transfer is under way to, or NONE. */
  leadTransferee: NodeId = NONE;
  /** Index of the last conf change the leader appended; no new one until it is applied. */
  pendingConfIndex = 0;
  /** Payload bytes the leader has appended and not yet seen applied. */
  uncommittedBytes = 0;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** Confirmed linearizable read points, drained by RawNode.ready(). */
  readStates: ReadState[] = [];

  private readOnly = new ReadOnly();
  /** Read requests that arrived before the leader committed an entry of its own term. */
  private pendingReadIndexMessages: Message[] = [];
  private stepFn: (m: Message) => void = this.stepFollower;
  private tickFn: () => void = this.tickElection;

  constructor(input: RaftConfigInput, storage: Storage) {
    this.cfg = validateConfig(input);
    this.id = this.cfg.id;
    this.log = new RaftLog(storage, this.cfg.maxCommittedBytesPerReady);
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    const { hardState, confState } = storage.initialState();
    this.switchToConfig(restoreConfig(this.trk, confState, this.log.lastIndex()));
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (this.cfg.appliedIndex > 0) this.log.appliedTo(Math.min(this.cfg.appliedIndex, this.log.committed));
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: { term: number; vote: NodeId; commit: number }): void {
    assert(
      hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      `${this.id} hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  // ---------------------------------------------------------------- roles

  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = this.stepFollower;
    this.reset(term);
    this.tickFn = this.tickElection;
    this.lead = lead;
    this.state = StateType.Follower;
    this.cfg.logger.debug({ member: this.id, term, lead }, 'became follower');
  }

  private becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition leader -> pre-candidate');
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.stepFn = this.stepCandidate;
    this.trk.resetVotes();
    this.tickFn = this.tickElection;
    this.lead = NONE;
    this.state = StateType.PreCandidate;
    this.cfg.logger.debug({ member: this.id, term: this.term }, 'became pre-candidate');
  }

  private becomeCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition leader -> candidate');
    this.stepFn = this.stepCandidate;
    this.reset(this.term + 1);
    this.tickFn = this.tickElection;
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.cfg.logger.debug({ member: this.id, term: this.term }, 'became candidate');
  }

  private becomeLeader(): void {
    assert(this.state !== StateType.Follower, 'invalid transition follower -> leader');
    this.stepFn = this.stepLeader;
    this.reset(this.term);
    this.tickFn = this.tickHeartbeat;
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Entries after this point may include a conf change we cannot see as
    // applied yet; refuse new ones until everything up to here is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of our own term: committing it commits everything before
    // it (§5.4.2) and lets read index requests be served.
    this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }], true);
    this.cfg.logger.info({ member: this.id, term: this.term }, 'became leader');
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    // Our own match is what is durable here: only persisted entries count
    // toward a quorum (see advanceAppended).
    const selfMatch = this.log.unstable.snapshot ? 0 : this.log.persistedLastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.match = id === this.id ? selfMatch : 0;
      pr.next = last + 1;
      pr.state = ProgressState.Probe;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.msgAppFlowPaused = false;
      pr.inflights.reset();
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const t = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeout = t + this.cfg.random.int(t);
  }

  /** Whether this node may become leader: a voter with no snapshot pending. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.log.unstable.snapshot === null;
  }

  // ---------------------------------------------------------------- time

  tick(): void {
    this.tickFn();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(newMessage({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that has not completed within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---------------------------------------------------------------- step

  /**
   * Feeds one message to the state machine. Local proposals and read requests
   * that cannot be accepted throw a RaftError; everything else is handled or
   * ignored (the network may deliver anything, stale or duplicated).
   */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message, or a forwarded proposal / read request.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader stickiness: while we hear from a live leader, a vote request
        // comes from a node that was partitioned away; ignore it rather than
        // letting it depose the leader (Raft thesis §4.2.3).
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTimeoutTicks;
        if (inLease && !isCampaignTransfer(m.context)) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; we adopt it only if we win.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A leader from an old term, perhaps isolated while we moved on (with
        // pre-vote or check-quorum it may never learn our term otherwise):
        // answer so that it steps down.
        this.send(newMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(newMessage({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepFn(m);
    }
  }

  private handleVoteRequest(m: Message): void {
    // We can vote for m.from if we already did in this term, or have voted for
    // nobody and know no leader; a pre-vote for a future term is always possible.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const upToDate = this.cfg.mutation === 'vote-ignores-log' || this.log.isUpToDate(m.index, m.logTerm);
    const respType = voteResponseType(m.type);
    if (canVote && upToDate) {
      // The response carries the request's term so that a pre-candidate accepts it.
      this.send(newMessage({ type: respType, to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(newMessage({ type: respType, to: m.from, term: this.term, reject: true }));
    }
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    if (this.hasUnappliedConfChanges()) {
      // The configuration we would campaign under is about to change.
      this.cfg.logger.warn({ member: this.id, term: this.term }, 'cannot campaign: unapplied configuration changes');
      return;
    }
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    // Scanned in pages so that a long unapplied tail is never loaded at once.
    const hi = this.log.committed + 1;
    for (let lo = this.log.applied + 1; lo < hi; ) {
      const page = this.log.slice(lo, hi, this.cfg.maxCommittedBytesPerReady);
      for (const e of page) if (e.type === EntryType.ConfChange) return true;
      lo += page.length;
    }
    return false;
  }

  campaign(t: CampaignType): void {
    let voteMsg: MessageType;
    let term: number;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === VoteResult.Won) {
      // Only possible in a single-voter configuration.
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    const context = t === CampaignType.Transfer ? CAMPAIGN_TRANSFER : null;
    for (const id of this.trk.config.voters.ids()) {
      if (id === this.id) continue;
      this.send(newMessage({ type: voteMsg, to: id, term, index: lastIndex, logTerm: lastTerm, context }));
    }
  }

  private poll(id: NodeId, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  /**
   * Queues a message. Terms are attached here, except for vote traffic (which
   * carries its own) and forwarded proposals and read requests (term 0: the
   * receiver treats them as local).
   */
  private send(m: Message): void {
    m.from = this.id;
    const t = m.type;
    if (t === MessageType.Vote || t === MessageType.VoteResp || t === MessageType.PreVote || t === MessageType.PreVoteResp) {
      assert(m.term !== 0, `term must be set when sending ${MessageType[t]}`);
    } else {
      assert(m.term === 0, `term must not be set when sending ${MessageType[t]} (was ${m.term})`);
      if (t !== MessageType.Prop && t !== MessageType.ReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Refuses a proposal: throws to a local caller, drops a forwarded one (its sender times out). */
  private dropProposal(m: Message, reason: ProposalDroppedReason, detail: string): void {
    if (m.from === this.id || m.from === NONE) throw proposalDropped(reason, detail);
    this.cfg.logger.debug({ member: this.id, from: m.from, reason }, 'dropped forwarded proposal');
  }

  private dropReadIndex(m: Message, detail: string): void {
    if (m.from === this.id || m.from === NONE) throw new RaftError('RAFT_ERR_READ_INDEX_DROPPED', `read index dropped: ${detail}`);
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) return this.dropProposal(m, 'no-leader', `no leader at term ${this.term}`);
        if (this.cfg.disableProposalForwarding) return this.dropProposal(m, 'forwarding-disabled', `not the leader (leader is ${this.lead})`);
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) return;
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.TimeoutNow:
        // A transfer: campaign at once, without pre-vote (we are not recovering
        // from a partition, and the vote request overrides leader stickiness).
        this.hup(CampaignType.Transfer);
        return;
      case MessageType.ReadIndex:
        if (this.lead === NONE) return this.dropReadIndex(m, `no leader at term ${this.term}`);
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.ReadIndexResp:
        if (m.context) this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Mismatch: hint the largest index whose term is ≤ the leader's term at
    // m.index, so the leader can skip past a whole term of conflicting entries.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      newMessage({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(our match, its commit), so this never passes our log.
    this.log.commitTo(m.commit);
    this.send(newMessage({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s || isEmptySnapshot(s)) return;
    if (this.restore(s)) {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(newMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  /**
   * Adopts a snapshot from the leader. Returns false when it brings nothing new.
   * Unlike etcd-io/raft we accept a snapshot whose configuration does not list
   * us: a member that has just joined learns of its own addition from entries
   * after the snapshot (and cannot campaign until then).
   */
  private restore(s: Snapshot): boolean {
    const { index, term } = s.metadata;
    if (index <= this.log.committed) return false;
    assert(this.state === StateType.Follower, 'restore outside follower state');
    if (this.log.matchTerm(index, term)) {
      // We already have this prefix: just commit it.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    this.switchToConfig(restoreConfig(this.trk, s.metadata.confState, this.log.lastIndex()));
    this.cfg.logger.info({ member: this.id, term: this.term, index, snapTerm: term }, 'restored snapshot');
    return true;
  }

  // ---------------------------------------------------------------- candidate

  private stepCandidate(m: Message): void {
    const myVoteResp = this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return this.dropProposal(m, 'no-leader', `campaigning at term ${this.term}`);
      case MessageType.ReadIndex:
        return this.dropReadIndex(m, `campaigning at term ${this.term}`);
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp: {
        const res = this.poll(m.from, !m.reject);
        if (res === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) {
            this.campaign(CampaignType.Election);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.Lost) {
          // A rejected pre-vote may carry a higher term; we keep ours (pre-vote must not disturb terms).
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.trk.quorumActive(this.id)) {
          this.cfg.logger.warn({ member: this.id, term: this.term }, 'stepped down: quorum not active');
          this.becomeFollower(this.term, NONE);
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop:
        this.leaderPropose(m);
        return;
      case MessageType.ReadIndex:
        this.leaderReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        // On failure forget the snapshot so that probing restarts from match.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before the next attempt.
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.Unreachable:
        // Optimistic appends were probably lost; find the follower's position again.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m, pr);
        return;
      default:
        return;
    }
  }

  private leaderPropose(m: Message): void {
    assert(m.entries.length > 0, `${this.id} stepped an empty proposal`);
    if (!this.trk.progress.has(this.id)) {
      return this.dropProposal(m, 'not-in-configuration', `leader ${this.id} was removed from the configuration`);
    }
    if (this.leadTransferee !== NONE) {
      return this.dropProposal(m, 'leadership-transfer', `transferring leadership to ${this.leadTransferee}`);
    }
    const ents = m.entries;
    let confIndex = 0;
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (e.data.length > this.cfg.maxEntryBytes) {
        return this.dropProposal(m, 'entry-too-large', `entry of ${e.data.length} bytes exceeds maxEntryBytes ${this.cfg.maxEntryBytes}`);
      }
      if (e.type !== EntryType.ConfChange) continue;
      // Only one change may be pending, counting one accepted earlier in this batch.
      const refused: ConfChangeRefusal | null =
        confIndex !== 0 ? { reason: 'conf-change-pending', detail: 'another configuration change is in the same proposal' } : this.confChangeRefusal(e.data);
      if (refused === null) {
        confIndex = this.log.lastIndex() + i + 1;
        continue;
      }
      if (m.from === this.id || m.from === NONE) {
        // The caller's mistake gets its own code; a pending change is a refusal for now.
        if (refused.reason === 'invalid-conf-change') throw new RaftError('RAFT_ERR_INVALID_CONF_CHANGE', refused.detail, refused.reason);
        throw proposalDropped(refused.reason, refused.detail);
      }
      // A forwarded change we must refuse becomes a no-op, keeping the batch's indexes.
      ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES };
    }
    if (!this.appendEntry(ents)) {
      return this.dropProposal(m, 'uncommitted-limit', `${this.uncommittedBytes} uncommitted bytes at limit ${this.cfg.maxUncommittedBytes}`);
    }
    if (confIndex !== 0) this.pendingConfIndex = confIndex;
    this.bcastAppend();
  }

  /** Why a proposed conf change cannot be accepted now, or null if it can. */
  private confChangeRefusal(data: Uint8Array): ConfChangeRefusal | null {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(data);
    } catch (e) {
      return { reason: 'invalid-conf-change', detail: (e as Error).message };
    }
    if (this.pendingConfIndex > this.log.applied) {
      return {
        reason: 'conf-change-pending',
        detail: `a configuration change at index ${this.pendingConfIndex} is not applied yet (applied ${this.log.applied})`,
      };
    }
    const joint = this.trk.config.voters.isJoint();
    const leave = isLeaveJoint(cc);
    if (joint && !leave) return { reason: 'invalid-conf-change', detail: 'must leave the joint configuration first' };
    if (!joint && leave) return { reason: 'invalid-conf-change', detail: 'not in a joint configuration' };
    // No change is pending, so this is the configuration it will be applied to.
    try {
      new Changer(this.trk, this.log.lastIndex()).apply(cc);
    } catch (e) {
      if (isRaftError(e, 'RAFT_ERR_INVALID_CONF_CHANGE')) return { reason: 'invalid-conf-change', detail: e.message };
      throw e;
    }
    return null;
  }

  /**
   * Appends entries of the current term (copies: callers' objects are never
   * mutated). `internal` entries (the leader's own bookkeeping) bypass the
   * uncommitted-bytes limit, which is there to push back on clients.
   */
  private appendEntry(es: readonly Entry[], internal = false): boolean {
    const bytes = entriesPayloadBytes(es);
    // At least one proposal is always let through, however large.
    if (!internal && this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) return false;
    this.uncommittedBytes += bytes;
    const li = this.log.lastIndex();
    const out: Entry[] = new Array(es.length);
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      out[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    this.log.append(out);
    // Our own acknowledgement comes once these are persisted (advanceAppended).
    return true;
  }

  private leaderReadIndex(m: Message): void {
    // Until an entry of this term is committed, our commit index may be behind
    // what earlier leaders committed (§6.4 step 1): queue the request.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= this.cfg.maxPendingReadIndex) {
        return this.dropReadIndex(m, `${this.pendingReadIndexMessages.length} requests already wait for the first commit`);
      }
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.readIndexRound(m);
  }

  private readIndexRound(m: Message): void {
    if (this.readOnly.size >= this.cfg.maxPendingReadIndex) {
      return this.dropReadIndex(m, `${this.readOnly.size} read requests are already pending`);
    }
    this.readOnly.addRequest(this.log.committed, m);
    const acks = this.readOnly.recvAck(this.id, m.context);
    if (acks && this.trk.quorumOf(acks)) {
      // Single voter: our own acknowledgement is the quorum.
      this.releaseReads(m.context);
      return;
    }
    this.bcastHeartbeatWithContext(m.context);
  }

  private releaseReads(ctx: Uint8Array | null): void {
    for (const rs of this.readOnly.advance(ctx)) {
      const req = rs.req;
      if (req.from === NONE || req.from === this.id) {
        this.readStates.push({ index: rs.index, context: req.context ?? EMPTY_BYTES });
      } else {
        this.send(newMessage({ type: MessageType.ReadIndexResp, to: req.from, index: rs.index, context: req.context }));
      }
    }
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const waiting = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of waiting) {
      try {
        this.readIndexRound(m);
      } catch (e) {
        // The original caller is gone; it will time out and retry.
        if (!isRaftError(e, 'RAFT_ERR_READ_INDEX_DROPPED')) throw e;
      }
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) {
        // The follower's log at rejectHint has term logTerm; skip our entries
        // of later terms too, since they cannot match either.
        nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      }
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === ProgressState.Probe)) return;
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
      // Caught up through the snapshot (or otherwise): resume normal replication.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      this.sendAppend(m.from);
    }
    // Fill the window (bounded by the inflight limits).
    while (this.maybeSendAppend(m.from, false)) {
      /* keep sending */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // Also unsticks a follower whose inflight window filled with lost messages
    // (maybeSendAppend then sends an empty append that gets a fresh answer).
    if (pr.match < this.log.lastIndex() || pr.state === ProgressState.Probe) this.sendAppend(m.from);
    if (!m.context || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks || !this.trk.quorumOf(acks)) return;
    this.releaseReads(m.context);
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) return;
    const transferee = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout (tickHeartbeat).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.TimeoutNow, to }));
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.trk.committed(), this.term, this.cfg.mutation === 'commit-previous-term');
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next append (or a snapshot) to `to` if flow control allows.
   * Without new entries it sends only when sendIfEmpty. Returns whether a
   * message was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)!;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    assert(prevIndex <= this.log.lastIndex(), `progress of ${to} is past our log (${prevIndex} > ${this.log.lastIndex()})`);
    const prevTerm = this.log.termOrUndefined(prevIndex);
    if (prevTerm === undefined) return this.maybeSendSnapshot(to, pr);
    let ents: Entry[] = [];
    // With a full window only an empty append goes out: its answer frees the
    // window even if every message in it was lost.
    if (pr.state !== ProgressState.Replicate || !pr.inflights.full()) {
      try {
        ents = this.log.entries(pr.next, this.cfg.maxMsgBytes);
      } catch (e) {
        if (isRaftError(e, 'RAFT_ERR_COMPACTED')) return this.maybeSendSnapshot(to, pr);
        throw e;
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(newMessage({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }));
    pr.sentEntries(ents.length, entriesPayloadBytes(ents), prevIndex + ents.length);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower we have not heard from lately would probably not receive it.
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (e) {
      if (isRaftError(e, 'RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE')) return false;
      throw e;
    }
    assert(!isEmptySnapshot(snap), 'need a non-empty snapshot');
    pr.becomeSnapshot(snap.metadata.index);
    this.send(newMessage({ type: MessageType.Snap, to, snapshot: snap }));
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithContext(this.readOnly.lastPendingContext());
  }

  private bcastHeartbeatWithContext(ctx: Uint8Array | null): void {
    for (const id of this.trk.ids()) {
      if (id === this.id) continue;
      const pr = this.trk.progress.get(id)!;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send(newMessage({ type: MessageType.Heartbeat, to: id, commit, context: ctx }));
    }
  }

  // ---------------------------------------------------------------- from RawNode

  /** Entries up to (index, term) are persisted: count our own acknowledgement. */
  advanceAppended(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.state !== StateType.Leader) return;
    const self = this.trk.progress.get(this.id);
    if (!self || !this.log.matchTerm(index, term)) return;
    if (self.maybeUpdate(index) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  /** The application has applied committed entries up to index (payload bytes as given). */
  appliedTo(index: number, bytes: number): void {
    this.log.appliedTo(index);
    if (this.state !== StateType.Leader) return;
    this.uncommittedBytes = bytes >= this.uncommittedBytes ? 0 : this.uncommittedBytes - bytes;
    if (this.trk.config.autoLeave && index >= this.pendingConfIndex) {
      // The joint configuration is applied and asked to be left on its own.
      this.appendEntry([{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(LEAVE_JOINT) }], true);
      this.pendingConfIndex = this.log.lastIndex();
      this.bcastAppend();
      this.cfg.logger.info({ member: this.id, index: this.pendingConfIndex }, 'proposed leaving the joint configuration');
    }
  }

  /** The snapshot in the unstable log is persisted and applied. */
  appliedSnapshot(index: number): void {
    this.log.stableSnapTo(index);
    this.log.appliedTo(index);
  }

  /**
   * Applies a committed conf change. Every member applies the same sequence, so
   * a change that is invalid here is invalid everywhere: it is skipped, not fatal.
   */
  applyConfChange(cc: ConfChange): ConfState {
    let r: ConfigResult;
    try {
      r = new Changer(this.trk, this.log.lastIndex()).apply(cc);
    } catch (e) {
      if (!isRaftError(e, 'RAFT_ERR_INVALID_CONF_CHANGE')) throw e;
      this.cfg.logger.warn({ member: this.id, err: e.message }, 'skipped invalid configuration change');
      return this.trk.confState();
    }
    return this.switchToConfig(r);
  }

  private switchToConfig(r: ConfigResult): ConfState {
    this.trk.setConfig(r.config, r.progress);
    const cs = this.trk.confState();
    const self = this.trk.progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if ((!self || this.isLearner) && this.state === StateType.Leader) {
      // We were removed or demoted. Stepping down lets the remaining voters
      // elect a leader among themselves.
      if (this.cfg.stepDownOnRemoval) this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;
    // The quorum changed: maybe more is committed now, and new members need probing.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      for (const id of this.trk.ids()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.trk.config.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }
}
