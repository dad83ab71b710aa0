/**
 * One simulated member: a RawNode over a MemoryStorage that mirrors a SimDisk,
 * the KV state machine, and the driver loop that honours the Ready contract
 * (persist, then sync, then send, apply, advance). A crash throws away
 * everything in memory and whatever the disk had not synced.
 */
import {
  type ConfChange,
  type ConfState,
  EntryType,
  MemoryStorage,
  type Message,
  type NodeId,
  type RaftConfigInput,
  RawNode,
  type Ready,
  decodeConfChange,
  emptyConfState,
  isRaftError,
} from '../raft/index.js';
import { assert } from '../util/assert.js';
import type { Prng } from '../util/prng.js';
import { SimDisk } from './disk.js';
import type { InvariantChecker } from './invariants.js';
import { type KvCommand, KvStateMachine, decodeCommand, encodeCommand } from './kv.js';

export type NodeStatus = 'up' | 'crashed' | 'paused' | 'removed';

export type ClientOp =
  | { kind: 'get'; key: string }
  | { kind: 'put'; key: string; value: string }
  | { kind: 'cas'; key: string; expected: string | null; value: string };

export interface ClientRequest {
  reqId: number;
  client: number;
  seq: number;
  /** Which try this is (1, 2, ...): every try has the same reqId, client and seq. */
  attempt: number;
  op: ClientOp;
}

export type Outcome =
  | { ok: true; value: string | null; casOk: boolean }
  /** Definitely did not take effect. */
  | { ok: false; reason: string };

export interface NodeEnv {
  now(): number;
  send(m: Message): void;
  reply(req: ClientRequest, outcome: Outcome): void;
  /** Calls back node.synced(incarnation) after the disk's sync latency. */
  scheduleSync(node: SimNode): void;
  checker: InvariantChecker;
  /** Bug injection: send a Ready's messages before its writes are synced. */
  sendBeforeSync: boolean;
}

export interface SnapshotPolicy {
  /** Take a snapshot after this many applied entries. */
  everyEntries: number;
  /** Entries kept behind the snapshot for slow followers. */
  keepEntries: number;
}

/** Bounds on the per-member client bookkeeping. */
const MAX_PENDING_REQUESTS = 1024;

export class SimNode {
  status: NodeStatus = 'up';
  incarnation = 0;
  rn: RawNode | null = null;
  storage: MemoryStorage | null = null;
  readonly disk = new SimDisk();
  sm = new KvStateMachine();
  /** The configuration as of the applied index (for snapshots). */
  confState: ConfState = emptyConfState();
  private persisting: Ready | null = null;
  private sentEarly = false;
  private pendingWrites = new Map<number, { req: ClientRequest; data: Uint8Array }>();
  /** Reads waiting for their ReadState (index -1) or for apply to reach it. */
  private pendingReads = new Map<string, { req: ClientRequest; index: number }>();
  /** Set when this member applied the change that removed it. */
  removedSelf = false;
  /** Events held while paused. */
  readonly pausedInbox: (() => void)[] = [];
  lastSnapshotIndex = 0;
  readyCount = 0;

  constructor(
    readonly id: NodeId,
    private readonly raftConfig: Omit<RaftConfigInput, 'id' | 'random'>,
    private readonly snapshots: SnapshotPolicy,
    private readonly env: NodeEnv,
  ) {}

  /** Writes the founding snapshot (index 1, the initial voters) durably. */
  bootstrap(voters: NodeId[]): void {
    const boot = MemoryStorage.bootstrap(voters, new KvStateMachine().snapshot());
    this.disk.write({ hardState: boot.getHardState(), entries: [], snapshot: boot.snapshot(), discardLog: true });
    this.disk.sync();
  }

  /** Starts (or restarts) the process from what the disk holds. */
  start(random: Prng): void {
    const img = this.disk.load();
    const storage = new MemoryStorage();
    this.sm = new KvStateMachine();
    this.confState = emptyConfState();
    this.lastSnapshotIndex = 0;
    if (img.snapshot) {
      storage.applySnapshot(img.snapshot);
      this.sm.restore(img.snapshot.data);
      this.confState = img.snapshot.metadata.confState;
      this.lastSnapshotIndex = img.snapshot.metadata.index;
    }
    storage.append(img.entries);
    if (img.hardState) storage.setHardState(img.hardState);
    this.storage = storage;
    this.rn = new RawNode({ ...this.raftConfig, id: this.id, random }, storage);
    this.status = 'up';
    this.incarnation++;
    this.persisting = null;
    this.pendingWrites.clear();
    this.pendingReads.clear();
  }

  /** Power loss: memory is gone, the disk keeps what was synced and maybe some of the rest. */
  crash(rng: Prng, surviveChance: number): void {
    this.disk.crash(rng, surviveChance);
    this.rn = null;
    this.storage = null;
    this.persisting = null;
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.pausedInbox.length = 0;
    this.status = 'crashed';
  }

  tick(): void {
    this.rn!.tick();
    this.pump();
  }

  receive(m: Message): void {
    this.rn!.step(m);
    this.pump();
  }

  /** A client request arrives at this member. */
  request(req: ClientRequest): void {
    const rn = this.rn!;
    if (this.pendingWrites.size + this.pendingReads.size >= MAX_PENDING_REQUESTS) {
      this.env.reply(req, { ok: false, reason: 'busy' });
      return;
    }
    try {
      if (req.op.kind === 'get') {
        rn.readIndex(requestContext(req.reqId));
        this.pendingReads.set(String(req.reqId), { req, index: -1 });
      } else {
        const cmd: KvCommand =
          req.op.kind === 'put'
            ? { id: req.reqId, client: req.client, seq: req.seq, kind: 'put', key: req.op.key, value: req.op.value }
            : { id: req.reqId, client: req.client, seq: req.seq, kind: 'cas', key: req.op.key, expected: req.op.expected, value: req.op.value };
        const data = encodeCommand(cmd);
        rn.propose(data);
        this.pendingWrites.set(req.reqId, { req, data });
      }
    } catch (e) {
      if (isRaftError(e, 'RAFT_ERR_PROPOSAL_DROPPED') || isRaftError(e, 'RAFT_ERR_READ_INDEX_DROPPED')) {
        // Thrown before anything was appended or sent: definitely no effect.
        this.env.reply(req, { ok: false, reason: e.code });
        return;
      }
      throw e;
    }
    this.pump();
  }

  transferLeadership(to: NodeId): void {
    this.rn!.transferLeadership(to);
    this.pump();
  }

  proposeConfChange(cc: ConfChange): boolean {
    try {
      this.rn!.proposeConfChange(cc);
    } catch (e) {
      if (isRaftError(e)) return false;
      throw e;
    }
    this.pump();
    return true;
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.rn!.reportSnapshot(to, ok ? 0 : 1);
    this.pump();
  }

  reportUnreachable(to: NodeId): void {
    this.rn!.reportUnreachable(to);
    this.pump();
  }

  /** Takes the next Ready if none is being persisted, and writes it. */
  pump(): void {
    if (this.status !== 'up' || this.persisting) return;
    const rn = this.rn!;
    if (!rn.hasReady()) return;
    const rd = rn.ready();
    this.readyCount++;
    this.disk.write({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, discardLog: true });
    this.sentEarly = false;
    if (this.env.sendBeforeSync && rd.messages.length > 0) {
      for (const m of rd.messages) this.env.send(m);
      this.sentEarly = true;
    }
    this.persisting = rd;
    if (rd.mustSync) this.env.scheduleSync(this);
    else this.completeReady();
  }

  /** The disk finished syncing the current Ready's writes. */
  synced(): void {
    if (this.status !== 'up' || !this.persisting) return;
    this.disk.sync();
    this.completeReady();
  }

  private completeReady(): void {
    const rd = this.persisting!;
    const rn = this.rn!;
    const storage = this.storage!;
    if (rd.snapshot) {
      storage.applySnapshot(rd.snapshot);
      this.sm.restore(rd.snapshot.data);
      this.confState = rd.snapshot.metadata.confState;
      this.lastSnapshotIndex = rd.snapshot.metadata.index;
    }
    if (rd.entries.length > 0) {
      storage.append(rd.entries);
      // Terms as persisted: the in-memory log may already have replaced these
      // entries (a newer leader's arrived while they were being written).
      this.env.checker.persisted(this.id, rd.entries, (i) => storedTerm(storage, i));
    }
    if (rd.hardState) storage.setHardState(rd.hardState);
    if (!this.sentEarly) for (const m of rd.messages) this.env.send(m);
    for (const rs of rd.readStates) {
      const p = this.pendingReads.get(new TextDecoder().decode(rs.context));
      if (p) p.index = rs.index;
    }
    this.applyEntries(rd);
    this.persisting = null;
    rn.advance(rd);
    this.serveReads();
    this.maybeSnapshot();
    this.pump();
  }

  private applyEntries(rd: Ready): void {
    const rn = this.rn!;
    for (const e of rd.committedEntries) {
      this.env.checker.applied({ id: this.id, rn, incarnation: this.incarnation }, e);
      if (e.type === EntryType.ConfChange) {
        this.applyConfChange(decodeConfChange(e.data));
        continue;
      }
      if (e.data.length === 0) continue;
      const cmd = decodeCommand(e.data);
      const applied = this.sm.apply(cmd);
      const pending = this.pendingWrites.get(cmd.id);
      if (!pending) continue;
      this.pendingWrites.delete(cmd.id);
      if (applied === null) continue; // superseded: the client has moved on
      this.env.checker.acknowledged(e.index, pending.data);
      const { result } = applied;
      this.env.reply(pending.req, { ok: true, value: null, casOk: result.kind === 'cas' ? result.ok : true });
    }
  }

  private applyConfChange(cc: ConfChange): void {
    const wasMember = isMember(this.confState, this.id);
    this.confState = this.rn!.applyConfChange(cc);
    if (wasMember && !isMember(this.confState, this.id)) this.removedSelf = true;
  }

  private serveReads(): void {
    if (this.pendingReads.size === 0) return;
    const applied = this.rn!.raft.log.applied;
    for (const [key, p] of this.pendingReads) {
      if (p.index < 0 || p.index > applied) continue;
      this.pendingReads.delete(key);
      const op = p.req.op;
      assert(op.kind === 'get');
      this.env.reply(p.req, { ok: true, value: this.sm.get(op.key), casOk: true });
    }
  }

  private maybeSnapshot(): void {
    const storage = this.storage!;
    const applied = this.rn!.raft.log.applied;
    if (applied - this.lastSnapshotIndex < this.snapshots.everyEntries) return;
    const snap = storage.createSnapshot(applied, this.confState, this.sm.snapshot());
    this.lastSnapshotIndex = applied;
    const compactTo = applied - this.snapshots.keepEntries;
    if (compactTo >= storage.firstIndex()) storage.compact(compactTo);
    this.disk.write({ hardState: null, entries: [], snapshot: snap, discardLog: false });
  }
}

function storedTerm(storage: MemoryStorage, index: number): number | undefined {
  if (index < storage.firstIndex() - 1 || index > storage.lastIndex()) return undefined;
  return storage.term(index);
}

export function requestContext(reqId: number): Uint8Array {
  return new TextEncoder().encode(String(reqId));
}

export function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || cs.votersOutgoing.includes(id) || cs.learnersNext.includes(id);
}
