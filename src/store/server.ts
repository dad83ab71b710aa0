/**
 * One member of the replicated store: Raft (durable log, peer transport,
 * driver) under the MVCC state machine, with the request paths etcd's API
 * needs. Any member accepts any request: writes are proposed (Raft forwards
 * a follower's proposal to the leader), linearizable reads wait for a
 * ReadIndex round and then read locally, and lease keep-alives are answered
 * by the leader's clock (a follower forwards them).
 *
 * Data directory: member/raft (the log), member/state (MVCC), member/meta.json
 * (ids), member/members.json (the member table).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type RaftLogger,
  StateType,
  isRaftError,
} from '../raft/index.js';
import { LevelLogStorage } from '../raft/level-storage.js';
import { RaftNode } from '../raft/node.js';
import { GrpcTransport, type TlsFiles, fetchMembers } from '../raft/transport/grpc-transport.js';
import { Prng } from '../util/prng.js';
import { encodeCommand } from './command-codec.js';
import { StoreError, isStoreError } from './errors.js';
import { Lessor } from './lessor.js';
import {
  type MemberInfo,
  type MemberTable,
  clusterIdOf,
  encodeMemberContext,
  hashId,
  initialMemberId,
} from './members.js';
import type { Watcher, WatchRequest } from './mvcc/index.js';
import { type AppliedCommand, StoreStateMachine } from './state-machine.js';
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Lease,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  StoreCommand,
  StoreResult,
  TxnRequest,
  TxnResponse,
} from './types.js';

export interface InitialMember {
  name: string;
  peerURLs: string[];
}

export interface StoreServerOptions {
  name: string;
  dataDir: string;
  /** The founding members (etcd's --initial-cluster). */
  initialCluster: InitialMember[];
  initialClusterState: 'new' | 'existing';
  clusterToken: string;
  /** host:port for the peer transport. */
  listenPeer: string;
  advertisePeerURLs: string[];
  advertiseClientURLs: string[];
  heartbeatMs: number;
  electionTimeoutMs: number;
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  quotaBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  /** Proposals and reads waiting at once on this member. */
  maxPendingRequests: number;
  requestTimeoutMs: number;
  peerTls?: TlsFiles;
  logger: RaftLogger & { error?(obj: object, msg: string): void };
  /** Forwards a keep-alive (or time-to-live) to the leader's client URL; set by the API layer. */
  forwardToLeader?: LeaderForwarder;
  /** Observes each proposal's time from proposing to applied here (seconds). */
  onProposal?: (seconds: number) => void;
}

export interface LeaderForwarder {
  keepAlive(clientURL: string, id: number): Promise<number>;
  timeToLive(clientURL: string, id: number, keys: boolean): Promise<LeaseTimeToLive>;
  promote(clientURL: string, id: number): Promise<void>;
}

export const STORE_SERVER_DEFAULTS = Object.freeze({
  heartbeatMs: 100,
  electionTimeoutMs: 1000,
  snapshotCount: 10_000,
  snapshotCatchUpEntries: 5_000,
  quotaBytes: 2 * 1024 ** 3,
  maxRequestBytes: 1.5 * 1024 * 1024,
  maxTxnOps: 128,
  maxPendingRequests: 10_000,
  requestTimeoutMs: 7_000,
});

export interface LeaseTimeToLive {
  id: number;
  ttl: number;
  grantedTtl: number;
  keys: Uint8Array[];
}

export interface MemberStatus {
  memberId: number;
  clusterId: number;
  leader: number;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
  revision: number;
  compactRevision: number;
  dbSize: number;
  isLearner: boolean;
  errors: string[];
}

interface Waiter {
  resolve: (r: StoreResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** process.hrtime.bigint() when proposed, for the proposal latency metric. */
  startedNs: bigint;
}

interface Meta {
  memberId: number;
  clusterId: number;
  name: string;
  /** For a joining member: the table an existing member gave it. */
  seedMembers?: MemberInfo[];
}

const LEASE_SWEEP_MS = 500;
const LEASE_CHECKPOINT_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class StoreServer {
  readonly memberId: number;
  readonly clusterId: number;
  readonly name: string;
  readonly raft: RaftNode;
  readonly transport: GrpcTransport;
  private readonly sm: StoreStateMachine;
  readonly storage: LevelLogStorage;
  private readonly lessor: Lessor;
  private readonly o: StoreServerOptions;
  private readonly waiters = new Map<number, Waiter>();
  private nextRequestId: number;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly memberListeners = new Set<() => void>();
  private readonly removedListeners = new Set<() => void>();
  private removedNotified = false;

  private constructor(o: StoreServerOptions, meta: Meta, storage: LevelLogStorage, sm: StoreStateMachine, transport: GrpcTransport, lessor: Lessor) {
    this.o = o;
    this.memberId = meta.memberId;
    this.clusterId = meta.clusterId;
    this.name = meta.name;
    this.sm = sm;
    this.storage = storage;
    this.transport = transport;
    this.lessor = lessor;
    // Request ids must be unique across members (entries from everyone are
    // applied here): start from a random point in a 2^52 space.
    this.nextRequestId = 1 + Math.floor(Math.random() * 2 ** 51);
    const ticks = (ms: number) => Math.max(1, Math.round(ms / o.heartbeatMs));
    this.raft = new RaftNode({
      id: meta.memberId,
      storage,
      stateMachine: sm,
      transport,
      raft: {
        random: new Prng(Math.floor(Math.random() * 2 ** 32)),
        electionTimeoutTicks: Math.max(ticks(o.electionTimeoutMs), 2),
        heartbeatIntervalTicks: 1,
        maxEntryBytes: o.maxRequestBytes + 4096,
      },
      tickMs: o.heartbeatMs,
      snapshotEntries: o.snapshotCount,
      snapshotCatchUpEntries: o.snapshotCatchUpEntries,
      maxPendingReads: o.maxPendingRequests,
      logger: o.logger,
      onConfChange: () => this.syncPeers(),
    });
    this.raft.on('soft', (s) => this.onSoftState(s.state));
  }

  /** Opens (or creates) the member's data and joins or forms the cluster. Call start() next. */
  static async open(options: Partial<StoreServerOptions> & Pick<StoreServerOptions, 'name' | 'dataDir' | 'initialCluster' | 'listenPeer' | 'advertisePeerURLs' | 'advertiseClientURLs' | 'logger'>): Promise<StoreServer> {
    const o: StoreServerOptions = { initialClusterState: 'new', clusterToken: 'skiff-cluster', ...STORE_SERVER_DEFAULTS, ...options } as StoreServerOptions;
    const dir = join(o.dataDir, 'member');
    await mkdir(dir, { recursive: true });
    const storage = await LevelLogStorage.open(join(dir, 'raft'));
    const meta = await loadOrCreateMeta(dir, o, storage);
    let server!: StoreServer;
    const sm = await StoreStateMachine.open({
      stateDir: join(dir, 'state'),
      membersFile: join(dir, 'members.json'),
      mvcc: { quotaBytes: o.quotaBytes },
      onApplied: (a) => server.onApplied(a),
      onMembersChanged: () => server.onMembersChanged(),
    });
    if (sm.members.list().length === 0 && meta.seedMembers) {
      for (const m of meta.seedMembers) sm.members.set(m);
      await sm.members.save(join(dir, 'members.json'));
    } else if (sm.members.list().length === 0) {
      // A founding member's table starts as the initial cluster.
      for (const m of o.initialCluster) {
        const id = initialMemberId(m.name, m.peerURLs, o.clusterToken);
        // Client URLs are published through the log (publishAttributes), so that
        // every member's table is the same.
        sm.members.set({ id, name: m.name, peerURLs: m.peerURLs, clientURLs: [], isLearner: false });
      }
      await sm.members.save(join(dir, 'members.json'));
    }
    const lessor = new Lessor({ minTtlSeconds: Math.ceil((1.5 * o.electionTimeoutMs) / 1000), maxTtlSeconds: 9_000_000_000, maxRevokesPerSweep: 500, now: Date.now });
    const transport = new GrpcTransport({
      id: meta.memberId,
      clusterId: meta.clusterId,
      listen: o.listenPeer,
      tls: o.peerTls,
      logger: o.logger,
      handler: {
        onMessages: (msgs) => server.raft.receive(msgs),
        onSnapshot: async (m, chunks) => {
          await server.sm.receiveSnapshot(chunks);
          server.raft.receive([m]);
        },
        snapshotData: (_m, max) => server.sm.snapshotData(max),
        reportUnreachable: (p) => server.raft.reportUnreachable(p),
        reportSnapshot: (p, s) => server.raft.reportSnapshot(p, s),
        members: () => new TextEncoder().encode(JSON.stringify(server.sm.members.data())),
        isRemoved: (id) => server.sm.members.isRemoved(id),
        onRemovedByPeer: () => server.removedByPeer(),
      },
    });
    server = new StoreServer(o, meta, storage, sm, transport, lessor);
    return server;
  }

  async start(): Promise<void> {
    await this.transport.start();
    this.syncPeers();
    this.raft.start();
    this.timers.push(setInterval(() => void this.sweepLeases(), LEASE_SWEEP_MS));
    this.timers.push(setInterval(() => void this.checkpointLeases(), LEASE_CHECKPOINT_MS));
    for (const t of this.timers) t.unref();
    void this.publishAttributes();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // As etcd: a leader hands over first, so that a clean stop costs no election.
    await this.transferLeadershipBeforeStop().catch(() => undefined);
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.raft.stop();
    await this.transport.close();
    for (const [, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new StoreError('STORE_ERR_STOPPED'));
    }
    this.waiters.clear();
    await this.sm.close();
    await this.storage.close();
  }

  // ------------------------------------------------------------------ state

  get revision(): number {
    return this.sm.mvcc.revision;
  }

  /** The latest revision, linearizably (a ReadIndex round, no LevelDB read). */
  async linearizableRevision(): Promise<number> {
    this.refuseOnLearner();
    await this.linearizableBarrier();
    return this.sm.mvcc.revision;
  }

  get isLeader(): boolean {
    return this.raft.isLeader;
  }

  get leaderId(): number {
    return this.raft.leaderId;
  }

  get term(): number {
    return this.raft.term;
  }

  /** Watchers registered on this member. */
  watchers(): number {
    return this.sm.mvcc.watchStats().watchers;
  }

  get quotaBytes(): number {
    return this.o.quotaBytes;
  }

  /** Lets the API layer plug in how a follower reaches the leader. */
  setForwarder(f: LeaderForwarder): void {
    this.o.forwardToLeader = f;
  }

  members(): MemberInfo[] {
    return this.sm.members.list();
  }

  /** Calls `f` whenever the member table changes; returns the unsubscribe function. */
  onMembers(f: () => void): () => void {
    this.memberListeners.add(f);
    return () => this.memberListeners.delete(f);
  }

  status(): MemberStatus {
    const r = this.raft.rn.raft;
    const me = this.sm.members.get(this.memberId);
    return {
      memberId: this.memberId,
      clusterId: this.clusterId,
      leader: this.raft.leaderId,
      raftTerm: r.term,
      raftIndex: r.log.committed,
      raftAppliedIndex: this.raft.appliedIndex,
      revision: this.sm.mvcc.revision,
      compactRevision: this.sm.mvcc.compactRevision,
      dbSize: this.sm.mvcc.dbSizeBytes(),
      isLearner: me?.isLearner ?? false,
      errors: this.raft.error ? [this.raft.error.message] : [],
    };
  }

  // ------------------------------------------------------------------ KV

  async range(req: RangeRequest): Promise<RangeResponse> {
    if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    if (!req.serializable) {
      this.refuseOnLearner();
      await this.linearizableBarrier();
    }
    return this.sm.mvcc.range(req);
  }

  async put(req: PutRequest): Promise<PutResponse> {
    if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    if (req.ignoreValue && req.value.length > 0) throw new StoreError('STORE_ERR_VALUE_PROVIDED');
    if (req.ignoreLease && req.lease !== 0) throw new StoreError('STORE_ERR_LEASE_PROVIDED');
    return ((await this.propose({ put: req })) as { put: PutResponse }).put;
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    return ((await this.propose({ deleteRange: req })) as { deleteRange: DeleteRangeResponse }).deleteRange;
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    checkTxn(req, this.o.maxTxnOps);
    return ((await this.propose({ txn: req })) as { txn: TxnResponse }).txn;
  }

  /**
   * A txn that takes effect only under the leadership of Raft term `term`:
   * refused at once here if this member is not the leader of that term, and
   * by every member at apply if the entry was appended in another term (a
   * deposed leader's write that reached the new leader). For the control
   * loops that run on the leader.
   */
  async fencedTxn(term: number, req: TxnRequest): Promise<TxnResponse> {
    checkTxn(req, this.o.maxTxnOps);
    if (!this.raft.isLeader || this.term !== term) throw new StoreError('STORE_ERR_FENCED');
    return ((await this.propose({ fencedTxn: { term, txn: req } })) as { txn: TxnResponse }).txn;
  }

  async compact(req: CompactionRequest): Promise<CompactionResponse> {
    const r = ((await this.propose({ compaction: req })) as { compaction: CompactionResponse }).compaction;
    if (req.physical) await this.sm.mvcc.waitCompacted(req.revision);
    return r;
  }

  watch(req: WatchRequest): Watcher {
    return this.sm.mvcc.watch(req);
  }

  hashKV(revision: number): Promise<{ hash: number; compactRevision: number }> {
    return this.sm.mvcc.hashKV(revision);
  }

  /** The whole state, for Maintenance.Snapshot. */
  async snapshot(): Promise<{ revision: number; chunks: AsyncIterable<Uint8Array> }> {
    const s = await this.sm.mvcc.snapshot();
    return { revision: s.revision, chunks: s.chunks };
  }

  // ------------------------------------------------------------------ leases

  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const ttl = this.lessor.effectiveTtl(req.ttl);
    // The member receiving the grant picks the id (unique across members like request ids).
    const id = req.id !== 0 ? req.id : this.newRequestId();
    const r = (await this.propose({ leaseGrant: { id, ttl } })) as { leaseGrant: LeaseGrantResponse };
    return r.leaseGrant;
  }

  async leaseRevoke(id: number): Promise<LeaseRevokeResponse> {
    return ((await this.propose({ leaseRevoke: { id } })) as { leaseRevoke: LeaseRevokeResponse }).leaseRevoke;
  }

  /** Renews a lease; returns its TTL. On a follower, asks the leader. */
  async leaseKeepAlive(id: number): Promise<number> {
    if (this.raft.isLeader) return this.lessor.keepAlive(id);
    return this.withLeader((url) => this.forwarder().keepAlive(url, id));
  }

  async leaseTimeToLive(id: number, keys: boolean): Promise<LeaseTimeToLive> {
    if (!this.raft.isLeader) return this.withLeader((url) => this.forwarder().timeToLive(url, id, keys));
    const l = this.sm.mvcc.lease(id);
    if (!l) return { id, ttl: -1, grantedTtl: 0, keys: [] };
    return { id, ttl: this.lessor.remainingSeconds(id), grantedTtl: l.ttl, keys: keys ? l.keys : [] };
  }

  async leases(): Promise<Lease[]> {
    await this.linearizableBarrier();
    return this.sm.mvcc.leases();
  }

  // ------------------------------------------------------------------ members

  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<MemberInfo> {
    for (const u of peerURLs) if (!/^https?:\/\/[^/]+:\d+\/?$/.test(u)) throw new StoreError('STORE_ERR_MEMBER_BAD_URLS', u);
    if (peerURLs.length === 0) throw new StoreError('STORE_ERR_MEMBER_BAD_URLS', 'no peer URL');
    for (const u of peerURLs) if (this.sm.members.findByPeerURL(u)) throw new StoreError('STORE_ERR_PEER_URL_EXIST', u);
    let id = hashId('added', peerURLs.join(','), String(Date.now()), String(Math.random()));
    while (this.sm.members.get(id) || this.sm.members.isRemoved(id)) id = hashId(String(id), 'again');
    const type = isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter;
    await this.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type, nodeId: id }], context: encodeMemberContext({ id, name: '', peerURLs, clientURLs: [] }) }, () => this.sm.members.get(id) !== undefined);
    return this.sm.members.get(id)!;
  }

  async memberRemove(id: number): Promise<void> {
    if (!this.sm.members.get(id)) throw new StoreError('STORE_ERR_MEMBER_NOT_FOUND', String(id));
    await this.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.RemoveNode, nodeId: id }], context: new Uint8Array(0) }, () => this.sm.members.get(id) === undefined);
  }

  async memberUpdate(id: number, peerURLs: string[]): Promise<void> {
    const m = this.sm.members.get(id);
    if (!m) throw new StoreError('STORE_ERR_MEMBER_NOT_FOUND', String(id));
    const type = m.isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter;
    const same = (x: string[]) => x.length === peerURLs.length && x.every((u, i) => u === peerURLs[i]);
    await this.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type, nodeId: id }], context: encodeMemberContext({ id, name: m.name, peerURLs, clientURLs: m.clientURLs }) }, () => same(this.sm.members.get(id)?.peerURLs ?? []));
  }

  async memberPromote(id: number): Promise<void> {
    const m = this.sm.members.get(id);
    if (!m) throw new StoreError('STORE_ERR_MEMBER_NOT_FOUND', String(id));
    if (!m.isLearner) throw new StoreError('STORE_ERR_MEMBER_NOT_LEARNER');
    if (!this.raft.isLeader) return this.withLeader((url) => this.forwarder().promote(url, id));
    // As etcd: only a learner that holds nearly everything committed may vote.
    const pr = this.raft.rn.status().progress?.get(id);
    const committed = this.raft.rn.raft.log.committed;
    if (!pr || pr.match < committed * 0.9) throw new StoreError('STORE_ERR_LEARNER_NOT_READY');
    await this.proposeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddVoter, nodeId: id }], context: new Uint8Array(0) }, () => this.sm.members.get(id)?.isLearner === false);
  }

  /**
   * If this member leads, hands leadership to the most caught-up voter and
   * waits (up to an election timeout) until another member leads.
   */
  private async transferLeadershipBeforeStop(): Promise<void> {
    const st = this.raft.rn.status();
    if (!this.raft.isLeader || !st.progress) return;
    let best = 0;
    let bestMatch = -1;
    for (const [id, pr] of st.progress) {
      if (id === this.memberId || pr.isLearner || !st.config.voters.includes(id)) continue;
      if (pr.match > bestMatch) [best, bestMatch] = [id, pr.match];
    }
    if (best === 0) return;
    this.o.logger.info({ member: this.memberId, to: best }, 'handing leadership over before stopping');
    this.raft.transferLeadership(best);
    const deadline = Date.now() + this.o.electionTimeoutMs;
    while (Date.now() < deadline && (this.raft.isLeader || this.raft.leaderId === this.memberId)) await sleep(10);
  }

  /** Hands leadership to `target` (this member must lead). */
  async moveLeader(target: number): Promise<void> {
    if (!this.raft.isLeader) throw new StoreError('STORE_ERR_NOT_LEADER');
    const m = this.sm.members.get(target);
    if (!m || m.isLearner) throw new StoreError('STORE_ERR_BAD_LEADER_TRANSFEREE');
    this.raft.transferLeadership(target);
    await this.waitUntil(() => this.raft.leaderId === target, 'STORE_ERR_TIMEOUT');
  }

  // ------------------------------------------------------------------ internals

  private forwarder(): LeaderForwarder {
    if (!this.o.forwardToLeader) throw new StoreError('STORE_ERR_NOT_LEADER', 'no way to reach the leader');
    return this.o.forwardToLeader;
  }

  /** Runs `f` with the leader's client URL, waiting for a leader to be known. */
  private async withLeader<T>(f: (clientURL: string) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.o.requestTimeoutMs;
    for (;;) {
      const lead = this.raft.leaderId;
      const url = lead ? this.sm.members.get(lead)?.clientURLs[0] : undefined;
      if (lead === this.memberId) throw new StoreError('STORE_ERR_LEADER_CHANGED');
      if (url) return f(url);
      if (Date.now() > deadline) throw new StoreError(lead ? 'STORE_ERR_TIMEOUT' : 'STORE_ERR_NO_LEADER');
      await sleep(50);
    }
  }

  private newRequestId(): number {
    const id = this.nextRequestId++;
    if (this.nextRequestId >= 2 ** 52) this.nextRequestId = 1;
    return id;
  }

  /** As etcd: a learner serves serializable reads and status, nothing else. */
  private refuseOnLearner(): void {
    if (this.sm.members.get(this.memberId)?.isLearner) throw new StoreError('STORE_ERR_NOT_SUPPORTED_FOR_LEARNER');
  }

  /** Proposes a command and resolves with its result once applied here. */
  private async propose(body: StoreCommandBody): Promise<StoreResult> {
    if (this.closed) throw new StoreError('STORE_ERR_STOPPED');
    // Housekeeping (attributes) is the member's own business; client writes are not a learner's.
    if (!('memberAttributes' in body)) this.refuseOnLearner();
    if (this.waiters.size >= this.o.maxPendingRequests) throw new StoreError('STORE_ERR_TOO_MANY_REQUESTS');
    const id = this.newRequestId();
    const data = encodeCommand({ id, ...body } as StoreCommand);
    if (data.length > this.o.maxRequestBytes) throw new StoreError('STORE_ERR_REQUEST_TOO_LARGE', `${data.length} bytes`);
    const result = new Promise<StoreResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new StoreError(this.raft.leaderId ? 'STORE_ERR_TIMEOUT' : 'STORE_ERR_TIMEOUT_LEADER_FAIL'));
      }, this.o.requestTimeoutMs);
      this.waiters.set(id, { resolve, reject, timer, startedNs: process.hrtime.bigint() });
    });
    // Observed from the start: close() may reject it while we still wait for a
    // leader, before the caller holds it (an unobserved rejection ends the process).
    result.catch(() => undefined);
    try {
      await this.proposeWhenLed(() => this.raft.propose(data));
    } catch (e) {
      const w = this.waiters.get(id);
      if (w) {
        clearTimeout(w.timer);
        this.waiters.delete(id);
      }
      throw e;
    }
    return result;
  }

  /** Retries a proposal refused for want of a leader, until the request deadline. */
  private async proposeWhenLed(f: () => void): Promise<void> {
    const deadline = Date.now() + this.o.requestTimeoutMs;
    for (;;) {
      try {
        f();
        return;
      } catch (e) {
        if (!isRaftError(e, 'RAFT_ERR_PROPOSAL_DROPPED')) throw mapRaftError(e);
        const retry = e.reason === 'no-leader' || e.reason === 'leadership-transfer';
        if (!retry) throw mapRaftError(e);
        if (Date.now() > deadline) throw new StoreError('STORE_ERR_NO_LEADER');
        await sleep(20);
      }
    }
  }

  private async proposeConfChange(cc: ConfChange, done: () => boolean): Promise<void> {
    await this.proposeWhenLed(() => this.raft.proposeConfChange(cc));
    await this.waitUntil(done, 'STORE_ERR_TIMEOUT');
  }

  private async waitUntil(cond: () => boolean, code: 'STORE_ERR_TIMEOUT'): Promise<void> {
    const deadline = Date.now() + this.o.requestTimeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new StoreError(code);
      await sleep(10);
    }
  }

  /** Waits until this member has applied everything committed when the call began (ReadIndex). */
  private async linearizableBarrier(): Promise<void> {
    const deadline = Date.now() + this.o.requestTimeoutMs;
    for (;;) {
      try {
        const index = await withTimeout(this.raft.readIndex(), deadline - Date.now());
        await withTimeout(this.raft.waitApplied(index), deadline - Date.now());
        return;
      } catch (e) {
        if (isStoreError(e)) throw e;
        if (!isRaftError(e, 'RAFT_ERR_READ_INDEX_DROPPED')) throw mapRaftError(e);
        if (Date.now() > deadline) throw new StoreError('STORE_ERR_NO_LEADER');
        await sleep(20);
      }
    }
  }

  private onApplied(applied: AppliedCommand[]): void {
    for (const a of applied) {
      const r = a.result;
      if (!isStoreError(r)) {
        if ('leaseGrant' in r) this.lessor.granted(r.leaseGrant.id, r.leaseGrant.ttl);
        else if ('leaseRevoke' in r && 'leaseRevoke' in a.command) this.lessor.revoked(a.command.leaseRevoke.id);
      } else if ('leaseRevoke' in a.command) {
        this.lessor.revoked(a.command.leaseRevoke.id);
      }
      const w = this.waiters.get(a.command.id);
      if (!w) continue;
      this.waiters.delete(a.command.id);
      clearTimeout(w.timer);
      this.o.onProposal?.(Number(process.hrtime.bigint() - w.startedNs) / 1e9);
      if (isStoreError(r)) w.reject(r);
      else w.resolve(r);
    }
  }

  private onMembersChanged(): void {
    this.syncPeers();
    for (const f of this.memberListeners) f();
    if (this.sm.members.isRemoved(this.memberId) && !this.removedNotified) {
      this.removedNotified = true;
      this.o.logger.warn({ member: this.memberId }, 'this member was removed from the cluster');
      for (const f of this.removedListeners) f();
    }
  }

  /** A peer refused our messages because we were removed (we may never apply it ourselves). */
  private removedByPeer(): void {
    if (this.removedNotified) return;
    this.removedNotified = true;
    this.o.logger.warn({ member: this.memberId }, 'a peer says this member was removed from the cluster');
    for (const f of this.removedListeners) f();
  }

  /** Calls `f` once this member knows it was removed (etcd's members then exit). */
  onRemoved(f: () => void): void {
    this.removedListeners.add(f);
  }

  /** Keeps the transport's peers equal to the member table (removed members are dropped). */
  private syncPeers(): void {
    const table: MemberTable = this.sm.members;
    for (const m of table.list()) if (m.id !== this.memberId && m.peerURLs[0]) this.transport.addPeer(m.id, m.peerURLs[0]);
    for (const id of this.transport.peerIds()) if (!table.get(id)) this.transport.removePeer(id);
  }

  private onSoftState(state: StateType): void {
    if (state === StateType.Leader) this.lessor.promote(this.sm.mvcc.leases(), this.o.electionTimeoutMs);
    else this.lessor.demote();
  }

  private async sweepLeases(): Promise<void> {
    if (this.closed || !this.raft.isLeader) return;
    for (const id of this.lessor.sweep()) {
      this.leaseRevoke(id).catch(() => this.lessor.revokeFailed(id));
    }
  }

  private async checkpointLeases(): Promise<void> {
    if (this.closed || !this.raft.isLeader) return;
    const checkpoints = this.lessor.checkpoints();
    if (checkpoints.length > 0) await this.propose({ leaseCheckpoint: { checkpoints } }).catch(() => undefined);
  }

  /** A member tells the cluster its name and client URLs (needed after `member add`). */
  private async publishAttributes(): Promise<void> {
    for (let attempt = 0; !this.closed && attempt < 100; attempt++) {
      const me = this.sm.members.get(this.memberId);
      const same = me && me.name === this.name && me.clientURLs.join(',') === this.o.advertiseClientURLs.join(',');
      if (same) return;
      try {
        await this.propose({ memberAttributes: { memberId: this.memberId, name: this.name, clientURLs: this.o.advertiseClientURLs } });
        return;
      } catch {
        await sleep(500);
      }
    }
  }
}

type StoreCommandBody = StoreCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

function mapRaftError(e: unknown): Error {
  if (isRaftError(e, 'RAFT_ERR_PROPOSAL_DROPPED')) {
    if (e.reason === 'entry-too-large') return new StoreError('STORE_ERR_REQUEST_TOO_LARGE', e.message);
    if (e.reason === 'uncommitted-limit') return new StoreError('STORE_ERR_TOO_MANY_REQUESTS', e.message);
    return new StoreError('STORE_ERR_NO_LEADER', e.message);
  }
  if (isRaftError(e, 'RAFT_ERR_STOPPED')) return new StoreError('STORE_ERR_STOPPED');
  return e as Error;
}

/**
 * `p`, or STORE_ERR_TIMEOUT after `ms`. `p` is always observed, even when it
 * settles after the timeout (an unobserved rejection would end the process).
 */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) {
    p.catch(() => undefined);
    return Promise.reject(new StoreError('STORE_ERR_TIMEOUT'));
  }
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new StoreError('STORE_ERR_TIMEOUT')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * etcd's txn checks: at most maxOps operations per branch, and no key
 * written twice (puts to one key, or a put inside a deleted range) in the
 * same branch, counting nested txns.
 */
export function checkTxn(t: TxnRequest, maxOps: number): void {
  if (t.compare.length > maxOps || t.success.length > maxOps || t.failure.length > maxOps) throw new StoreError('STORE_ERR_TOO_MANY_OPS');
  for (const branch of [t.success, t.failure]) {
    checkBranchKeys(branch);
    for (const op of branch) if ('txn' in op) checkTxn(op.txn, maxOps);
  }
}

function checkBranchKeys(ops: readonly RequestOp[]): void {
  const puts = new Set<string>();
  const deletes: [string, string | null][] = [];
  const key = (b: Uint8Array) => Buffer.from(b).toString('latin1');
  for (const op of ops) {
    if ('put' in op) {
      const k = key(op.put.key);
      if (puts.has(k)) throw new StoreError('STORE_ERR_DUPLICATE_KEY');
      puts.add(k);
    } else if ('deleteRange' in op) {
      const d = op.deleteRange;
      deletes.push([key(d.key), d.rangeEnd.length === 0 ? null : key(d.rangeEnd)]);
    }
  }
  for (const k of puts) {
    for (const [from, to] of deletes) {
      const inRange = to === null ? k === from : to === '\u0000' ? k >= from : k >= from && k < to;
      if (inRange) throw new StoreError('STORE_ERR_DUPLICATE_KEY');
    }
  }
}

async function loadOrCreateMeta(dir: string, o: StoreServerOptions, storage: LevelLogStorage): Promise<Meta> {
  const file = join(dir, 'meta.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Meta;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (o.initialClusterState === 'existing') {
    const meta = await discoverSelf(o);
    const { seedMembers: _, ...persisted } = meta;
    await writeFile(file, JSON.stringify(persisted));
    return meta;
  }
  const ids = o.initialCluster.map((m) => initialMemberId(m.name, m.peerURLs, o.clusterToken));
  const self = o.initialCluster.find((m) => m.name === o.name);
  if (!self) throw new StoreError('STORE_ERR_MEMBER_NOT_FOUND', `--name ${o.name} is not in --initial-cluster`);
  const meta: Meta = { memberId: initialMemberId(self.name, self.peerURLs, o.clusterToken), clusterId: clusterIdOf(ids, o.clusterToken), name: o.name };
  if (storage.isEmpty()) await storage.bootstrap(ids);
  await writeFile(file, JSON.stringify(meta));
  return meta;
}

/**
 * A member joining an existing cluster learns its id (given by `member
 * add`) and the cluster id from any reachable member, matching itself by
 * its advertised peer URLs, as etcd does.
 */
async function discoverSelf(o: StoreServerOptions): Promise<Meta> {
  const mine = new Set(o.advertisePeerURLs);
  const others = o.initialCluster.filter((m) => m.name !== o.name).flatMap((m) => m.peerURLs);
  const errors: string[] = [];
  for (const url of others) {
    try {
      const r = await fetchMembers(url, 3_000, o.peerTls);
      const table = JSON.parse(new TextDecoder().decode(r.members)) as { members: MemberInfo[] };
      const me = table.members.find((m) => m.peerURLs.some((u) => mine.has(u)));
      if (!me) throw new StoreError('STORE_ERR_MEMBER_NOT_FOUND', `no member has peer URLs ${[...mine].join(',')}: run member add first`);
      return { memberId: me.id, clusterId: r.clusterId, name: o.name, seedMembers: table.members };
    } catch (e) {
      if (isStoreError(e, 'STORE_ERR_MEMBER_NOT_FOUND')) throw e;
      errors.push(`${url}: ${(e as Error).message}`);
    }
  }
  throw new StoreError('STORE_ERR_UNHEALTHY', `could not reach any member to join: ${errors.join('; ')}`);
}
