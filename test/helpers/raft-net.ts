/**
 * A synchronous in-memory cluster for unit tests of the Raft core: every
 * Ready is persisted to a MemoryStorage at once, messages are delivered in
 * rounds, and links can be cut. Simpler and more direct than the simulator:
 * tests here drive exact sequences.
 */
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  type RaftConfigInput,
  RawNode,
  StateType,
  decodeConfChange,
} from '../../src/raft/index.js';
import { Prng } from '../../src/util/prng.js';

export interface TestNode {
  id: number;
  rn: RawNode;
  storage: MemoryStorage;
  /** Normal entries applied, in order (data decoded as text). */
  applied: string[];
  appliedEntries: Entry[];
  readStates: { index: number; context: string }[];
  /** The membership returned by each applyConfChange, in order. */
  confStates: ConfState[];
}

export type Filter = (m: Message) => boolean;

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array): string => dec.decode(b);

export class TestNet {
  readonly nodes = new Map<number, TestNode>();
  /** Messages dropped by filters, for inspection. */
  readonly dropped: Message[] = [];
  /** Every message delivered, for inspection. */
  readonly delivered: Message[] = [];
  private readonly cut = new Set<string>();
  filters: Filter[] = [];
  private readonly rng: Prng;

  constructor(
    voters: number[],
    private readonly configure: (id: number) => Partial<RaftConfigInput> = () => ({}),
    seed = 1,
  ) {
    this.rng = new Prng(seed);
    for (const id of voters) this.addNode(id, MemoryStorage.bootstrap(voters));
  }

  addNode(id: number, storage: MemoryStorage = new MemoryStorage()): TestNode {
    const rn = new RawNode({ id, random: this.rng.fork(), ...this.configure(id) }, storage);
    const node: TestNode = { id, rn, storage, applied: [], appliedEntries: [], readStates: [], confStates: [] };
    this.nodes.set(id, node);
    return node;
  }

  /**
   * A crash and restart: a new RawNode over the same storage (everything in
   * handled Readies is durable; anything not yet handled is lost), resuming
   * after the entries the node had applied.
   */
  restart(id: number): TestNode {
    const n = this.node(id);
    const appliedIndex = n.rn.raft.log.applied;
    n.rn = new RawNode({ id, random: this.rng.fork(), ...this.configure(id), appliedIndex }, n.storage);
    return n;
  }

  node(id: number): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: number) {
    return this.node(id).rn.raft;
  }

  /** Cuts both directions between a and b. */
  cutLink(a: number, b: number): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  cutOneWay(from: number, to: number): void {
    this.cut.add(`${from}-${to}`);
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
    this.filters = [];
  }

  tick(id: number, n = 1): void {
    for (let i = 0; i < n; i++) this.node(id).rn.tick();
  }

  /** Ticks until node id campaigns (its randomized election timeout elapses). */
  electionTimeout(id: number): void {
    const r = this.raft(id);
    const n = r.randomizedElectionTimeout - r.electionElapsed;
    this.tick(id, Math.max(n, 1));
  }

  campaign(id: number): void {
    this.node(id).rn.campaign();
    this.stabilize();
  }

  propose(id: number, data: string): void {
    this.node(id).rn.propose(bytes(data));
  }

  proposeConfChange(id: number, cc: ConfChange): void {
    this.node(id).rn.proposeConfChange(cc);
  }

  /** Handles one Ready on a node: persist, apply; returns its messages. */
  processReady(id: number): Message[] {
    const n = this.node(id);
    if (!n.rn.hasReady()) return [];
    const rd = n.rn.ready();
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.applied.push(`<snapshot ${rd.snapshot.metadata.index}>`);
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const rs of rd.readStates) n.readStates.push({ index: rs.index, context: text(rs.context) });
    for (const e of rd.committedEntries) {
      n.appliedEntries.push(e);
      if (e.type === EntryType.ConfChange) n.confStates.push(n.rn.applyConfChange(decodeConfChange(e.data)));
      else if (e.data.length > 0) n.applied.push(text(e.data));
    }
    n.rn.advance(rd);
    return rd.messages;
  }

  /** Delivers one message through the cut links and filters. Returns whether it was delivered. */
  deliver(m: Message): boolean {
    if (this.cut.has(`${m.from}-${m.to}`) || this.filters.some((f) => !f(m))) {
      this.dropped.push(m);
      return false;
    }
    const to = this.nodes.get(m.to);
    if (!to) return false;
    this.delivered.push(m);
    to.rn.step(m);
    return true;
  }

  /** Processes readies and delivers messages until nothing moves. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const msgs: Message[] = [];
      let busy = false;
      for (const [id, n] of this.nodes) {
        busy ||= n.rn.hasReady();
        msgs.push(...this.processReady(id));
      }
      if (!busy) return;
      for (const m of msgs) this.deliver(m);
    }
    throw new Error('stabilize: no quiescence');
  }

  /**
   * One round of stabilize(): every node handles its Ready, then the messages
   * are delivered. Returns the messages that were sent (delivered or not).
   */
  round(): Message[] {
    const msgs: Message[] = [];
    for (const id of this.nodes.keys()) msgs.push(...this.processReady(id));
    for (const m of msgs) this.deliver(m);
    return msgs;
  }

  /** Ticks every listed node n times. */
  tickAll(ids: readonly number[], n = 1): void {
    for (let i = 0; i < n; i++) for (const id of ids) this.node(id).rn.tick();
  }

  leaders(): number[] {
    return [...this.nodes.values()].filter((n) => n.rn.raft.state === StateType.Leader).map((n) => n.id);
  }

  leader(): number {
    const l = this.leaders();
    if (l.length !== 1) throw new Error(`expected one leader, have ${JSON.stringify(l)}`);
    return l[0]!;
  }

  /** Sends one message of the given type count in the delivered log. */
  countDelivered(type: MessageType, pred: (m: Message) => boolean = () => true): number {
    return this.delivered.filter((m) => m.type === type && pred(m)).length;
  }
}
