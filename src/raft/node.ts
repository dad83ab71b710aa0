/**
 * RaftNode: the asynchronous driver around the pure core. It owns the timer
 * (tick), the inbox (step), and the Ready loop:
 *
 *   rd = ready()
 *   send the leader's replication messages at once (Raft thesis §10.2.1: the
 *     leader counts its own log only once persisted, so this is safe)
 *   persist snapshot + entries + hard state as one batch (fsync if mustSync)
 *   send the remaining messages (votes and acknowledgements promise durable state)
 *   hand the snapshot and committed entries to the state machine, in order
 *   advance(rd)
 *
 * Proposals arriving while a batch is being synced all land in the next
 * Ready, so many proposals share one fsync (group commit).
 *
 * Linearizable reads are batched the way etcd does: requests that arrive
 * while a ReadIndex round is in flight wait for the next round (the round in
 * flight may predate writes they must see).
 */
import { EventEmitter } from 'node:events';
import { assert } from '../util/assert.js';
import { decodeConfChange } from './conf-change-codec.js';
import type { RaftConfigInput, RaftLogger } from './config.js';
import { RaftError, isRaftError } from './errors.js';
import type { LevelLogStorage } from './level-storage.js';
import { RawNode } from './raw-node.js';
import {
  type ConfChange,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  type Ready,
  type Snapshot,
  SnapshotStatus,
  type SoftState,
  StateType,
} from './types.js';

/** What the node needs from the replicated state machine. */
export interface StateMachine {
  /** Applies committed entries in log order (conf changes included, already applied to Raft). */
  apply(entries: readonly Entry[]): Promise<void>;
  /** The index of the last entry applied. */
  appliedIndex(): number;
  /** Makes the applied state durable; resolves with the index it is durable up to. */
  sync(): Promise<number>;
  /** The current state, for a follower that needs a snapshot. */
  snapshotData(maxChunkBytes: number): AsyncIterable<Uint8Array>;
  /** Stores incoming snapshot data for a following restore(). */
  receiveSnapshot(chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** Replaces the state with the received snapshot (Raft has accepted it). */
  restore(snapshot: Snapshot): Promise<void>;
}

export interface NodeTransport {
  send(messages: readonly Message[]): void;
  addPeer(id: NodeId, url: string): void;
  removePeer(id: NodeId): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  storage: LevelLogStorage;
  stateMachine: StateMachine;
  transport: NodeTransport;
  raft: Omit<RaftConfigInput, 'id' | 'appliedIndex'>;
  /** Milliseconds per Raft tick. */
  tickMs: number;
  /** Take a snapshot after this many applied entries... */
  snapshotEntries: number;
  /** ...keeping this many entries behind it for slow followers. */
  snapshotCatchUpEntries: number;
  /** Concurrent linearizable reads waiting for a ReadIndex round. */
  maxPendingReads: number;
  logger: RaftLogger;
  /** Called when a conf change is applied, with the change and the new membership. */
  onConfChange?: (cc: ConfChange, cs: ConfState) => void;
}

/** Committed batches waiting for the state machine before the loop waits for it. */
const MAX_APPLY_BATCHES_QUEUED = 64;

export interface RaftNodeEvents {
  /** Leadership or role changed. */
  soft: [SoftState & { term: number }];
  /** Committed entries were applied up to this index. */
  applied: [number];
}

interface ReadWaiter {
  resolve: (index: number) => void;
  reject: (e: Error) => void;
}

export class RaftNode extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  readonly rn: RawNode;
  private readonly o: RaftNodeOptions;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private loopPromise: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private applied = 0;
  private lastSnapshotIndex = 0;
  private confState: ConfState;
  private soft: SoftState = { lead: 0, state: StateType.Follower };
  private readonly appliedWaiters = new Map<number, (() => void)[]>();
  private pendingReads: ReadWaiter[] = [];
  private inflightRead: { ctx: string; waiters: ReadWaiter[]; ticks: number } | null = null;
  private readSeq = 0;
  private fatal: Error | null = null;
  /** Committed batches handed to the state machine, applied in order by applyWorker. */
  private readonly applyQueue: (readonly Entry[])[] = [];
  private applying: Promise<void> | null = null;
  private applyError: Error | null = null;

  constructor(options: RaftNodeOptions) {
    super();
    this.o = options;
    this.id = options.id;
    this.applied = options.stateMachine.appliedIndex();
    const snap = options.storage.snapshot();
    this.lastSnapshotIndex = snap.metadata.index;
    this.confState = snap.metadata.confState;
    // Entries the state machine already holds (it is ahead of the log's snapshot)
    // are handed out again; its apply() skips them by index.
    this.rn = new RawNode({ ...options.raft, id: options.id, logger: options.logger }, options.storage);
  }

  // ------------------------------------------------------------------ lifecycle

  start(): void {
    assert(!this.running, 'RaftNode started twice');
    this.running = true;
    this.timer = setInterval(() => {
      this.rn.tick();
      // A ReadIndex request or its answer may be lost: retry a round that
      // has waited an election timeout.
      if (this.inflightRead && ++this.inflightRead.ticks > this.rn.raft.cfg.electionTimeoutTicks) this.restartReadRound();
      this.kick();
    }, this.o.tickMs);
    this.loopPromise = this.loop();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.kick();
    await this.loopPromise;
    await this.applying?.catch(() => undefined);
    const stopped = new RaftError('RAFT_ERR_STOPPED', 'raft node stopped');
    this.failReads(stopped);
  }

  /** The error that stopped the loop, if any (the node is then unusable). */
  get error(): Error | null {
    return this.fatal;
  }

  // ------------------------------------------------------------------ requests

  /** Proposes one entry; throws RAFT_ERR_PROPOSAL_DROPPED when it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.checkRunning();
    this.rn.propose(data);
    this.kick();
  }

  proposeConfChange(cc: ConfChange): void {
    this.checkRunning();
    this.rn.proposeConfChange(cc);
    this.kick();
  }

  transferLeadership(to: NodeId): void {
    this.checkRunning();
    this.rn.transferLeadership(to);
    this.kick();
  }

  /** Steps messages from the network. */
  receive(messages: readonly Message[]): void {
    if (!this.running) return;
    for (const m of messages) {
      try {
        this.rn.step(m);
      } catch (e) {
        if (isRaftError(e)) this.o.logger.warn({ member: this.id, from: m.from, type: MessageType[m.type], err: e.message }, 'dropped a message');
        else throw e;
      }
    }
    this.kick();
  }

  reportUnreachable(peer: NodeId): void {
    if (!this.running) return;
    this.rn.reportUnreachable(peer);
    this.kick();
  }

  reportSnapshot(peer: NodeId, status: SnapshotStatus): void {
    if (!this.running) return;
    this.rn.reportSnapshot(peer, status);
    this.kick();
  }

  /**
   * A linearizable read point: resolves with an index; serve the read once
   * the state machine has applied it (waitApplied). Rejects with
   * RAFT_ERR_READ_INDEX_DROPPED when no leader is known or too many wait.
   */
  readIndex(): Promise<number> {
    this.checkRunning();
    if (this.pendingReads.length >= this.o.maxPendingReads) {
      return Promise.reject(new RaftError('RAFT_ERR_READ_INDEX_DROPPED', `${this.pendingReads.length} reads already wait`));
    }
    return new Promise<number>((resolve, reject) => {
      this.pendingReads.push({ resolve, reject });
      this.startReadRound();
    });
  }

  /** Resolves once the state machine has applied `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.appliedWaiters.get(index);
      if (list) list.push(resolve);
      else this.appliedWaiters.set(index, [resolve]);
    });
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get isLeader(): boolean {
    return this.soft.state === StateType.Leader;
  }

  get leaderId(): NodeId {
    return this.soft.lead;
  }

  get term(): number {
    return this.rn.raft.term;
  }

  get membership(): ConfState {
    return this.confState;
  }

  // ------------------------------------------------------------------ the loop

  private checkRunning(): void {
    if (!this.running) throw new RaftError('RAFT_ERR_STOPPED', 'raft node is stopped');
  }

  /** Wakes the loop (coalesced). */
  private kick(): void {
    const w = this.wake;
    if (w) {
      this.wake = null;
      w();
    }
  }

  private async loop(): Promise<void> {
    try {
      while (this.running) {
        if (this.applyError) throw this.applyError;
        if (!this.rn.hasReady()) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        await this.handleReady(this.rn.ready());
      }
    } catch (e) {
      // A failed disk or state machine leaves the node in an unknown state:
      // stop rather than risk acknowledging what is not durable.
      this.fatal = e as Error;
      this.running = false;
      if (this.timer) clearInterval(this.timer);
      this.o.logger.warn({ member: this.id, err: (e as Error).stack }, 'raft node stopped on an error');
      this.failReads(e as Error);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.soft = rd.softState;
    // Replication traffic from the leader goes out before our own fsync.
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (sendableBeforePersist(m) ? early : late).push(m);
    if (early.length > 0) this.o.transport.send(early);
    await this.o.storage.save(rd, rd.mustSync);
    if (late.length > 0) this.o.transport.send(late);
    if (rd.snapshot) {
      // Everything queued for the old state must land first; then swap.
      await this.drainApply();
      await this.o.stateMachine.restore(rd.snapshot);
      this.confState = rd.snapshot.metadata.confState;
      this.lastSnapshotIndex = rd.snapshot.metadata.index;
      this.applied = Math.max(this.applied, this.o.stateMachine.appliedIndex(), rd.snapshot.metadata.index);
    }
    for (const rs of rd.readStates) this.finishReadRound(rs.context, rs.index);
    if (rd.committedEntries.length > 0) {
      // Raft's own view of the configuration changes before advance(), as it must.
      const hasConfChange = this.applyConfChanges(rd.committedEntries);
      this.enqueueApply(rd.committedEntries);
      // The state machine applies in the background while the next Ready is
      // persisted (as etcd's applier does); a conf change is waited for, and a
      // full queue pushes back on the loop.
      if (hasConfChange || this.applyQueue.length > MAX_APPLY_BATCHES_QUEUED) await this.drainApply();
    }
    this.rn.advance(rd);
    if (rd.softState) {
      this.emit('soft', { ...rd.softState, term: this.rn.raft.term });
      // The round was addressed to the previous leader: ask again.
      if (this.inflightRead) this.restartReadRound();
    }
    await this.maybeSnapshot();
  }

  /** Applies conf changes to Raft at once; returns whether there were any. */
  private applyConfChanges(entries: readonly Entry[]): boolean {
    let any = false;
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue;
      any = true;
      const cc = decodeConfChange(e.data);
      this.confState = this.rn.applyConfChange(cc);
      this.o.onConfChange?.(cc, this.confState);
    }
    return any;
  }

  private enqueueApply(entries: readonly Entry[]): void {
    this.applyQueue.push(entries);
    if (!this.applying) this.applying = this.applyWorker();
  }

  /** Applies queued batches in order, one at a time. */
  private async applyWorker(): Promise<void> {
    try {
      while (this.applyQueue.length > 0) {
        const entries = this.applyQueue[0]!;
        await this.o.stateMachine.apply(entries);
        this.applyQueue.shift();
        // After a snapshot the state machine may be ahead of the log (it skips
        // entries it already holds): applied never moves back.
        this.applied = Math.max(this.applied, entries[entries.length - 1]!.index);
        this.notifyApplied();
      }
    } catch (e) {
      this.applyError = e as Error;
      this.kick();
    } finally {
      this.applying = null;
    }
  }

  /** Waits until everything queued is applied (rethrows an apply failure). */
  private async drainApply(): Promise<void> {
    while (this.applying) await this.applying;
    if (this.applyError) throw this.applyError;
  }

  private notifyApplied(): void {
    if (this.appliedWaiters.size === 0) return;
    for (const [index, list] of this.appliedWaiters) {
      if (index > this.applied) continue;
      this.appliedWaiters.delete(index);
      for (const f of list) f();
    }
    this.emit('applied', this.applied);
  }

  /**
   * Snapshots the log once enough entries are applied. The state machine is
   * synced first: the log may only be compacted behind durable state.
   */
  private async maybeSnapshot(): Promise<void> {
    if (this.applied - this.lastSnapshotIndex < this.o.snapshotEntries) return;
    const durable = Math.min(await this.o.stateMachine.sync(), this.applied);
    if (durable <= this.lastSnapshotIndex || durable > this.o.storage.lastIndex()) return;
    const compactTo = Math.max(durable - this.o.snapshotCatchUpEntries, 0);
    await this.o.storage.createSnapshot(durable, this.confState, EMPTY_BYTES, compactTo);
    this.lastSnapshotIndex = durable;
  }

  // ------------------------------------------------------------------ reads

  private startReadRound(): void {
    if (this.inflightRead || this.pendingReads.length === 0) return;
    const ctx = `r${this.id}.${++this.readSeq}`;
    const waiters = this.pendingReads;
    this.pendingReads = [];
    try {
      this.rn.readIndex(new TextEncoder().encode(ctx));
    } catch (e) {
      for (const w of waiters) w.reject(e as Error);
      return;
    }
    this.inflightRead = { ctx, waiters, ticks: 0 };
    this.kick();
  }

  private finishReadRound(context: Uint8Array, index: number): void {
    const ctx = new TextDecoder().decode(context);
    if (!this.inflightRead || this.inflightRead.ctx !== ctx) return;
    const { waiters } = this.inflightRead;
    this.inflightRead = null;
    for (const w of waiters) w.resolve(index);
    this.startReadRound();
  }

  /** The round was lost with the leader: retry its waiters in a fresh round. */
  private restartReadRound(): void {
    const waiters = this.inflightRead?.waiters ?? [];
    this.inflightRead = null;
    this.pendingReads = [...waiters, ...this.pendingReads];
    this.startReadRound();
  }

  private failReads(e: Error): void {
    const all = [...(this.inflightRead?.waiters ?? []), ...this.pendingReads];
    this.inflightRead = null;
    this.pendingReads = [];
    for (const w of all) w.reject(e);
  }
}

/**
 * Messages only a leader sends, which promise nothing about our own durable
 * state: they may leave before the Ready is persisted.
 */
function sendableBeforePersist(m: Message): boolean {
  return (
    m.type === MessageType.App ||
    m.type === MessageType.Heartbeat ||
    m.type === MessageType.Snap ||
    m.type === MessageType.TimeoutNow ||
    m.type === MessageType.ReadIndexResp
  );
}
