/**
 * One simulated run: a 3- or 5-member cluster, its clients and a fault
 * schedule, all driven by one seed through a discrete-event loop. The run has
 * a safety phase (faults on, invariants checked after every step) and then a
 * liveness phase (everything healed; a leader must emerge and every client
 * must complete operations within a stated bound). Finally the whole client
 * history is checked for linearizability.
 */
import { type CheckResult, type Operation, checkOperations, describeFailure, kvModel } from '../linearizability/index.js';
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  EMPTY_BYTES,
  type Message,
  MessageType,
  type NodeId,
  type RaftMutation,
  StateType,
} from '../raft/index.js';
import { AssertionError } from '../util/assert.js';
import { Prng } from '../util/prng.js';
import { EventQueue } from './event-queue.js';
import { InvariantChecker, Violation } from './invariants.js';
import { CALM_NETWORK, type Partition, SimNetwork, cloneMessage } from './network.js';
import { type ClientOp, type ClientRequest, type Outcome, SimNode, isMember } from './node.js';

export interface SimOptions {
  seed: number;
  nodes: number;
  clients: number;
  /** Virtual time with faults on. */
  safetyMs: number;
  /** After healing, the bound within which the cluster must serve every client again. */
  livenessMs: number;
  faults: boolean;
  membershipChanges: boolean;
  mutation: RaftMutation | null;
  /** Bug injection in the driver: acknowledge before fsync. */
  sendBeforeSync: boolean;
  /** Events kept for the trace printed with a violation. */
  traceEvents: number;
  /** Upper bound on steps, so that a runaway run ends (a liveness violation). */
  maxSteps: number;
}

export const SIM_DEFAULTS: Readonly<Omit<SimOptions, 'seed'>> = Object.freeze({
  nodes: 3,
  clients: 4,
  safetyMs: 8_000,
  livenessMs: 5_000,
  faults: true,
  membershipChanges: true,
  mutation: null,
  sendBeforeSync: false,
  traceEvents: 40,
  maxSteps: 2_000_000,
});

export interface SimViolation {
  invariant: string;
  message: string;
  timeMs: number;
  step: number;
  trace: string[];
}

export interface SimStats {
  messagesSent: number;
  messagesDropped: number;
  crashes: number;
  pauses: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  maxTerm: number;
  committedEntries: number;
  opsOk: number;
  opsFailed: number;
  opsUnknown: number;
  linearizability: CheckResult['verdict'] | 'skipped';
}

export interface SimResult {
  seed: number;
  steps: number;
  ops: number;
  virtualMs: number;
  violation: SimViolation | null;
  stats: SimStats;
}

type SimEvent =
  | { k: 'tick'; node: NodeId; inc: number }
  | { k: 'deliver'; msg: Message }
  | { k: 'synced'; node: NodeId; inc: number }
  | { k: 'request'; node: NodeId; req: ClientRequest }
  | { k: 'reply'; req: ClientRequest; outcome: Outcome }
  | { k: 'timeout'; client: number; reqId: number; attempt: number }
  | { k: 'issue'; client: number }
  | { k: 'fault' }
  | { k: 'restart'; node: NodeId }
  | { k: 'resume'; node: NodeId }
  | { k: 'snap-status'; node: NodeId; to: NodeId; ok: boolean }
  | { k: 'unreachable'; node: NodeId; to: NodeId }
  | { k: 'hunt'; leader: NodeId; term: number }
  | { k: 'heal-net' }
  | { k: 'heal' }
  | { k: 'end' };

type KvInput = ClientOp;
type KvOutput = { value?: string | null; ok?: boolean };

interface ClientState {
  id: number;
  seq: number;
  inflight: { req: ClientRequest; call: number; attempts: number } | null;
  okAfterHeal: number;
  /** The last value this client saw per key (to build plausible compare-and-sets). */
  seen: Map<string, string | null>;
}

const TICK_MS = 10;
const CLIENT_TIMEOUT_MS = 800;
/** Tries per operation before its outcome is recorded as unknown. */
const CLIENT_ATTEMPTS = 3;
const CLIENT_LINK_MS: [number, number] = [1, 4];
const FSYNC_MS: [number, number] = [1, 6];
const PAUSED_INBOX_MAX = 4096;
const LIVENESS_OPS_PER_CLIENT = 2;
/** Values a compare-and-set may pick as its expectation, per key. */
const RECENT_WRITES_PER_KEY = 8;

export class SimCluster {
  readonly opts: SimOptions;
  private readonly rng: Prng;
  private readonly faultRng: Prng;
  private readonly clientRng: Prng;
  private readonly diskRng: Prng;
  readonly net: SimNetwork;
  readonly checker = new InvariantChecker();
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly queue = new EventQueue<SimEvent>();
  private readonly clients: ClientState[] = [];
  private readonly history: Operation<KvInput, KvOutput>[] = [];
  private readonly recentWrites = new Map<string, string[]>();
  /** The last events (ticks left out: they are noise) and notices, for a violation report. */
  private readonly trace: [number, SimEvent | string][] = [];
  private now = 0;
  private steps = 0;
  private nextReqId = 1;
  private nextNodeId: number;
  private healed = false;
  private livenessMetAt = -1;
  private ended = false;
  private readonly raftConfig;
  private readonly snapshotPolicy;
  private readonly keys: string[];
  /** Receives a line for each notable event (elections, crashes, partitions...), for the demo. */
  onNotice: ((timeMs: number, line: string) => void) | null = null;
  /** Fault intensity of this seed: how often faults strike, and how hard new leaders are hunted. */
  private readonly profile: { faultEveryMs: [number, number]; leaderHunt: number };
  private lastLeader = '';
  /** A leader to strike as soon as its commit index passes `commit` (its first commit of the term). */
  private huntAtCommit: { id: NodeId; term: number; commit: number } | null = null;
  readonly stats: SimStats = {
    messagesSent: 0,
    messagesDropped: 0,
    crashes: 0,
    pauses: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsSent: 0,
    maxTerm: 0,
    committedEntries: 0,
    opsOk: 0,
    opsFailed: 0,
    opsUnknown: 0,
    linearizability: 'skipped',
  };

  constructor(options: Partial<SimOptions> & { seed: number }) {
    this.opts = { ...SIM_DEFAULTS, ...options };
    this.rng = new Prng(this.opts.seed);
    this.faultRng = this.rng.fork();
    this.clientRng = this.rng.fork();
    this.diskRng = this.rng.fork();
    this.net = new SimNetwork(this.rng.fork());
    const r = this.rng;
    // Limits and timings vary by seed so that flow control, batching and
    // snapshot paths are all exercised.
    this.raftConfig = {
      electionTimeoutTicks: 10,
      heartbeatIntervalTicks: r.pick([1, 2, 3]),
      // 1 byte: every append carries exactly one entry (the limit always lets one through).
      maxMsgBytes: r.pick([1, 200, 4096, 1 << 20]),
      maxInflightMsgs: r.pick([1, 4, 32, 256]),
      maxInflightBytes: r.pick([1 << 10, 1 << 16, 32 << 20]),
      maxUncommittedBytes: r.pick([1 << 11, 1 << 16, 256 << 20]),
      checkQuorum: r.chance(0.85),
      preVote: r.chance(0.85),
      mutation: this.opts.mutation,
    };
    this.snapshotPolicy = { everyEntries: r.pick([8, 25, 100, 1000]), keepEntries: r.pick([0, 3, 20, 100]) };
    this.keys = ['a', 'b', 'c', 'd'].slice(0, r.range(1, 4));
    this.profile = r.pick<{ faultEveryMs: [number, number]; leaderHunt: number }>([
      { faultEveryMs: [50, 500], leaderHunt: 0 },
      { faultEveryMs: [20, 200], leaderHunt: 0.5 },
      { faultEveryMs: [100, 800], leaderHunt: 0.8 },
      { faultEveryMs: [200, 1000], leaderHunt: 0.95 },
    ]);
    this.nextNodeId = this.opts.nodes + 1;
  }

  // ------------------------------------------------------------------ setup

  private createNode(id: NodeId): SimNode {
    const node = new SimNode(id, this.raftConfig, this.snapshotPolicy, {
      now: () => this.now,
      send: (m) => this.send(m),
      reply: (req, outcome) => this.push(this.rng.range(...CLIENT_LINK_MS), { k: 'reply', req, outcome }),
      scheduleSync: (n) => this.push(this.diskRng.range(...FSYNC_MS), { k: 'synced', node: n.id, inc: n.incarnation }),
      checker: this.checker,
      sendBeforeSync: this.opts.sendBeforeSync,
    });
    this.nodes.set(id, node);
    return node;
  }

  private startNode(node: SimNode): void {
    node.start(this.rng.fork());
    this.push(this.rng.range(1, TICK_MS), { k: 'tick', node: node.id, inc: node.incarnation });
  }

  private push(delayMs: number, e: SimEvent): void {
    this.queue.push(this.now + delayMs, e);
  }

  // ------------------------------------------------------------------ run

  /** Creates the founding members and clients and schedules the phases. */
  start(): void {
    const voters = Array.from({ length: this.opts.nodes }, (_, i) => i + 1);
    for (const id of voters) {
      const n = this.createNode(id);
      n.bootstrap(voters);
      this.startNode(n);
    }
    for (let c = 0; c < this.opts.clients; c++) {
      this.clients.push({ id: c + 1, seq: 0, inflight: null, okAfterHeal: 0, seen: new Map() });
      this.push(this.clientRng.range(50, 300), { k: 'issue', client: c + 1 });
    }
    if (this.opts.faults) this.push(this.faultRng.range(100, 400), { k: 'fault' });
    this.push(this.opts.safetyMs, { k: 'heal' });
    this.push(this.opts.safetyMs + this.opts.livenessMs, { k: 'end' });
  }

  /**
   * Processes events up to virtual time `untilMs`, checking the invariants
   * after each. Throws a Violation (or the core's AssertionError) on failure.
   */
  runUntil(untilMs: number): void {
    while (!this.ended && this.queue.peekTime() <= untilMs) {
      const item = this.queue.pop()!;
      this.now = item.time;
      this.steps++;
      this.record(item.event);
      this.handle(item.event);
      this.checker.afterStep(this.nodes.values());
      this.watchLeader();
      if (this.steps >= this.opts.maxSteps) throw new Violation('liveness', `no quiescence after ${this.steps} steps`);
    }
    if (!this.ended) this.now = Math.max(this.now, Math.min(untilMs, this.queue.peekTime()));
  }

  get timeMs(): number {
    return this.now;
  }

  get done(): boolean {
    return this.ended || this.queue.size === 0;
  }

  /** The whole run: both phases, then the liveness and linearizability verdicts. */
  run(): SimResult {
    let violation: SimViolation | null = null;
    try {
      this.start();
      this.runUntil(Infinity);
    } catch (e) {
      violation = this.describeFailure(e);
    }
    return this.finish(violation);
  }

  /** Ends a run: liveness and linearizability verdicts (unless a violation already ended it). */
  finish(violation: SimViolation | null = null): SimResult {
    if (!violation) {
      try {
        this.checkLiveness();
        this.checkLinearizable();
      } catch (e) {
        violation = this.describeFailure(e);
      }
    }
    this.collectStats();
    return {
      seed: this.opts.seed,
      steps: this.steps,
      ops: this.history.length,
      virtualMs: this.now,
      violation,
      stats: this.stats,
    };
  }

  private checkLiveness(): void {
    if (this.livenessMetAt >= 0) return;
    const waiting = this.clients.filter((c) => c.okAfterHeal < LIVENESS_OPS_PER_CLIENT).map((c) => c.id);
    throw new Violation(
      'liveness',
      `${this.opts.livenessMs} ms after healing, clients ${waiting.join(',')} have not completed ${LIVENESS_OPS_PER_CLIENT} operations; members: ${this.describeNodes()}`,
    );
  }

  describeFailure(e: unknown): SimViolation {
    let invariant: string;
    if (e instanceof Violation) invariant = e.invariant;
    else if (e instanceof AssertionError) invariant = 'assertion';
    else invariant = 'exception';
    const err = e as Error;
    const message = invariant === 'exception' ? (err.stack ?? String(e)) : err.message;
    return { invariant, message, timeMs: this.now, step: this.steps, trace: this.trace.map(([t, ev]) => (typeof ev === 'string' ? `t=${t} ** ${ev}` : describeEvent(t, ev))) };
  }

  private record(e: SimEvent | string): void {
    if (this.opts.traceEvents <= 0 || (typeof e !== 'string' && e.k === 'tick')) return;
    if (this.trace.length >= this.opts.traceEvents) this.trace.shift();
    this.trace.push([this.now, e]);
  }

  private handle(e: SimEvent): void {
    switch (e.k) {
      case 'tick':
        return this.onTick(e.node, e.inc);
      case 'deliver':
        // A partition also loses what was already on the wire.
        if (!this.net.canReach(e.msg.from, e.msg.to)) return;
        return this.atNode(e.msg.to, (n) => n.receive(e.msg));
      case 'synced':
        return this.atNode(e.node, (n) => n.incarnation === e.inc && n.synced());
      case 'request':
        return this.atNode(e.node, (n) => n.request(e.req));
      case 'reply':
        return this.onReply(e.req, e.outcome);
      case 'timeout':
        return this.onTimeout(e.client, e.reqId, e.attempt);
      case 'issue':
        return this.issue(e.client);
      case 'fault':
        if (this.healed) return;
        this.faultStep();
        if (!this.healed) this.push(this.faultRng.range(...this.profile.faultEveryMs), { k: 'fault' });
        return;
      case 'hunt':
        return this.hunt(e.leader, e.term);
      case 'heal-net':
        if (!this.healed) this.net.heal();
        return;
      case 'restart':
        return this.restart(e.node);
      case 'resume':
        return this.resume(e.node);
      case 'snap-status':
        return this.atNode(e.node, (n) => n.reportSnapshot(e.to, e.ok));
      case 'unreachable':
        return this.atNode(e.node, (n) => n.reportUnreachable(e.to));
      case 'heal':
        return this.heal();
      case 'end':
        this.ended = true;
        return;
    }
  }

  /** Runs `f` on a live member, holds it while paused, drops it while down. */
  private atNode(id: NodeId, f: (n: SimNode) => unknown): void {
    const n = this.nodes.get(id);
    if (!n) return;
    if (n.status === 'paused') {
      if (n.pausedInbox.length < PAUSED_INBOX_MAX) n.pausedInbox.push(() => f(n));
      return;
    }
    if (n.status !== 'up') return;
    f(n);
    if (n.removedSelf) this.stopRemoved(n);
  }

  private onTick(id: NodeId, inc: number): void {
    const n = this.nodes.get(id);
    if (!n || n.incarnation !== inc || (n.status !== 'up' && n.status !== 'paused')) return;
    this.push(TICK_MS, { k: 'tick', node: id, inc });
    // A paused process does not run its timers.
    if (n.status === 'up') {
      n.tick();
      if (n.removedSelf) this.stopRemoved(n);
      const t = n.rn?.raft.term ?? 0;
      if (t > this.stats.maxTerm) this.stats.maxTerm = t;
    }
  }

  private stopRemoved(n: SimNode): void {
    // A member that applied its own removal shuts down, like etcd does.
    this.notice(`member ${n.id} applied its own removal and shut down`);
    n.status = 'removed';
    n.rn = null;
  }

  private send(m: Message): void {
    const delays = this.net.route(m);
    if (m.type === MessageType.Snap) this.stats.snapshotsSent++;
    if (delays.length === 0) {
      if (m.type === MessageType.Snap) this.push(this.rng.range(5, 50), { k: 'snap-status', node: m.from, to: m.to, ok: false });
      else if (!this.net.canReach(m.from, m.to) && this.rng.chance(0.05)) {
        this.push(this.rng.range(5, 50), { k: 'unreachable', node: m.from, to: m.to });
      }
      return;
    }
    for (const d of delays) this.push(d, { k: 'deliver', msg: cloneMessage(m) });
    if (m.type === MessageType.Snap) this.push(delays[0]! + 1, { k: 'snap-status', node: m.from, to: m.to, ok: true });
  }

  // ------------------------------------------------------------------ clients

  private issue(clientId: number): void {
    const c = this.clients[clientId - 1]!;
    if (c.inflight) return;
    const r = this.clientRng;
    const key = r.pick(this.keys);
    c.seq++;
    const value = `${c.id}.${c.seq}`;
    let op: ClientOp;
    const roll = r.float();
    if (roll < 0.4) op = { kind: 'get', key };
    else if (roll < 0.75) op = { kind: 'put', key, value };
    else {
      const seen = c.seen.get(key);
      const expected = r.chance(0.7) && seen !== undefined ? seen : r.chance(0.5) ? null : this.randomValue(key);
      op = { kind: 'cas', key, expected, value };
    }
    const req: ClientRequest = { reqId: this.nextReqId++, client: c.id, seq: c.seq, attempt: 0, op };
    c.inflight = { req, call: this.now, attempts: 0 };
    this.attempt(c);
  }

  /**
   * Sends (or resends) the client's operation. Retries carry the same client
   * and sequence number, so the state machine applies the write at most once
   * and answers a retry of an applied write with its first result.
   */
  private attempt(c: ClientState): void {
    const inflight = c.inflight!;
    inflight.attempts++;
    const req = { ...inflight.req, attempt: inflight.attempts };
    const target = this.pickTarget();
    if (target !== undefined) this.push(this.clientRng.range(...CLIENT_LINK_MS), { k: 'request', node: target, req });
    this.push(CLIENT_TIMEOUT_MS, { k: 'timeout', client: c.id, reqId: req.reqId, attempt: req.attempt });
  }

  private randomValue(key: string): string | null {
    const vals = this.recentWrites.get(key);
    if (!vals || vals.length === 0) return null;
    return this.clientRng.pick(vals);
  }

  /** Appends to the history, keeping the last few written values per key (for compare-and-sets). */
  private recordOp(op: Operation<KvInput, KvOutput>): void {
    this.history.push(op);
    const input = op.input;
    if (input.kind === 'get') return;
    let vals = this.recentWrites.get(input.key);
    if (!vals) this.recentWrites.set(input.key, (vals = []));
    vals.push(input.value);
    if (vals.length > RECENT_WRITES_PER_KEY) vals.shift();
  }


  /** Half the time the leader (clients learn it from redirects in real systems), else any member. */
  private pickTarget(): NodeId | undefined {
    const leader = this.leader();
    if (leader && this.clientRng.chance(0.5)) return leader.id;
    const live = [...this.nodes.values()].filter((n) => n.status !== 'removed');
    return live.length > 0 ? this.clientRng.pick(live).id : undefined;
  }

  private onReply(req: ClientRequest, outcome: Outcome): void {
    const c = this.clients[req.client - 1]!;
    if (!c.inflight || c.inflight.req.reqId !== req.reqId) return; // too late: already timed out
    const call = c.inflight.call;
    if (!outcome.ok) {
      if (req.attempt !== c.inflight.attempts) return; // a stale try's refusal
      if (req.op.kind !== 'get' && req.attempt > 1) {
        // This try was refused, but an earlier one may still take effect.
        if (req.attempt < CLIENT_ATTEMPTS) this.attempt(c);
        else this.giveUp(c);
        return;
      }
      // Definitely not applied: it is not part of the history.
      c.inflight = null;
      this.stats.opsFailed++;
    } else {
      c.inflight = null;
      this.stats.opsOk++;
      const op = req.op;
      let output: KvOutput;
      if (op.kind === 'get') {
        output = { value: outcome.value };
        c.seen.set(op.key, outcome.value);
      } else if (op.kind === 'put') {
        output = {};
        c.seen.set(op.key, op.value);
      } else {
        output = { ok: outcome.casOk };
        if (outcome.casOk) c.seen.set(op.key, op.value);
      }
      this.recordOp({ clientId: c.id, input: op, call, return: this.now, output });
      if (this.healed && call >= this.opts.safetyMs) {
        c.okAfterHeal++;
        if (this.livenessMetAt < 0 && this.clients.every((x) => x.okAfterHeal >= LIVENESS_OPS_PER_CLIENT)) {
          this.livenessMetAt = this.now;
          // Let in-flight work settle a little, then stop.
          this.push(200, { k: 'end' });
        }
      }
    }
    this.push(this.clientRng.range(1, 20), { k: 'issue', client: c.id });
  }

  private onTimeout(clientId: number, reqId: number, attempt: number): void {
    const c = this.clients[clientId - 1]!;
    if (!c.inflight || c.inflight.req.reqId !== reqId || c.inflight.attempts !== attempt) return;
    if (attempt < CLIENT_ATTEMPTS) this.attempt(c);
    else this.giveUp(c);
  }

  private giveUp(c: ClientState): void {
    const { req, call } = c.inflight!;
    c.inflight = null;
    this.stats.opsUnknown++;
    // Outcome unknown: it may take effect at any time after its call, or never.
    this.recordOp({ clientId: c.id, input: req.op, call, return: Infinity, output: undefined });
    c.seen.delete(req.op.key);
    this.push(this.clientRng.range(1, 20), { k: 'issue', client: c.id });
  }

  private checkLinearizable(): void {
    // Operations still in flight at the end have unknown outcomes.
    for (const c of this.clients) {
      if (!c.inflight) continue;
      this.history.push({ clientId: c.id, input: c.inflight.req.op, call: c.inflight.call, return: Infinity, output: undefined });
    }
    const result = checkOperations(kvModel, this.history as never, { maxSteps: 2_000_000 });
    this.stats.linearizability = result.verdict;
    if (result.verdict === 'illegal') {
      throw new Violation('linearizability', `the client history is not linearizable: ${describeFailure(kvModel, result)}`);
    }
  }

  // ------------------------------------------------------------------ faults

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.status !== 'up' || n.rn?.raft.state !== StateType.Leader) continue;
      if (!best || n.rn.raft.term > best.rn!.raft.term) best = n;
    }
    return best;
  }

  /**
   * The reactive part of the nemesis: a freshly elected leader is, with this
   * seed's probability, isolated or crashed within milliseconds — before or
   * while it replicates its first entries. This is where elections over
   * divergent logs (Figure 8 of the Raft paper) come from.
   */
  private watchLeader(): void {
    const l = this.leader();
    if (!l) return;
    const r = l.rn!.raft;
    const h = this.huntAtCommit;
    if (h && h.id === l.id && h.term === r.term && r.log.committed > h.commit) {
      // Strike between the first commit and the replication that follows it.
      this.huntAtCommit = null;
      this.hunt(l.id, r.term);
      return;
    }
    const key = `${l.id}:${r.term}`;
    if (key === this.lastLeader) return;
    this.lastLeader = key;
    this.notice(`member ${l.id} is leader of term ${r.term}`);
    this.huntAtCommit = null;
    if (this.healed || !this.opts.faults || this.profile.leaderHunt === 0) return;
    if (!this.faultRng.chance(this.profile.leaderHunt)) return;
    const when = this.faultRng.float();
    if (when < 0.45) this.push(0, { k: 'hunt', leader: l.id, term: r.term });
    else if (when < 0.9) this.huntAtCommit = { id: l.id, term: r.term, commit: r.log.committed };
    else this.push(this.faultRng.range(1, 30), { k: 'hunt', leader: l.id, term: r.term });
  }

  private hunt(id: NodeId, term: number): void {
    const n = this.nodes.get(id);
    if (this.healed || !n || n.status !== 'up' || n.rn?.raft.term !== term) return;
    if (this.faultRng.chance(0.7)) {
      this.net.setPartition({ kind: 'isolate', node: id }, this.liveIds());
      this.stats.partitions++;
      this.push(this.faultRng.range(50, 600), { k: 'heal-net' });
    } else {
      this.crash(n, this.faultRng.range(20, 800));
    }
  }

  private liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.status !== 'removed').map((n) => n.id);
  }

  private faultStep(): void {
    const r = this.faultRng;
    const roll = r.float();
    if (roll < 0.14) this.partition();
    else if (roll < 0.24) this.net.heal();
    else if (roll < 0.34) this.crashOne();
    else if (roll < 0.36) this.crashAll();
    else if (roll < 0.42) this.pauseOne();
    else if (roll < 0.52) this.roughNetwork();
    else if (roll < 0.6) this.net.faults = { ...CALM_NETWORK };
    else if (roll < 0.67) this.transfer();
    else if (roll < 0.77 && this.opts.membershipChanges) this.changeMembership();
  }

  private partition(): void {
    const r = this.faultRng;
    const ids = this.liveIds();
    if (ids.length < 2) return;
    const shuffled = r.shuffle(ids.slice());
    let p: Partition;
    const kind = r.int(4);
    if (kind === 0) {
      const cut = r.range(1, shuffled.length - 1);
      p = { kind: 'split', groups: [shuffled.slice(0, cut), shuffled.slice(cut)] };
    } else if (kind === 1) {
      p = { kind: 'one-way', from: shuffled[0]!, to: shuffled[1]! };
    } else if (kind === 2 && shuffled.length >= 3) {
      const [bridge, ...rest] = shuffled;
      const half = rest.length >> 1;
      p = { kind: 'bridge', left: rest.slice(0, half), bridge: bridge!, right: rest.slice(half) };
    } else {
      p = { kind: 'isolate', node: this.leader()?.id ?? shuffled[0]! };
    }
    this.net.setPartition(p, ids);
    this.stats.partitions++;
    this.notice(`network partition: ${JSON.stringify(p)}`);
  }

  private roughNetwork(): void {
    const r = this.faultRng;
    this.net.faults = {
      dropRate: r.pick([0, 0.01, 0.05, 0.2]),
      duplicateRate: r.pick([0, 0.01, 0.05]),
      delayMinMs: 1,
      delayMaxMs: r.pick([5, 20, 60]),
      spikeRate: r.pick([0, 0.01, 0.05]),
      spikeMaxMs: r.pick([100, 400]),
    };
  }

  private crashOne(): void {
    const up = [...this.nodes.values()].filter((n) => n.status === 'up' || n.status === 'paused');
    if (up.length === 0) return;
    const n = this.faultRng.chance(0.4) ? (this.leader() ?? this.faultRng.pick(up)) : this.faultRng.pick(up);
    this.crash(n, this.faultRng.range(20, 1500));
  }

  private crashAll(): void {
    for (const n of this.nodes.values()) if (n.status === 'up' || n.status === 'paused') this.crash(n, this.faultRng.range(20, 600));
  }

  private notice(line: string): void {
    this.record(line);
    this.onNotice?.(this.now, line);
  }

  /** Crashes a member now (power loss) and restarts it after downMs. */
  crash(n: SimNode, downMs: number): void {
    this.notice(`member ${n.id} crashed (restart in ${downMs} ms)`);
    n.crash(this.diskRng, 0.5);
    this.stats.crashes++;
    this.push(downMs, { k: 'restart', node: n.id });
  }

  private restart(id: NodeId): void {
    const n = this.nodes.get(id);
    if (!n || n.status !== 'crashed') return;
    this.startNode(n);
    this.notice(`member ${id} restarted from its disk (term ${n.rn!.raft.term}, commit ${n.rn!.raft.log.committed})`);
  }

  private pauseOne(): void {
    const up = [...this.nodes.values()].filter((n) => n.status === 'up');
    if (up.length === 0) return;
    const n = this.faultRng.pick(up);
    n.status = 'paused';
    this.stats.pauses++;
    this.push(this.faultRng.range(20, 1000), { k: 'resume', node: n.id });
  }

  private resume(id: NodeId): void {
    const n = this.nodes.get(id);
    if (!n || n.status !== 'paused') return;
    n.status = 'up';
    const held = n.pausedInbox.splice(0);
    for (const f of held) {
      if (n.status !== 'up') break;
      f();
      if (n.removedSelf) this.stopRemoved(n);
    }
  }

  private transfer(): void {
    const leader = this.leader();
    if (!leader) return;
    const voters = leader.rn!.raft.trk.confState().voters.filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    leader.transferLeadership(this.faultRng.pick(voters));
    this.stats.transfers++;
  }

  /**
   * An operator's membership changes, always against the leader's view:
   * add a learner (a new member), promote it (simply or by a joint
   * replacement of a voter), demote or remove voters (the leader included).
   */
  private changeMembership(): void {
    const leader = this.leader();
    if (!leader) return;
    const r = this.faultRng;
    const cs = leader.rn!.raft.trk.confState();
    const propose = (cc: ConfChange): void => {
      if (leader.proposeConfChange(cc)) this.stats.confChanges++;
    };
    const change = (type: ConfChangeType, nodeId: NodeId) => ({ type, nodeId });
    if (cs.votersOutgoing.length > 0) {
      // An explicit joint configuration waits for us to leave it.
      if (!cs.autoLeave) propose({ transition: ConfChangeTransition.Auto, changes: [], context: EMPTY_BYTES });
      return;
    }
    const target = this.opts.nodes;
    if (cs.learners.length > 0 && cs.voters.length <= target) {
      const learner = r.pick(cs.learners);
      const roll = r.float();
      if (roll < 0.4) {
        propose({ transition: ConfChangeTransition.Auto, changes: [change(ConfChangeType.AddVoter, learner)], context: EMPTY_BYTES });
      } else if (roll < 0.8) {
        const out = r.pick(cs.voters);
        propose({
          transition: r.chance(0.7) ? ConfChangeTransition.JointImplicit : ConfChangeTransition.JointExplicit,
          changes: [change(ConfChangeType.AddVoter, learner), change(ConfChangeType.RemoveNode, out)],
          context: EMPTY_BYTES,
        });
      } else {
        propose({ transition: ConfChangeTransition.Auto, changes: [change(ConfChangeType.RemoveNode, learner)], context: EMPTY_BYTES });
      }
    } else if (cs.voters.length > target) {
      const v = r.pick(cs.voters);
      const type = r.chance(0.7) ? ConfChangeType.RemoveNode : ConfChangeType.AddLearner;
      propose({ transition: ConfChangeTransition.Auto, changes: [change(type, v)], context: EMPTY_BYTES });
    } else if (this.nextNodeId <= this.opts.nodes + 6) {
      const id = this.nextNodeId++;
      const n = this.createNode(id);
      this.startNode(n);
      propose({ transition: ConfChangeTransition.Auto, changes: [change(ConfChangeType.AddLearner, id)], context: EMPTY_BYTES });
    }
  }

  /** The liveness phase begins: every fault is repaired. */
  private heal(): void {
    this.healed = true;
    if (this.opts.faults) this.notice('all faults healed: the liveness phase begins');
    this.net.heal();
    this.net.faults = { ...CALM_NETWORK };
    for (const n of this.nodes.values()) {
      if (n.status === 'crashed') this.startNode(n);
      else if (n.status === 'paused') this.resume(n.id);
    }
  }

  private collectStats(): void {
    this.stats.messagesSent = this.net.sent;
    this.stats.messagesDropped = this.net.dropped;
    this.stats.committedEntries = this.checker.committedCount;
  }

  /** One line per member: what a reader of a violation needs first. */
  describeNodes(): string {
    const out: string[] = [];
    for (const n of this.nodes.values()) {
      const r = n.rn?.raft;
      if (!r) {
        out.push(`${n.id}:${n.status}`);
        continue;
      }
      const cs = r.trk.confState();
      out.push(
        `${n.id}:${n.status} ${StateType[r.state]} term=${r.term} vote=${r.vote} lead=${r.lead} commit=${r.log.committed} applied=${r.log.applied} last=${r.log.lastIndex()}/${r.log.lastTerm()} first=${r.log.firstIndex()} voters=${cs.voters}${cs.votersOutgoing.length ? `&${cs.votersOutgoing}` : ''} learners=${cs.learners}${cs.learnersNext.length ? ` next=${cs.learnersNext}` : ''}${r.log.unstable.snapshot ? ' pending-snapshot' : ''}`,
      );
    }
    return `[${out.join(' | ')}]`;
  }

  /** Members that are up and in their own current configuration (for tests). */
  members(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.status === 'up' && isMember(n.confState, n.id));
  }
}

export function describeEvent(t: number, e: SimEvent): string {
  const at = `t=${t}`;
  switch (e.k) {
    case 'deliver': {
      const m = e.msg;
      const extra =
        m.type === MessageType.App
          ? ` idx=${m.index} logTerm=${m.logTerm} ents=${m.entries.length} commit=${m.commit}`
          : m.type === MessageType.AppResp
            ? ` idx=${m.index}${m.reject ? ` reject hint=${m.rejectHint}/${m.logTerm}` : ''}`
            : m.type === MessageType.Snap
              ? ` snap=${m.snapshot?.metadata.index}`
              : m.reject
                ? ' reject'
                : '';
      return `${at} deliver ${MessageType[m.type]} ${m.from}->${m.to} term=${m.term}${extra}`;
    }
    case 'request':
      return `${at} request #${e.req.reqId} at ${e.node}: ${JSON.stringify(e.req.op)}`;
    case 'reply':
      return `${at} reply #${e.req.reqId} to client ${e.req.client}: ${JSON.stringify(e.outcome)}`;
    case 'tick':
    case 'synced':
      return `${at} ${e.k} ${e.node}`;
    default:
      return `${at} ${JSON.stringify(e)}`;
  }
}
