/**
 * Log replication through the Raft core: commit, batching, pipelining, flow
 * control and size limits, fast log backtracking, the §5.4.2 commit rule
 * (Figure 8), and proposal forwarding.
 */
import test, { type ExecutionContext } from 'ava';
import {
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  ProgressState,
  type ProposalDroppedReason,
  type RaftConfigInput,
  RaftError,
  StateType,
  newMessage,
} from '../src/raft/index.js';
import { TestNet, bytes, text } from './helpers/raft-net.js';

const isApp = (m: Message): boolean => m.type === MessageType.App;
const appsTo = (msgs: readonly Message[], to: number): Message[] => msgs.filter((m) => isApp(m) && m.to === to);

function dropped(t: ExecutionContext, fn: () => unknown, reason: ProposalDroppedReason): void {
  const e = t.throws(fn, { instanceOf: RaftError }, `expected a drop (${reason})`);
  t.is(e?.code, 'RAFT_ERR_PROPOSAL_DROPPED');
  t.is(e?.reason, reason);
}

/** A 3-voter cluster with 1 elected and every follower in Replicate state. */
function cluster3(configure: (id: number) => Partial<RaftConfigInput> = () => ({})): TestNet {
  const net = new TestNet([1, 2, 3], configure);
  net.campaign(1);
  return net;
}

/** The (index, term) pairs of a node's whole log. */
function logOf(net: TestNet, id: number): [number, number][] {
  const log = net.raft(id).log;
  const out: [number, number][] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push([i, log.term(i)]);
  return out;
}

// ---------------------------------------------------------------- replication and commit

test('proposals are replicated to every member, committed and applied in order', (t) => {
  const net = cluster3();
  const before = net.raft(1).log.lastIndex();
  net.propose(1, 'a');
  net.propose(1, 'b');
  net.stabilize();
  for (const id of [1, 2, 3]) {
    t.deepEqual(net.node(id).applied, ['a', 'b'], `node ${id}`);
    t.is(net.raft(id).log.committed, before + 2, `node ${id} commit`);
    t.deepEqual(logOf(net, id), logOf(net, 1), `node ${id} log`);
  }
});

test('an entry is committed only once a majority holds it', (t) => {
  const net = cluster3();
  const commit = net.raft(1).log.committed;
  net.isolate(2);
  net.cutLink(1, 3);
  net.propose(1, 'a');
  net.stabilize();
  t.is(net.raft(1).log.committed, commit, 'leader alone is not a majority');
  t.deepEqual(net.node(1).applied, []);
  net.heal();
  net.isolate(2);
  net.tick(1); // the heartbeat answer makes the leader resend to 3
  net.stabilize();
  t.is(net.raft(1).log.committed, commit + 1, 'leader + 3 is a majority');
  t.deepEqual(net.node(1).applied, ['a']);
  t.deepEqual(net.node(3).applied, ['a']);
  t.deepEqual(net.node(2).applied, []);
});

test('a single voter commits on the Ready after the one that persisted the entry', (t) => {
  const net = new TestNet([1]);
  net.campaign(1);
  net.propose(1, 'a');
  const rn = net.node(1).rn;
  const rd1 = rn.ready();
  t.deepEqual(rd1.entries.map((e) => text(e.data)), ['a']);
  t.deepEqual(rd1.committedEntries, [], 'not committed before it is persisted');
  net.node(1).storage.append(rd1.entries);
  rn.advance(rd1);
  const rd2 = rn.ready();
  t.deepEqual(rd2.committedEntries.map((e) => text(e.data)), ['a']);
  rn.advance(rd2);
});

// ---------------------------------------------------------------- batching and pipelining

test('proposeBatch appends the entries together and ships them in one append', (t) => {
  const net = cluster3();
  const last = net.raft(1).log.lastIndex();
  net.node(1).rn.proposeBatch(['a', 'b', 'c'].map(bytes));
  const msgs = net.processReady(1);
  const toTwo = appsTo(msgs, 2);
  t.is(toTwo.length, 1, 'one message');
  t.deepEqual(toTwo[0]!.entries.map((e) => [e.index, text(e.data)]), [
    [last + 1, 'a'],
    [last + 2, 'b'],
    [last + 3, 'c'],
  ]);
  t.is(appsTo(msgs, 3).length, 1);
  for (const m of msgs) net.deliver(m);
  net.stabilize();
  for (const id of [1, 2, 3]) t.deepEqual(net.node(id).applied, ['a', 'b', 'c']);
});

test('a batch is appended together or not at all', (t) => {
  const net = cluster3(() => ({ maxUncommittedBytes: 10, maxEntryBytes: 8 }));
  const rn = net.node(1).rn;
  rn.propose(new Uint8Array(6));
  const last = net.raft(1).log.lastIndex();
  dropped(t, () => rn.proposeBatch([new Uint8Array(2), new Uint8Array(3)]), 'uncommitted-limit');
  dropped(t, () => rn.proposeBatch([new Uint8Array(1), new Uint8Array(9)]), 'entry-too-large');
  t.is(net.raft(1).log.lastIndex(), last, 'nothing of the refused batches was appended');
  rn.proposeBatch([new Uint8Array(2), new Uint8Array(2)]);
  t.is(net.raft(1).log.lastIndex(), last + 2);
});

test('pipelining: in Replicate state appends go out without waiting for answers; in Probe one at a time', (t) => {
  const net = cluster3();
  net.node(1).rn.reportUnreachable(3); // 3 goes back to probing
  t.is(net.node(1).rn.status().progress!.get(2)!.state, ProgressState.Replicate);
  t.is(net.node(1).rn.status().progress!.get(3)!.state, ProgressState.Probe);
  const last = net.raft(1).log.lastIndex();
  net.propose(1, 'a');
  net.propose(1, 'b');
  net.propose(1, 'c');
  const msgs = net.processReady(1);
  t.deepEqual(
    appsTo(msgs, 2).map((m) => [m.index, m.entries.length]),
    [
      [last, 1],
      [last + 1, 1],
      [last + 2, 1],
    ],
    'three appends in flight to the replicating follower',
  );
  t.deepEqual(
    appsTo(msgs, 3).map((m) => [m.index, m.entries.length]),
    [[last, 1]],
    'a single probe to the probing follower',
  );
  t.is(net.node(1).rn.status().progress!.get(2)!.inflightMsgs, 3);
  for (const m of msgs) net.deliver(m);
  net.stabilize();
  for (const id of [1, 2, 3]) t.deepEqual(net.node(id).applied, ['a', 'b', 'c']);
  t.is(net.node(1).rn.status().progress!.get(3)!.state, ProgressState.Replicate);
});

// ---------------------------------------------------------------- flow control

const inflightCases: { name: string; cfg: Partial<RaftConfigInput>; payload: number; proposals: number; wantApps: number; wantBytes: number }[] = [
  { name: 'maxInflightMsgs', cfg: { maxInflightMsgs: 3 }, payload: 1, proposals: 10, wantApps: 3, wantBytes: 3 },
  { name: 'maxInflightBytes (40-byte entries)', cfg: { maxInflightBytes: 100 }, payload: 40, proposals: 10, wantApps: 3, wantBytes: 120 },
  { name: 'maxInflightBytes (10-byte entries)', cfg: { maxInflightBytes: 100 }, payload: 10, proposals: 15, wantApps: 10, wantBytes: 100 },
];

for (const c of inflightCases) {
  test(`flow control: ${c.name} bounds the appends in flight to a silent follower, and heartbeats unstick it`, (t) => {
    const net = cluster3(() => c.cfg);
    net.cutLink(1, 3);
    for (let i = 0; i < c.proposals; i++) {
      net.node(1).rn.propose(new Uint8Array(c.payload).fill(65 + i));
      net.stabilize();
    }
    const lost = net.dropped.filter((m) => isApp(m) && m.to === 3 && m.entries.length > 0);
    t.is(lost.length, c.wantApps, 'appends carrying entries that were sent into the void');
    const pr = net.raft(1).trk.progress.get(3)!;
    t.is(pr.state, ProgressState.Replicate);
    t.is(pr.inflights.size, c.wantApps);
    t.is(pr.inflights.sizeBytes, c.wantBytes);
    t.true(pr.isPaused());
    t.is(net.node(2).applied.length, c.proposals, 'the other follower is not held back');

    // Every message in the window was lost; the heartbeat answer restarts replication.
    net.heal();
    const term = net.raft(1).term;
    net.tick(1);
    net.stabilize();
    t.is(net.node(3).applied.length, c.proposals, 'the silent follower caught up');
    t.deepEqual(logOf(net, 3), logOf(net, 1));
    t.is(net.raft(1).term, term, 'without an election');
    t.true(net.countDelivered(MessageType.AppResp, (m) => m.from === 3 && m.reject) >= 1, 'by way of a rejected empty append');
  });
}

const msgBytesCases: { maxMsgBytes: number; payload: number; wantPerMsg: number }[] = [
  { maxMsgBytes: 1, payload: 10, wantPerMsg: 1 },
  { maxMsgBytes: 68, payload: 10, wantPerMsg: 2 }, // 34 bytes an entry
  { maxMsgBytes: 101, payload: 10, wantPerMsg: 2 },
  { maxMsgBytes: 102, payload: 10, wantPerMsg: 3 },
  { maxMsgBytes: 100, payload: 500, wantPerMsg: 1 }, // one entry always goes, however large
];

test('maxMsgBytes cuts appends; at least one entry always goes', (t) => {
  for (const c of msgBytesCases) {
    const net = cluster3(() => ({ maxMsgBytes: c.maxMsgBytes }));
    net.isolate(3);
    for (let i = 0; i < 7; i++) {
      net.node(1).rn.propose(new Uint8Array(c.payload).fill(i));
      net.stabilize();
    }
    net.heal();
    const from = net.delivered.length;
    net.tick(1);
    net.stabilize();
    const sizes = net.delivered.slice(from).filter((m) => isApp(m) && m.to === 3 && m.entries.length > 0).map((m) => m.entries.length);
    t.true(sizes.length > 0, JSON.stringify(c));
    t.is(Math.max(...sizes), c.wantPerMsg, `${JSON.stringify(c)}: ${JSON.stringify(sizes)}`);
    t.is(net.node(3).applied.length, 7, JSON.stringify(c));
  }
});

test('maxUncommittedBytes: proposals past the limit are dropped until entries are applied', (t) => {
  const net = cluster3(() => ({ maxUncommittedBytes: 100 }));
  const rn = net.node(1).rn;
  rn.propose(new Uint8Array(60));
  dropped(t, () => rn.propose(new Uint8Array(60)), 'uncommitted-limit');
  t.is(net.raft(1).uncommittedBytes, 60);
  rn.propose(new Uint8Array(40)); // exactly at the limit
  dropped(t, () => rn.propose(new Uint8Array(1)), 'uncommitted-limit');
  rn.propose(new Uint8Array(0)); // empty entries are always let through
  net.stabilize();
  t.is(net.raft(1).uncommittedBytes, 0, 'applying frees the budget');
  rn.propose(new Uint8Array(60));
  rn.propose(new Uint8Array(40));
  net.stabilize();
  // With nothing uncommitted, one proposal of any size is let through.
  rn.propose(new Uint8Array(1000));
  dropped(t, () => rn.propose(new Uint8Array(1)), 'uncommitted-limit');
  net.stabilize();
  t.is(net.node(2).appliedEntries.filter((e) => e.data.length > 0).length, 5);
});

test('maxEntryBytes: a larger entry is dropped, one at the limit is accepted', (t) => {
  const net = cluster3(() => ({ maxEntryBytes: 16 }));
  dropped(t, () => net.node(1).rn.propose(new Uint8Array(17)), 'entry-too-large');
  net.node(1).rn.propose(new Uint8Array(16).fill(120));
  net.stabilize();
  t.deepEqual(net.node(3).applied, ['x'.repeat(16)]);
});

test('maxCommittedBytesPerReady: committed entries are handed out in pages, in order', (t) => {
  // 40-byte payloads count 64 bytes each: one entry fits in 100 bytes, two do not.
  const net = cluster3(() => ({ maxCommittedBytesPerReady: 100 }));
  net.isolate(2);
  for (let i = 0; i < 5; i++) net.node(1).rn.propose(new Uint8Array(40).fill(97 + i));
  net.stabilize();
  net.heal();
  net.tick(1);
  const perReady: number[] = [];
  for (let i = 0; i < 50 && net.node(2).applied.length < 5; i++) {
    const before = net.node(2).appliedEntries.length;
    net.round(); // each node handles at most one Ready a round
    perReady.push(net.node(2).appliedEntries.length - before);
  }
  t.deepEqual(net.node(2).applied, ['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(40)));
  t.is(Math.max(...perReady), 1, JSON.stringify(perReady));
});

// ---------------------------------------------------------------- fast backtracking

/** A storage bootstrapped for voters 1..3 whose log continues with the given terms from index 2. */
function storageWithTerms(terms: readonly number[], commit: number): MemoryStorage {
  const s = MemoryStorage.bootstrap([1, 2, 3]);
  s.append(terms.map((term, i): Entry => ({ index: i + 2, term, type: EntryType.Normal, data: bytes(`t${term}`) })));
  s.setHardState({ term: Math.max(1, ...terms), vote: 0, commit });
  return s;
}

const run = (term: number, n: number): number[] => new Array<number>(n).fill(term);

const backtrackCases: { name: string; leader: number[]; follower: number[]; wantRejections: number }[] = [
  {
    name: 'follower has a long tail of an older term',
    leader: [...run(2, 5), ...run(4, 50)],
    follower: [...run(2, 5), ...run(3, 100)],
    wantRejections: 1,
  },
  {
    name: 'leader has a long run of a later term over a shared term',
    leader: [...run(2, 5), ...run(3, 3), ...run(4, 50)],
    follower: [...run(2, 5), ...run(3, 100)],
    wantRejections: 1,
  },
  {
    name: 'both diverge over several terms',
    leader: [...run(2, 5), ...run(3, 4), ...run(5, 30)],
    follower: [...run(2, 5), ...run(4, 50)],
    wantRejections: 2,
  },
  {
    name: 'follower is merely behind',
    leader: [...run(2, 5), ...run(3, 50)],
    follower: run(2, 5),
    wantRejections: 1,
  },
];

for (const c of backtrackCases) {
  test(`fast backtracking: ${c.name}`, (t) => {
    const net = new TestNet([], () => ({ preVote: false }));
    const common = 6; // indexes 2..6 are shared and committed
    net.addNode(1, storageWithTerms(c.leader, common));
    net.addNode(2, storageWithTerms(c.follower, common));
    net.addNode(3, storageWithTerms(c.leader, common));
    const leaderLast = net.raft(1).log.lastIndex();
    // Where the logs agree last: the longest common prefix of terms.
    let match = 1;
    while (match - 1 < Math.min(c.leader.length, c.follower.length) && c.leader[match - 1] === c.follower[match - 1]) match++;
    const naive = leaderLast - match; // one rejection per index, from the leader's last entry down
    net.campaign(1);
    t.is(net.leader(), 1);
    const rejections = net.countDelivered(MessageType.AppResp, (m) => m.from === 2 && m.reject);
    t.is(rejections, c.wantRejections, `naive backtracking would need ${naive}`);
    t.true(rejections * 10 <= naive);
    t.deepEqual(logOf(net, 2), logOf(net, 1), 'the follower log was repaired');
    t.is(net.raft(2).log.committed, net.raft(1).log.committed);
  });
}

// ---------------------------------------------------------------- Figure 8 (§5.4.2)

/**
 * Builds Figure 8 of the Raft paper with 5 nodes, one entry per message:
 * (a) 1 leads term 2 and writes x at index 3 on 1 and 2 only;
 * (b) 5 is elected for term 3 by 3, 4, 5 and writes its own entry at index 3
 *     on itself only;
 * (c) 1 is elected for term 4 by 2, 3, 4 and copies x to 3 and 4 — so x is on
 *     a majority (1, 3, 4) — while every append that would carry its own
 *     term-4 entry to a follower is lost.
 */
function figure8(mutation: RaftConfigInput['mutation']): TestNet {
  const net = new TestNet([1, 2, 3, 4, 5], () => ({ preVote: false, checkQuorum: false, maxMsgBytes: 1, mutation }));
  // (a)
  net.campaign(1);
  for (const id of [3, 4, 5]) net.cutLink(1, id);
  net.propose(1, 'x');
  net.stabilize();
  // (b)
  net.cutLink(5, 2);
  net.filters = [(m) => !(m.from === 5 && isApp(m))];
  net.campaign(5);
  if (net.raft(5).state !== StateType.Leader || net.raft(5).term !== 3) throw new Error('figure 8 (b): 5 did not win term 3');
  // (c)
  net.heal();
  net.isolate(5);
  net.restart(1); // 1 crashes and comes back as a follower of term 2
  net.filters = [(m) => !(m.from === 1 && isApp(m) && m.entries.some((e) => e.term === 4) && net.raft(m.to).log.matchTerm(m.index, m.logTerm))];
  net.campaign(1); // term 3: 3 and 4 already voted for 5
  net.campaign(1); // term 4
  if (net.raft(1).state !== StateType.Leader || net.raft(1).term !== 4) throw new Error('figure 8 (c): 1 did not win term 4');
  return net;
}

/** (d): 1 is cut off; 5 is elected for term 5 by 2, 3, 4 (its last term 3 beats their 2) and overwrites index 3. */
function figure8Continue(net: TestNet): void {
  net.heal();
  net.isolate(1);
  net.restart(5); // 5 crashes and comes back as a follower of term 3
  net.campaign(5); // term 4: everyone already voted for 1
  net.campaign(5); // term 5
  if (net.leaders().filter((id) => id !== 1)[0] !== 5) throw new Error('figure 8 (d): 5 did not win');
}

const entryAt = (net: TestNet, id: number, index: number): Entry | undefined => net.node(id).appliedEntries.find((e) => e.index === index);

test('Figure 8: a leader does not commit an entry of an earlier term by counting replicas', (t) => {
  const net = figure8(null);
  const holders = [1, 2, 3, 4, 5].filter((id) => net.raft(id).log.matchTerm(3, 2));
  t.deepEqual(holders, [1, 2, 3, 4], 'x (term 2) is on a majority');
  const pr = net.raft(1).trk.progress;
  t.deepEqual([pr.get(3)!.match, pr.get(4)!.match], [3, 3], 'and the leader knows it');
  t.is(net.raft(1).log.committed, 2, 'but does not commit it');
  t.deepEqual(net.node(1).applied, []);

  // Once an entry of term 4 reaches a majority, both are committed.
  net.filters = [];
  net.tick(1);
  net.stabilize();
  t.is(net.raft(1).log.committed, 4);
  for (const id of [1, 2, 3, 4]) t.deepEqual(net.node(id).applied, ['x'], `node ${id}`);
});

test('Figure 8: the uncommitted old-term entry may be overwritten, and nobody applied it', (t) => {
  const net = figure8(null);
  figure8Continue(net);
  net.stabilize();
  for (const id of [2, 3, 4, 5]) {
    t.is(net.raft(id).log.term(3), 3, `node ${id} holds 5's entry at index 3`);
    t.is(entryAt(net, id, 3)?.term, 3);
  }
  t.is(entryAt(net, 1, 3), undefined, 'the old leader never applied index 3');
  for (const id of [1, 2, 3, 4, 5]) t.false(net.node(id).applied.includes('x'), `node ${id} never applied x`);
});

test('Figure 8 with mutation commit-previous-term: the same scenario loses a committed entry', (t) => {
  const net = figure8('commit-previous-term');
  t.is(net.raft(1).log.committed, 3, 'the mutated leader commits x by counting replicas');
  t.deepEqual(net.node(1).applied, ['x']);
  figure8Continue(net);
  net.stabilize();
  // Index 3 was applied as x on 1 but as 5's entry elsewhere: state machine safety is broken.
  t.is(entryAt(net, 1, 3)?.term, 2);
  t.is(entryAt(net, 2, 3)?.term, 3);
  t.false(net.node(2).applied.includes('x'));
});

// ---------------------------------------------------------------- forwarding

test('followers forward proposals to the leader', (t) => {
  const net = cluster3();
  net.propose(2, 'from-2');
  net.propose(3, 'from-3');
  net.stabilize();
  t.is(net.countDelivered(MessageType.Prop, (m) => m.to === 1), 2);
  for (const id of [1, 2, 3]) t.deepEqual(net.node(id).applied, ['from-2', 'from-3']);
});

test('disableProposalForwarding: a follower refuses proposals instead of forwarding them', (t) => {
  const net = cluster3((id) => (id === 2 ? { disableProposalForwarding: true } : {}));
  dropped(t, () => net.propose(2, 'a'), 'forwarding-disabled');
  net.propose(3, 'b');
  net.stabilize();
  t.deepEqual(net.node(2).applied, ['b']);
  t.is(net.countDelivered(MessageType.Prop, (m) => m.from === 2), 0);
});

test('proposals with no leader are refused with reason no-leader', (t) => {
  const net = new TestNet([1, 2, 3]);
  dropped(t, () => net.propose(1, 'a'), 'no-leader');
  // A (pre-)candidate has no leader either.
  net.isolate(1);
  net.node(1).rn.campaign();
  t.is(net.raft(1).state, StateType.PreCandidate);
  dropped(t, () => net.propose(1, 'a'), 'no-leader');
  t.is(net.raft(1).log.lastIndex(), 1, 'nothing was appended');
});

// ---------------------------------------------------------------- RawNode contract

test('RawNode.step refuses local message types and ignores responses from non-members', (t) => {
  const net = cluster3();
  const rn = net.node(1).rn;
  for (const type of [MessageType.Hup, MessageType.Beat, MessageType.Unreachable, MessageType.SnapStatus, MessageType.CheckQuorum]) {
    const e = t.throws(() => rn.step(newMessage({ type, from: 2, to: 1, term: net.raft(1).term })), { instanceOf: RaftError });
    t.is(e?.code, 'RAFT_ERR_STEP_LOCAL_MESSAGE', MessageType[type]);
  }
  const match = net.raft(1).trk.progress.get(2)!.match;
  rn.step(newMessage({ type: MessageType.AppResp, from: 9, to: 1, term: net.raft(1).term + 5, index: 100 }));
  t.is(net.raft(1).state, StateType.Leader, 'a higher term from a non-member response is not even looked at');
  t.is(net.raft(1).trk.progress.get(2)!.match, match);
  t.false(net.raft(1).trk.progress.has(9));
});

test('Ready.mustSync: new entries or a new term/vote must be synced; a commit index alone need not be', (t) => {
  const net = cluster3();
  net.cutLink(1, 3);
  net.propose(1, 'a');
  const m1 = net.processReady(1);
  for (const m of m1) net.deliver(m);
  const rn2 = net.node(2).rn;
  const rd = rn2.ready();
  t.deepEqual([rd.entries.length, rd.mustSync], [1, true], 'follower appending');
  net.node(2).storage.append(rd.entries);
  rn2.advance(rd);
  for (const m of rd.messages) net.deliver(m);
  for (const m of net.processReady(1)) if (m.to === 2) net.deliver(m); // the leader's commit reaches 2
  const rd2 = rn2.ready();
  t.deepEqual([rd2.entries.length, rd2.hardState?.commit, rd2.mustSync], [0, net.raft(1).log.committed, false]);
  t.deepEqual(rd2.committedEntries.map((e) => text(e.data)), ['a']);
  rn2.advance(rd2);
});
