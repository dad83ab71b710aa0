/**
 * A scenario interpreter for the Raft core, in the spirit of etcd-io/raft's
 * data-driven interaction tests: a script of small commands (`campaign 1`,
 * `process-ready 1`, `deliver-msgs 2`, `stabilize`) drives RawNodes over
 * MemoryStorage, and every command prints what happened. The scripts live in
 * test/scenarios/*.txt next to their expected output.
 *
 * File format: blocks separated by blank lines. Lines starting with `#` are
 * comments. A block is one command line, a line `----`, then the expected
 * output (never blank; a command with nothing to say prints `ok`).
 *
 * The environment is fully deterministic: randomness comes from one seeded
 * Prng (forked per node), nothing is asynchronous, and messages wait in one
 * FIFO queue per recipient until a script delivers or drops them.
 *
 * Commands (ids are node ids; `<ids>` is one or more):
 *   add-nodes <n> [voters=(1,2,3)] [learners=(4)] [pre-vote=bool] [check-quorum=bool]
 *             [step-down-on-removal=bool] [election-ticks=n] [heartbeat-ticks=n] [max-msg-bytes=n]
 *   campaign <id> | tick <id> [n] | tick-election <id> | tick-heartbeat <id>
 *   propose <id> <text> | propose-conf-change <id> [v2 l3 r4 ...] [transition=auto|implicit|explicit]
 *   read-index <id> <ctx> | transfer-leadership <leader> <transferee>
 *   process-ready <ids> | deliver-msgs <ids> [drop] | stabilize [ids]
 *   raft-state | raft-log <id> | status <id>
 *   isolate <ids> | heal [ids] | compact <id> <index> | restart <id>
 *   log-level debug|info|warn|none   (`none` silences all but errors)
 * `tick-election` ticks electionTimeoutTicks times (a follower campaigns only
 * if its randomized timeout is that short); `propose-conf-change` with no
 * changes proposes leaving a joint configuration.
 *
 * Printed notation:
 *   entry      `term/index EntryNormal "data"`, `term/index EntryConfChange v2 l3 r4`
 *   message    `from->to Type term=T ...fields of that type`
 *   config     `voters=(1 2 3)&&(1 2) learners=(4) learnersNext=(3) autoLeave`
 */
import {
  CAMPAIGN_TRANSFER,
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  ProgressState,
  type RaftConfigInput,
  type RaftLogger,
  RawNode,
  type Ready,
  type Snapshot,
  StateType,
  decodeConfChange,
  emptyConfState,
  isRaftError,
} from '../../src/raft/index.js';
import { Prng } from '../../src/util/prng.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bounds, so that a runaway scenario fails loudly instead of hanging. */
const STABILIZE_ROUNDS_MAX = 1000;
const QUEUED_MSGS_MAX = 10_000;
const TICKS_PER_COMMAND_MAX = 10_000;
const ADD_NODES_MAX = 64;

// ------------------------------------------------------------------ file format

export interface ScenarioBlock {
  /** Comment and blank lines before the command, kept verbatim for rewriting. */
  before: string[];
  command: string;
  /** 1-based line number of the command, for failure messages. */
  line: number;
  expected: string[];
}

export interface ScenarioFile {
  blocks: ScenarioBlock[];
  /** Comment and blank lines after the last block. */
  after: string[];
}

export function parseScenario(text: string): ScenarioFile {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blocks: ScenarioBlock[] = [];
  let before: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      before.push(line);
      i++;
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 2}: expected "----" after command "${line}"`);
    const block: ScenarioBlock = { before, command: line, line: i + 1, expected: [] };
    i += 2;
    while (i < lines.length && lines[i]!.trim() !== '') block.expected.push(lines[i++]!);
    blocks.push(block);
    before = [];
  }
  return { blocks, after: before };
}

/** Prints a scenario back, with `outputs[i]` as the expected output of block i. */
export function formatScenario(file: ScenarioFile, outputs: readonly string[][]): string {
  const out: string[] = [];
  file.blocks.forEach((b, i) => {
    out.push(...b.before, b.command, '----', ...outputs[i]!);
  });
  out.push(...file.after);
  return out.join('\n') + '\n';
}

export interface ScenarioMismatch {
  line: number;
  command: string;
  expected: string;
  actual: string;
}

export interface ScenarioResult {
  file: ScenarioFile;
  outputs: string[][];
  /** The first block whose output differs from the expectation, if any. */
  mismatch: ScenarioMismatch | null;
}

/** Runs every block of a scenario in one fresh environment. */
export function runScenario(text: string): ScenarioResult {
  const file = parseScenario(text);
  const env = new ScenarioEnv();
  const outputs: string[][] = [];
  let mismatch: ScenarioMismatch | null = null;
  for (const b of file.blocks) {
    let actual: string[];
    try {
      actual = env.handle(b.command);
    } catch (e) {
      throw new Error(`line ${b.line}: ${b.command}: ${(e as Error).stack ?? String(e)}`);
    }
    outputs.push(actual);
    if (mismatch === null && actual.join('\n') !== b.expected.join('\n')) {
      mismatch = { line: b.line, command: b.command, expected: b.expected.join('\n'), actual: actual.join('\n') };
    }
  }
  return { file, outputs, mismatch };
}

// ------------------------------------------------------------------ formatting

function idList(ids: readonly number[]): string {
  return `(${ids.join(' ')})`;
}

export function formatConfState(cs: ConfState): string {
  let s = `voters=${idList(cs.voters)}`;
  if (cs.votersOutgoing.length > 0) s += `&&${idList(cs.votersOutgoing)}`;
  if (cs.learners.length > 0) s += ` learners=${idList(cs.learners)}`;
  if (cs.learnersNext.length > 0) s += ` learnersNext=${idList(cs.learnersNext)}`;
  if (cs.autoLeave) s += ' autoLeave';
  return s;
}

const TRANSITION_NAMES: Record<ConfChangeTransition, string> = {
  [ConfChangeTransition.Auto]: 'auto',
  [ConfChangeTransition.JointImplicit]: 'implicit',
  [ConfChangeTransition.JointExplicit]: 'explicit',
};

const CHANGE_LETTERS: Record<ConfChangeType, string> = {
  [ConfChangeType.AddVoter]: 'v',
  [ConfChangeType.AddLearner]: 'l',
  [ConfChangeType.RemoveNode]: 'r',
};

export function formatConfChange(cc: ConfChange): string {
  if (cc.changes.length === 0 && cc.transition === ConfChangeTransition.Auto) return 'leave-joint';
  const parts = cc.changes.map((c) => `${CHANGE_LETTERS[c.type]}${c.nodeId}`);
  if (cc.transition !== ConfChangeTransition.Auto) parts.push(`transition=${TRANSITION_NAMES[cc.transition]}`);
  return parts.join(' ');
}

export function formatEntry(e: Entry): string {
  const head = `${e.term}/${e.index} Entry${EntryType[e.type]}`;
  if (e.type !== EntryType.ConfChange) return `${head} ${JSON.stringify(dec.decode(e.data))}`;
  try {
    return `${head} ${formatConfChange(decodeConfChange(e.data))}`;
  } catch (err) {
    return `${head} <undecodable: ${(err as Error).message}>`;
  }
}

function formatEntries(es: readonly Entry[]): string {
  return `[${es.map(formatEntry).join(', ')}]`;
}

export function formatSnapshot(s: Snapshot): string {
  const m = s.metadata;
  return `index=${m.index} term=${m.term} ${formatConfState(m.confState)} data=${JSON.stringify(dec.decode(s.data))}`;
}

function formatContext(ctx: Uint8Array | null): string {
  return ctx && ctx.length > 0 ? ` ctx=${JSON.stringify(dec.decode(ctx))}` : '';
}

function isTransferContext(ctx: Uint8Array | null): boolean {
  return ctx !== null && ctx.length === CAMPAIGN_TRANSFER.length && ctx.every((b, i) => b === CAMPAIGN_TRANSFER[i]);
}

/** One line per message; each type shows the fields it uses. */
export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${MessageType[m.type]} term=${m.term}`;
  switch (m.type) {
    case MessageType.App:
      return `${head} index=${m.index} logTerm=${m.logTerm} commit=${m.commit}${m.entries.length > 0 ? ` entries=${formatEntries(m.entries)}` : ''}`;
    case MessageType.AppResp:
      return m.reject ? `${head} index=${m.index} rejected hint=${m.rejectHint} hintTerm=${m.logTerm}` : `${head} index=${m.index}`;
    case MessageType.Vote:
    case MessageType.PreVote: {
      const transfer = isTransferContext(m.context) ? ' transfer' : '';
      return `${head} index=${m.index} logTerm=${m.logTerm}${transfer}`;
    }
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case MessageType.Heartbeat:
      return `${head} commit=${m.commit}${formatContext(m.context)}`;
    case MessageType.HeartbeatResp:
    case MessageType.ReadIndex:
      return `${head}${formatContext(m.context)}`;
    case MessageType.ReadIndexResp:
      return `${head} index=${m.index}${formatContext(m.context)}`;
    case MessageType.Snap:
      return `${head} snapshot=[${m.snapshot ? formatSnapshot(m.snapshot) : 'none'}]`;
    case MessageType.Prop:
      return `${head} entries=${formatEntries(m.entries)}`;
    default:
      return head;
  }
}

function formatLogFields(obj: object): string {
  let s = '';
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'member') continue;
    s += ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
  }
  return s;
}

// ------------------------------------------------------------------ command arguments

interface Args {
  /** Positional arguments, in order. */
  pos: string[];
  /** key=value arguments. */
  kv: Map<string, string>;
}

function parseArgs(tokens: readonly string[]): Args {
  const args: Args = { pos: [], kv: new Map() };
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq > 0) args.kv.set(t.slice(0, eq), t.slice(eq + 1));
    else args.pos.push(t);
  }
  return args;
}

function toInt(s: string | undefined, what: string): number {
  if (s === undefined || !/^\d+$/.test(s)) throw new Error(`${what}: expected a non-negative integer, got ${String(s)}`);
  return Number(s);
}

function toBool(s: string, what: string): boolean {
  if (s !== 'true' && s !== 'false') throw new Error(`${what}: expected true or false, got ${s}`);
  return s === 'true';
}

/** `(1,2,3)` or `(1 2 3)` or `()` */
function toIdList(s: string, what: string): number[] {
  const m = /^\((.*)\)$/.exec(s);
  if (!m) throw new Error(`${what}: expected a list like (1,2,3), got ${s}`);
  return m[1]!
    .split(/[\s,]+/)
    .filter((x) => x !== '')
    .map((x) => toInt(x, what));
}

function parseConfChange(tokens: readonly string[], transitionArg: string | undefined): ConfChange {
  const changes: ConfChangeSingle[] = [];
  for (const t of tokens) {
    const m = /^([vlr])(\d+)$/.exec(t);
    if (!m) throw new Error(`conf change: expected v<id>, l<id> or r<id>, got ${t}`);
    const type = m[1] === 'v' ? ConfChangeType.AddVoter : m[1] === 'l' ? ConfChangeType.AddLearner : ConfChangeType.RemoveNode;
    changes.push({ type, nodeId: Number(m[2]) });
  }
  let transition = ConfChangeTransition.Auto;
  if (transitionArg === 'implicit') transition = ConfChangeTransition.JointImplicit;
  else if (transitionArg === 'explicit') transition = ConfChangeTransition.JointExplicit;
  else if (transitionArg !== undefined && transitionArg !== 'auto') throw new Error(`unknown transition ${transitionArg}`);
  return { transition, changes, context: new Uint8Array(0) };
}

// ------------------------------------------------------------------ the environment

type LogLevel = 'debug' | 'info' | 'warn' | 'none';
/** `none` silences everything but errors, as for set-up steps whose trace is not the point. */
const LOG_LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, none: 3 };

/** Configuration a node was created with; reused when it restarts. */
type NodeOptions = Omit<RaftConfigInput, 'id' | 'random' | 'logger' | 'appliedIndex'> & {
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
};

interface ScenarioNode {
  id: number;
  rn: RawNode;
  storage: MemoryStorage;
  options: NodeOptions;
  /** The state machine: values of applied normal entries, with their indexes. */
  values: { index: number; value: string }[];
  /** Configurations in force from an index on (for the snapshots that compact creates). */
  confHistory: { index: number; cs: ConfState }[];
}

/** The application's snapshot data: its values, comma-separated. */
function encodeValues(values: readonly string[]): Uint8Array {
  return enc.encode(values.join(','));
}

function decodeValues(data: Uint8Array): string[] {
  const s = dec.decode(data);
  return s === '' ? [] : s.split(',');
}

export class ScenarioEnv {
  private readonly nodes = new Map<number, ScenarioNode>();
  /** Messages in flight, one FIFO queue per recipient. */
  private readonly inbox = new Map<number, Message[]>();
  private readonly isolated = new Set<number>();
  private readonly rng: Prng;
  private out: string[] = [];
  private indent = '';
  private logLevel: LogLevel = 'debug';

  constructor(seed = 1) {
    this.rng = new Prng(seed);
  }

  /** Runs one command line and returns its output lines. */
  handle(line: string): string[] {
    this.out = [];
    this.indent = '';
    const tokens = line.trim().split(/\s+/);
    const cmd = tokens[0]!;
    try {
      this.dispatch(cmd, tokens.slice(1), line);
    } catch (e) {
      // The caller's mistakes (refused proposals, bad conf changes) are part of
      // the story; anything else is a bug in the scenario or the core.
      if (!isRaftError(e)) throw e;
      this.print(`error ${e.code}: ${e.message}`, true);
    }
    if (this.out.length === 0) return ['ok'];
    return this.out.map((l) => (l.trim() === '' ? `${l}<blank>` : l.trimEnd()));
  }

  private dispatch(cmd: string, tokens: string[], line: string): void {
    const a = parseArgs(tokens);
    switch (cmd) {
      case 'add-nodes':
        return this.addNodes(a);
      case 'campaign':
        return this.node(a.pos[0]).rn.campaign();
      case 'tick':
        return this.tick(this.node(a.pos[0]), toInt(a.pos[1] ?? '1', 'tick count'));
      case 'tick-election': {
        const n = this.node(a.pos[0]);
        return this.tick(n, n.options.electionTimeoutTicks);
      }
      case 'tick-heartbeat': {
        const n = this.node(a.pos[0]);
        return this.tick(n, n.options.heartbeatIntervalTicks);
      }
      case 'propose': {
        // Everything after the node id is the entry's data.
        const m = /^\s*propose\s+\d+\s+(.*)$/.exec(line);
        if (!m) throw new Error('usage: propose <id> <text>');
        return this.node(a.pos[0]).rn.propose(enc.encode(m[1]!.trim()));
      }
      case 'propose-conf-change':
        return this.node(a.pos[0]).rn.proposeConfChange(parseConfChange(a.pos.slice(1), a.kv.get('transition')));
      case 'read-index':
        return this.node(a.pos[0]).rn.readIndex(enc.encode(a.pos[1] ?? ''));
      case 'transfer-leadership':
        return this.node(a.pos[0]).rn.transferLeadership(toInt(a.pos[1], 'transferee'));
      case 'process-ready':
        for (const id of this.ids(a.pos)) this.processReady(this.node(id));
        return;
      case 'deliver-msgs': {
        const drop = a.pos.includes('drop');
        for (const id of this.ids(a.pos.filter((p) => p !== 'drop'))) this.deliver(id, drop);
        return;
      }
      case 'stabilize':
        return this.stabilize(a.pos.length > 0 ? this.ids(a.pos) : [...this.nodes.keys()].sort((x, y) => x - y));
      case 'raft-state':
        return this.raftState();
      case 'raft-log':
        return this.raftLog(this.node(a.pos[0]));
      case 'status':
        return this.status(this.node(a.pos[0]));
      case 'isolate':
        for (const id of this.ids(a.pos)) this.isolated.add(id);
        return;
      case 'heal':
        if (a.pos.length === 0) this.isolated.clear();
        for (const id of this.ids(a.pos)) this.isolated.delete(id);
        return;
      case 'compact':
        return this.compact(this.node(a.pos[0]), toInt(a.pos[1], 'compact index'));
      case 'restart':
        // A crash: whatever was not persisted through a Ready is lost; messages in flight stay in flight.
        return this.start(this.node(a.pos[0]));
      case 'log-level':
        return this.setLogLevel(a.pos[0]);
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  // ---------------------------------------------------------------- output

  /** Writes one output line; at log level `none` only errors get through (quiet set-up steps). */
  private print(line: string, always = false): void {
    if (this.logLevel === 'none' && !always) return;
    this.out.push(this.indent + line);
  }

  /** Runs fn with its output indented one more level. */
  private nested(fn: () => void): void {
    const saved = this.indent;
    this.indent += '  ';
    try {
      fn();
    } finally {
      this.indent = saved;
    }
  }

  private loggerFor(id: number): RaftLogger {
    const emit = (level: LogLevel, obj: object, msg: string): void => {
      if (LOG_LEVEL_RANK[level] < LOG_LEVEL_RANK[this.logLevel]) return;
      this.print(`${level.toUpperCase()} ${id} ${msg}${formatLogFields(obj)}`);
    };
    return {
      debug: (obj, msg) => emit('debug', obj, msg),
      info: (obj, msg) => emit('info', obj, msg),
      warn: (obj, msg) => emit('warn', obj, msg),
    };
  }

  private setLogLevel(level: string | undefined): void {
    if (level === undefined || !(level in LOG_LEVEL_RANK)) throw new Error(`log-level: expected debug, info, warn or none, got ${String(level)}`);
    this.logLevel = level as LogLevel;
  }

  // ---------------------------------------------------------------- nodes

  private node(idArg: string | number | undefined): ScenarioNode {
    const id = typeof idArg === 'number' ? idArg : toInt(idArg, 'node id');
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private ids(pos: readonly string[]): number[] {
    return pos.map((p) => this.node(p).id);
  }

  /**
   * `add-nodes <n> [voters=(..)] [learners=(..)] [pre-vote=bool] [check-quorum=bool]
   * [step-down-on-removal=bool] [election-ticks=n] [heartbeat-ticks=n] [max-msg-bytes=n]`.
   * With voters or learners the nodes are founding members (a bootstrap
   * snapshot at index 1, term 1); without, they start empty and join later.
   */
  private addNodes(a: Args): void {
    const count = toInt(a.pos[0], 'add-nodes count');
    if (count < 1 || count > ADD_NODES_MAX) throw new Error(`add-nodes: count must be in [1, ${ADD_NODES_MAX}]`);
    const voters = a.kv.has('voters') ? toIdList(a.kv.get('voters')!, 'voters') : [];
    const learners = a.kv.has('learners') ? toIdList(a.kv.get('learners')!, 'learners') : [];
    const options = this.nodeOptions(a);
    for (let i = 0; i < count; i++) {
      const id = this.nodes.size + 1;
      const storage = voters.length + learners.length > 0 ? bootstrapStorage(voters, learners) : new MemoryStorage();
      const node: ScenarioNode = { id, rn: undefined as unknown as RawNode, storage, options, values: [], confHistory: [] };
      this.nodes.set(id, node);
      this.start(node);
    }
  }

  private nodeOptions(a: Args): NodeOptions {
    const o: NodeOptions = { electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 };
    for (const [k, v] of a.kv) {
      if (k === 'voters' || k === 'learners') continue;
      if (k === 'pre-vote') o.preVote = toBool(v, k);
      else if (k === 'check-quorum') o.checkQuorum = toBool(v, k);
      else if (k === 'step-down-on-removal') o.stepDownOnRemoval = toBool(v, k);
      else if (k === 'election-ticks') o.electionTimeoutTicks = toInt(v, k);
      else if (k === 'heartbeat-ticks') o.heartbeatIntervalTicks = toInt(v, k);
      else if (k === 'max-msg-bytes') o.maxMsgBytes = toInt(v, k);
      else throw new Error(`add-nodes: unknown option ${k}`);
    }
    return o;
  }

  /**
   * (Re)creates the node's RawNode from its storage alone, as after a crash:
   * the state machine is rebuilt from the snapshot and the committed entries
   * after it are applied again (appliedIndex 0).
   */
  private start(node: ScenarioNode): void {
    const snap = node.storage.snapshot();
    node.values = decodeValues(snap.data).map((value) => ({ index: snap.metadata.index, value }));
    node.confHistory = [{ index: snap.metadata.index, cs: snap.metadata.confState }];
    const config: RaftConfigInput = { ...node.options, id: node.id, random: this.rng.fork(), logger: this.loggerFor(node.id) };
    node.rn = new RawNode(config, node.storage);
  }

  private tick(node: ScenarioNode, n: number): void {
    if (n > TICKS_PER_COMMAND_MAX) throw new Error(`tick: at most ${TICKS_PER_COMMAND_MAX} ticks per command`);
    for (let i = 0; i < n; i++) node.rn.tick();
  }

  // ---------------------------------------------------------------- ready and messages

  /** Handles one Ready the way the RawNode contract asks, printing its contents. */
  private processReady(node: ScenarioNode): void {
    this.print(`> ${node.id} handling Ready`);
    this.nested(() => {
      if (!node.rn.hasReady()) {
        this.print('no Ready');
        return;
      }
      const rd = node.rn.ready();
      this.printReady(rd);
      // 1. persist, 2. send, 3. apply, 4. advance.
      if (rd.snapshot) node.storage.applySnapshot(rd.snapshot);
      node.storage.append(rd.entries);
      if (rd.hardState) node.storage.setHardState(rd.hardState);
      for (const m of rd.messages) this.enqueue(m);
      if (rd.snapshot) this.applySnapshot(node, rd.snapshot);
      for (const e of rd.committedEntries) this.applyEntry(node, e);
      node.rn.advance(rd);
    });
  }

  private printReady(rd: Ready): void {
    this.print(`Ready mustSync=${rd.mustSync}:`);
    if (rd.softState) this.print(`State:${StateType[rd.softState.state]} Lead:${rd.softState.lead}`);
    if (rd.hardState) this.print(`HardState term=${rd.hardState.term} vote=${rd.hardState.vote} commit=${rd.hardState.commit}`);
    if (rd.snapshot) this.print(`Snapshot ${formatSnapshot(rd.snapshot)}`);
    this.printList('Entries:', rd.entries.map(formatEntry));
    this.printList('CommittedEntries:', rd.committedEntries.map(formatEntry));
    this.printList('Messages:', rd.messages.map(formatMessage));
    this.printList('ReadStates:', rd.readStates.map((rs) => `index=${rs.index}${formatContext(rs.context)}`));
  }

  private printList(title: string, lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.print(title);
    this.nested(() => lines.forEach((l) => this.print(l)));
  }

  private applySnapshot(node: ScenarioNode, snap: Snapshot): void {
    node.values = decodeValues(snap.data).map((value) => ({ index: snap.metadata.index, value }));
    node.confHistory = [{ index: snap.metadata.index, cs: snap.metadata.confState }];
  }

  private applyEntry(node: ScenarioNode, e: Entry): void {
    if (e.type === EntryType.ConfChange) {
      // The result goes before anything the core logs while applying (a step-down, say).
      const at = this.out.length;
      const cs = node.rn.applyConfChange(decodeConfChange(e.data));
      node.confHistory.push({ index: e.index, cs });
      const logged = this.out.splice(at);
      this.print(`applied ${e.term}/${e.index}: ${formatConfState(cs)}`);
      this.out.push(...logged);
      return;
    }
    if (e.data.length > 0) node.values.push({ index: e.index, value: dec.decode(e.data) });
  }

  private enqueue(m: Message): void {
    let q = this.inbox.get(m.to);
    if (!q) {
      q = [];
      this.inbox.set(m.to, q);
    }
    if (q.length >= QUEUED_MSGS_MAX) throw new Error(`more than ${QUEUED_MSGS_MAX} messages queued for ${m.to}`);
    q.push(m);
  }

  /** Delivers (or drops) every message queued for `id`; messages to or from an isolated node are lost. */
  private deliver(id: number, drop: boolean): void {
    const q = this.inbox.get(id) ?? [];
    this.inbox.delete(id);
    this.print(`> ${id} ${drop ? 'dropping' : 'receiving'} messages`);
    this.nested(() => {
      if (q.length === 0) this.print('no messages');
      for (const m of q) {
        if (drop) {
          this.print(formatMessage(m));
        } else if (this.isolated.has(m.from) || this.isolated.has(m.to)) {
          this.print(`${formatMessage(m)} (dropped: ${this.isolated.has(m.to) ? m.to : m.from} is isolated)`);
        } else {
          this.print(formatMessage(m));
          this.nested(() => this.stepMessage(id, m));
        }
      }
    });
  }

  private stepMessage(id: number, m: Message): void {
    try {
      this.node(id).rn.step(m);
    } catch (e) {
      if (!isRaftError(e)) throw e;
      this.print(`error ${e.code}: ${e.message}`, true);
    }
  }

  /** Processes Readies and delivers messages among `ids` until nothing is left to do. */
  private stabilize(ids: readonly number[]): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let busy = false;
      for (const id of ids) {
        if (!this.node(id).rn.hasReady()) continue;
        busy = true;
        this.processReady(this.node(id));
      }
      for (const id of ids) {
        if ((this.inbox.get(id)?.length ?? 0) === 0) continue;
        busy = true;
        this.deliver(id, false);
      }
      if (!busy) return;
    }
    throw new Error(`stabilize: still busy after ${STABILIZE_ROUNDS_MAX} rounds`);
  }

  // ---------------------------------------------------------------- inspection

  private role(node: ScenarioNode): string {
    const cs = node.rn.status().config;
    if (cs.voters.includes(node.id) || cs.votersOutgoing.includes(node.id)) return 'voter';
    if (cs.learners.includes(node.id)) return 'learner';
    return 'non-member';
  }

  private raftState(): void {
    for (const node of [...this.nodes.values()].sort((x, y) => x.id - y.id)) {
      const st = node.rn.status();
      const iso = this.isolated.has(node.id) ? ' (isolated)' : '';
      this.print(
        `${node.id}: ${StateType[st.softState.state]} ${this.role(node)} term=${st.hardState.term} vote=${st.hardState.vote} ` +
          `lead=${st.softState.lead} commit=${st.hardState.commit} applied=${st.applied}${iso}`,
      );
    }
  }

  /** The log as persisted in the node's storage: its snapshot, then its entries. */
  private raftLog(node: ScenarioNode): void {
    const s = node.storage;
    this.print(`snapshot ${formatSnapshot(s.snapshot())}`);
    const first = s.firstIndex();
    const last = s.lastIndex();
    if (last < first) {
      this.print(`no entries (first index ${first}, last index ${last})`);
      return;
    }
    for (const e of s.entries(first, last + 1, Number.MAX_SAFE_INTEGER)) this.print(formatEntry(e));
  }

  private status(node: ScenarioNode): void {
    const st = node.rn.status();
    this.print(
      `${st.id}: ${StateType[st.softState.state]} term=${st.hardState.term} vote=${st.hardState.vote} lead=${st.softState.lead} ` +
        `commit=${st.hardState.commit} applied=${st.applied} firstIndex=${st.firstIndex} lastIndex=${st.lastIndex} ` +
        `leadTransferee=${st.leadTransferee}`,
    );
    this.print(`config ${formatConfState(st.config)}`);
    this.print(`values ${JSON.stringify(node.values.map((v) => v.value))}`);
    if (!st.progress) return;
    this.print('progress:');
    this.nested(() => {
      for (const [id, pr] of [...st.progress!].sort((x, y) => x[0] - y[0])) {
        let line = `${id}: ${ProgressState[pr.state]} match=${pr.match} next=${pr.next}`;
        if (pr.isLearner) line += ' learner';
        if (!pr.recentActive) line += ' inactive';
        if (pr.inflightMsgs > 0) line += ` inflight=${pr.inflightMsgs}`;
        this.print(line);
      }
    });
  }

  /** Snapshots the node's state machine at `index` (which must be applied) and drops the log up to it. */
  private compact(node: ScenarioNode, index: number): void {
    const applied = node.rn.status().applied;
    if (index > applied) throw new Error(`compact: index ${index} is not applied yet (applied ${applied})`);
    let cs: ConfState = emptyConfState();
    for (const h of node.confHistory) if (h.index <= index) cs = h.cs;
    const values = node.values.filter((v) => v.index <= index).map((v) => v.value);
    node.storage.createSnapshot(index, cs, encodeValues(values));
    node.storage.compact(index);
    this.raftLog(node);
  }
}

/** Storage of a founding member; learners, when given, are part of the bootstrap configuration. */
function bootstrapStorage(voters: number[], learners: number[]): MemoryStorage {
  if (learners.length === 0) return MemoryStorage.bootstrap(voters);
  const s = new MemoryStorage();
  const confState: ConfState = { ...emptyConfState(), voters: [...voters], learners: [...learners] };
  s.applySnapshot({ metadata: { index: 1, term: 1, confState }, data: new Uint8Array(0) });
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  return s;
}
