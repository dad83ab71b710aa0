/**
 * The caller's handle on the Raft core, in the shape of etcd-io/raft's
 * RawNode. The protocol with the caller:
 *
 *   loop:
 *     tick() on a timer, step(m) for every message received,
 *     propose()/readIndex()/... for requests;
 *     if hasReady():
 *       rd = ready()
 *       persist rd.snapshot, rd.entries, rd.hardState (fsync when rd.mustSync)
 *       send rd.messages                      — only after persisting
 *       apply rd.snapshot and rd.committedEntries (applyConfChange for conf changes)
 *       advance(rd)
 *
 * ready() and advance() alternate; step() and tick() may be called in between.
 */
import { assert } from '../util/assert.js';
import { encodeConfChange } from './conf-change-codec.js';
import type { RaftConfigInput } from './config.js';
import { RaftError, isRaftError } from './errors.js';
import { CampaignType, Raft } from './raft.js';
import type { Storage } from './storage.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  MessageType,
  type Message,
  NONE,
  type NodeId,
  ProgressState,
  type Ready,
  type SoftState,
  SnapshotStatus,
  StateType,
  entriesPayloadBytes,
  hardStateEqual,
  isLocalMessage,
  isResponseMessage,
  newMessage,
} from './types.js';

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  isLearner: boolean;
  recentActive: boolean;
  inflightMsgs: number;
}

export interface Status {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  leadTransferee: NodeId;
  config: ConfState;
  /** Only on the leader. */
  progress: Map<NodeId, ProgressStatus> | null;
}

/** Read contexts are request ids; a bound keeps a heartbeat small. */
export const MAX_READ_CONTEXT_BYTES = 256;

export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private readyOutstanding = false;

  constructor(config: RaftConfigInput, storage: Storage) {
    this.raft = new Raft(config, storage);
    this.prevSoftState = this.softState();
    this.prevHardState = this.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Advances logical time by one tick (elections and heartbeats are counted in ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.Hup, from: this.raft.id }));
  }

  /** Proposes one entry. Throws RAFT_ERR_PROPOSAL_DROPPED when it cannot be appended or forwarded. */
  propose(data: Uint8Array): void {
    this.raft.step(
      newMessage({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }),
    );
  }

  /** Proposes several entries as one batch (they are appended together or not at all). */
  proposeBatch(datas: readonly Uint8Array[]): void {
    if (datas.length === 0) return;
    const entries: Entry[] = new Array(datas.length);
    for (let i = 0; i < datas.length; i++) entries[i] = { term: 0, index: 0, type: EntryType.Normal, data: datas[i]! };
    this.raft.step(newMessage({ type: MessageType.Prop, from: this.raft.id, entries }));
  }

  /**
   * Proposes a membership change. On the leader it is checked against the
   * current configuration first (RAFT_ERR_INVALID_CONF_CHANGE); a second
   * change while one is pending is refused (RAFT_ERR_PROPOSAL_DROPPED).
   */
  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.raft.step(newMessage({ type: MessageType.Prop, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }] }));
  }

  /** Applies a committed conf change; call it while applying that entry. Returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Feeds a message from the network. Stale, duplicated and reordered messages
   * are expected and handled; responses from non-members are ignored.
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) {
      throw new RaftError('RAFT_ERR_STEP_LOCAL_MESSAGE', `${MessageType[m.type]} may not come from the network`);
    }
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) return;
    try {
      this.raft.step(m);
    } catch (e) {
      // A proposal or read request that bounced back to its origin: the
      // original caller already returned and will time out.
      if (isRaftError(e, 'RAFT_ERR_PROPOSAL_DROPPED') || isRaftError(e, 'RAFT_ERR_READ_INDEX_DROPPED')) return;
      throw e;
    }
  }

  /**
   * Requests a linearizable read point. The answer arrives as a ReadState with
   * the same context in a later Ready; serve the read once applied ≥ its index.
   * The context must be unique among pending reads (a duplicate is merged with
   * the first). Throws RAFT_ERR_READ_INDEX_DROPPED when no leader is known or
   * limits are hit, RAFT_ERR_INVALID_READ_CONTEXT for an empty or huge context.
   */
  readIndex(context: Uint8Array): void {
    // The context is how the answer is matched to the request, and a
    // heartbeat round is keyed by it: it must identify this request alone.
    if (context.length === 0 || context.length > MAX_READ_CONTEXT_BYTES) {
      throw new RaftError('RAFT_ERR_INVALID_READ_CONTEXT', `a read context must have 1 to ${MAX_READ_CONTEXT_BYTES} bytes, got ${context.length}`);
    }
    this.raft.step(newMessage({ type: MessageType.ReadIndex, from: this.raft.id, context }));
  }

  /** Asks the leader to hand leadership to `transferee` (ignored if not possible). */
  transferLeadership(transferee: NodeId): void {
    // The transferee travels in `from`: on a follower the request is forwarded
    // to the leader with from rewritten, so only a leader call names others.
    if (this.raft.state === StateType.Leader || transferee === this.raft.id) {
      this.raft.step(newMessage({ type: MessageType.TransferLeader, from: transferee, to: this.raft.id, term: 0 }));
    }
  }

  /** The transport could not deliver to `id`: optimistic replication to it pauses. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.Unreachable, from: id }));
  }

  /** The outcome of sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.raft.step(newMessage({ type: MessageType.SnapStatus, from: id, reject: status === SnapshotStatus.Failure }));
  }

  hasReady(): boolean {
    const r = this.raft;
    if (this.readyOutstanding) return false;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    const u = r.log.unstable;
    if (u.entries.length > 0 || u.snapshot !== null) return true;
    if (r.log.hasNextCommittedEnts()) return true;
    if (r.lead !== this.prevSoftState.lead || r.state !== this.prevSoftState.state) return true;
    const hs = this.prevHardState;
    return r.term !== hs.term || r.vote !== hs.vote || r.log.committed !== hs.commit;
  }

  /** Collects what the caller must do now. Must be followed by advance() before the next ready(). */
  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    const r = this.raft;
    const ss = this.softState();
    const hs = this.hardState();
    const softChanged = ss.lead !== this.prevSoftState.lead || ss.state !== this.prevSoftState.state;
    const hardChanged = !hardStateEqual(hs, this.prevHardState);
    const rd: Ready = {
      softState: softChanged ? ss : null,
      hardState: hardChanged ? hs : null,
      readStates: r.readStates,
      entries: r.log.unstableEntries(),
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEnts(),
      messages: r.msgs,
      // Term and vote must be durable before a vote is answered; a commit index
      // alone can be recovered, so it does not force a sync.
      mustSync: false,
    };
    rd.mustSync =
      rd.entries.length > 0 || rd.snapshot !== null || (hardChanged && (hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote));
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoftState = ss;
    if (hardChanged) this.prevHardState = hs;
    this.readyOutstanding = true;
    return rd;
  }

  /** Tells the core that everything in `rd` was persisted, sent and applied. */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without ready()');
    this.readyOutstanding = false;
    const r = this.raft;
    if (rd.snapshot) r.appliedSnapshot(rd.snapshot.metadata.index);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.advanceAppended(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      const last = rd.committedEntries[rd.committedEntries.length - 1]!;
      r.appliedTo(last.index, entriesPayloadBytes(rd.committedEntries));
    }
  }

  status(): Status {
    const r = this.raft;
    let progress: Map<NodeId, ProgressStatus> | null = null;
    if (r.state === StateType.Leader) {
      progress = new Map();
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          inflightMsgs: pr.inflights.size,
        });
      }
    }
    return {
      id: r.id,
      hardState: this.hardState(),
      softState: this.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      leadTransferee: r.leadTransferee,
      config: r.trk.confState(),
      progress,
    };
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, state: this.raft.state };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }
}

export { CampaignType, NONE };
