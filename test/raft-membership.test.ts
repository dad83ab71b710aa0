/**
 * Membership changes: learners, promotion, removal (of a follower and of the
 * leader), joint consensus entered and left implicitly or explicitly,
 * demotion through learnersNext, refusals, and the conf-change codec.
 */
import test, { type ExecutionContext } from 'ava';
import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  MemoryStorage,
  MessageType,
  type ProposalDroppedReason,
  type RaftConfigInput,
  type RaftErrorCode,
  RaftError,
  RawNode,
  StateType,
  decodeConfChange,
  encodeConfChange,
  newMessage,
} from '../src/raft/index.js';
import { Prng } from '../src/util/prng.js';
import { TestNet, bytes } from './helpers/raft-net.js';

const voter = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.AddVoter, nodeId });
const learner = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.AddLearner, nodeId });
const remove = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.RemoveNode, nodeId });
const cc = (transition: ConfChangeTransition, ...changes: ConfChangeSingle[]): ConfChange => ({ transition, changes, context: EMPTY_BYTES });
const auto = (...changes: ConfChangeSingle[]): ConfChange => cc(ConfChangeTransition.Auto, ...changes);
const LEAVE = auto();

const conf = (voters: number[], extra: Partial<ConfState> = {}): ConfState => ({
  voters,
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
  ...extra,
});

function raftError(t: ExecutionContext, fn: () => unknown, code: RaftErrorCode, reason?: ProposalDroppedReason): void {
  const e = t.throws(fn, { instanceOf: RaftError });
  t.is(e?.code, code, e?.message);
  if (reason !== undefined) t.is(e?.reason, reason);
}

/** A cluster of `voters` with the first one elected. */
function cluster(voters: number[], configure?: (id: number) => Partial<RaftConfigInput>): TestNet {
  const net = new TestNet(voters, configure);
  net.campaign(voters[0]!);
  return net;
}

/** Ticks the given nodes one tick at a time, stabilizing in between, until one of them leads. */
function electAmong(net: TestNet, ids: number[], maxTicks = 100): number {
  for (let i = 0; i < maxTicks; i++) {
    const l = net.leaders().filter((id) => ids.includes(id));
    if (l.length === 1) return l[0]!;
    net.tickAll(ids);
    net.stabilize();
  }
  throw new Error(`no leader among ${ids.join(',')}`);
}

// ---------------------------------------------------------------- learners

test('a new learner catches up through a snapshot, and neither votes nor campaigns', (t) => {
  const net = cluster([1, 2, 3]);
  for (const s of ['a', 'b']) net.propose(1, s);
  net.stabilize();
  const leader = net.node(1);
  const snapIndex = leader.rn.raft.log.applied;
  leader.storage.createSnapshot(snapIndex, leader.rn.status().config, bytes('sm'));
  leader.storage.compact(snapIndex);

  const n4 = net.addNode(4);
  net.proposeConfChange(1, auto(learner(4)));
  net.stabilize();
  t.deepEqual(leader.rn.status().config, conf([1, 2, 3], { learners: [4] }));
  t.is(net.countDelivered(MessageType.Snap, (m) => m.to === 4), 1);
  t.is(n4.applied[0], `<snapshot ${snapIndex}>`);
  t.deepEqual(n4.confStates, [conf([1, 2, 3], { learners: [4] })], 'it learns of its own addition from the log');
  t.true(n4.rn.raft.isLearner);
  t.is(n4.rn.raft.log.lastIndex(), leader.rn.raft.log.lastIndex());

  net.propose(1, 'c');
  net.stabilize();
  t.deepEqual(n4.applied.slice(1), ['c']);

  // It never campaigns.
  const from = net.delivered.length;
  for (let i = 0; i < 50; i++) {
    net.tick(4);
    net.stabilize();
  }
  n4.rn.campaign();
  net.stabilize();
  t.is(n4.rn.raft.state, StateType.Follower);
  t.false(net.delivered.slice(from).some((m) => m.from === 4 && (m.type === MessageType.Vote || m.type === MessageType.PreVote)));

  // Its acknowledgement does not count toward a commit.
  const commit = leader.rn.raft.log.committed;
  net.cutLink(1, 2);
  net.cutLink(1, 3);
  net.propose(1, 'd');
  net.stabilize();
  t.true(n4.rn.raft.log.matchTerm(commit + 1, leader.rn.raft.term), 'the learner holds d');
  t.is(leader.rn.raft.log.committed, commit, 'leader + learner is no quorum');
  net.heal();
  net.tick(1);
  net.stabilize();
  t.is(leader.rn.raft.log.committed, commit + 1);
});

test('a candidate asks only voters for votes, never learners', (t) => {
  const net = cluster([1, 2, 3], () => ({ preVote: false, checkQuorum: false }));
  net.addNode(4);
  net.proposeConfChange(1, auto(learner(4)));
  net.stabilize();
  const from = net.delivered.length;
  net.isolate(1);
  net.campaign(2);
  t.is(net.leaders().filter((id) => id !== 1)[0], 2);
  const votes = net.delivered.slice(from).filter((m) => m.type === MessageType.Vote);
  t.deepEqual(votes.map((m) => m.to).sort(), [3]);
});

test("a learner's activity neither keeps a leader in power nor confirms a read", (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  net.proposeConfChange(1, auto(learner(4)));
  net.stabilize();
  net.cutLink(1, 2);
  net.cutLink(1, 3);
  net.node(1).rn.readIndex(bytes('r'));
  const timeout = net.raft(1).cfg.electionTimeoutTicks;
  for (let i = 0; i < 2 * timeout; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.true(net.countDelivered(MessageType.HeartbeatResp, (m) => m.from === 4 && m.to === 1) > 0, 'the learner keeps answering');
  t.deepEqual(net.node(1).readStates, [], 'leader + learner acknowledgements are no quorum');
  t.is(net.raft(1).state, StateType.Follower, 'check-quorum counts voters only');
});

test('a learner promoted to voter counts toward the quorum', (t) => {
  const net = cluster([1, 2, 3]);
  const n4 = net.addNode(4);
  net.proposeConfChange(1, auto(learner(4)));
  net.stabilize();
  net.proposeConfChange(1, auto(voter(4)));
  net.stabilize();
  t.deepEqual(net.node(1).rn.status().config, conf([1, 2, 3, 4]));
  t.deepEqual(n4.rn.status().config, conf([1, 2, 3, 4]));
  t.false(n4.rn.raft.isLearner);
  t.true(n4.rn.raft.promotable());

  // 1 + 4 is no majority of four voters; 1 + 2 + 4 is.
  const commit = net.raft(1).log.committed;
  net.cutLink(1, 2);
  net.cutLink(1, 3);
  net.propose(1, 'x');
  net.stabilize();
  t.is(net.raft(1).log.committed, commit);
  net.heal();
  net.cutLink(1, 3);
  net.tick(1);
  net.stabilize();
  t.is(net.raft(1).log.committed, commit + 1);
  t.deepEqual(n4.applied, ['<snapshot 1>', 'x']);
});

// ---------------------------------------------------------------- removal

test('removing a follower: it gets nothing more and the rest commit without it', (t) => {
  const net = cluster([1, 2, 3]);
  net.proposeConfChange(1, auto(remove(3)));
  net.stabilize();
  t.deepEqual(net.node(1).rn.status().config, conf([1, 2]));
  t.false(net.raft(1).trk.progress.has(3));
  const from = net.delivered.length;
  net.propose(1, 'x');
  net.tick(1);
  net.stabilize();
  t.false(net.delivered.slice(from).some((m) => m.to === 3));
  t.deepEqual(net.node(2).applied, ['x']);
  t.deepEqual(net.node(3).applied, []);
});

test('removing the leader: it steps down once the change is applied and the others elect a new leader', (t) => {
  const net = cluster([1, 2, 3]);
  net.proposeConfChange(1, auto(remove(1)));
  net.stabilize();
  const from = net.delivered.length;
  const r1 = net.raft(1);
  t.deepEqual(net.node(1).confStates.at(-1), conf([2, 3]));
  t.deepEqual([r1.state, r1.lead], [StateType.Follower, 0]);
  t.false(r1.promotable());

  const leader = electAmong(net, [1, 2, 3]);
  t.true(leader === 2 || leader === 3);
  t.true(net.raft(leader).term > 2);
  net.propose(leader, 'after');
  net.stabilize();
  t.deepEqual(net.node(2).applied, ['after']);
  t.deepEqual(net.node(3).applied, ['after']);
  t.deepEqual(net.node(1).applied, []);
  t.false(net.delivered.slice(from).some((m) => m.from === 1 && (m.type === MessageType.Vote || m.type === MessageType.PreVote)), '1 never campaigned');
});

test('stepDownOnRemoval false: the removed leader stays leader but refuses proposals', (t) => {
  const net = cluster([1, 2, 3], () => ({ stepDownOnRemoval: false }));
  net.proposeConfChange(1, auto(remove(1)));
  net.stabilize();
  t.is(net.raft(1).state, StateType.Leader);
  raftError(t, () => net.propose(1, 'x'), 'RAFT_ERR_PROPOSAL_DROPPED', 'not-in-configuration');
});

// ---------------------------------------------------------------- joint consensus

test('JointImplicit: the joint configuration is left automatically by the leader', (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  net.proposeConfChange(1, cc(ConfChangeTransition.JointImplicit, voter(4)));
  net.stabilize();
  const joint = conf([1, 2, 3, 4], { votersOutgoing: [1, 2, 3], autoLeave: true });
  const after = conf([1, 2, 3, 4]);
  for (const id of [1, 2, 3, 4]) t.deepEqual(net.node(id).confStates, [joint, after], `node ${id}`);
  const ccs = net.node(2).appliedEntries.filter((e) => e.type === EntryType.ConfChange).map((e) => decodeConfChange(e.data));
  t.deepEqual(ccs.map((c) => c.changes.length), [1, 0], 'the second change is the empty leave proposed by the leader');
  t.deepEqual(net.node(1).rn.status().config, after);
});

test('Auto with several changes goes through joint consensus (replace 3 by 4)', (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  net.proposeConfChange(1, auto(voter(4), remove(3)));
  net.stabilize();
  t.deepEqual(net.node(1).confStates, [conf([1, 2, 4], { votersOutgoing: [1, 2, 3], autoLeave: true }), conf([1, 2, 4])]);
  t.false(net.raft(1).trk.progress.has(3));
});

test('JointExplicit: stays joint until an empty change is proposed; decisions need both majorities', (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  net.proposeConfChange(1, cc(ConfChangeTransition.JointExplicit, voter(4), remove(3)));
  net.stabilize();
  for (let i = 0; i < 5; i++) {
    net.tick(1);
    net.stabilize();
  }
  const joint = conf([1, 2, 4], { votersOutgoing: [1, 2, 3] });
  t.deepEqual(net.node(1).rn.status().config, joint);
  t.deepEqual(net.node(1).confStates, [joint]);

  // {1, 3} is a majority of the outgoing voters but not of the incoming ones.
  const commit = net.raft(1).log.committed;
  net.cutLink(1, 2);
  net.cutLink(1, 4);
  net.propose(1, 'x');
  net.stabilize();
  t.is(net.raft(1).log.committed, commit);
  net.heal();
  net.tick(1);
  net.stabilize();
  t.is(net.raft(1).log.committed, commit + 1);

  // While joint, only leaving is possible.
  raftError(t, () => net.proposeConfChange(1, auto(learner(5))), 'RAFT_ERR_INVALID_CONF_CHANGE');
  net.proposeConfChange(1, LEAVE);
  net.stabilize();
  for (const id of [1, 2, 4]) t.deepEqual(net.node(id).rn.status().config, conf([1, 2, 4]), `node ${id}`);
  t.deepEqual(net.node(1).confStates, [joint, conf([1, 2, 4])]);
});

test('demotion of a voter to learner goes through learnersNext', (t) => {
  const net = cluster([1, 2, 3]);
  net.proposeConfChange(1, cc(ConfChangeTransition.JointExplicit, learner(3)));
  net.stabilize();
  const joint = conf([1, 2], { votersOutgoing: [1, 2, 3], learnersNext: [3] });
  t.deepEqual(net.node(3).rn.status().config, joint);
  t.false(net.raft(3).isLearner, 'still votes in the outgoing half');
  t.false(net.raft(1).trk.progress.get(3)!.isLearner);
  net.proposeConfChange(1, LEAVE);
  net.stabilize();
  const after = conf([1, 2], { learners: [3] });
  for (const id of [1, 2, 3]) t.deepEqual(net.node(id).rn.status().config, after, `node ${id}`);
  t.true(net.raft(3).isLearner);
  t.false(net.raft(3).promotable());
  t.true(net.raft(1).trk.progress.get(3)!.isLearner);
});

test('a new leader leaves a joint configuration its predecessor entered', (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  // The leave that 1 proposes by itself never reaches anyone.
  const isLeave = (data: Uint8Array): boolean => decodeConfChange(data).changes.length === 0;
  net.filters = [(m) => !(m.from === 1 && m.entries.some((e) => e.type === EntryType.ConfChange && isLeave(e.data)))];
  net.proposeConfChange(1, cc(ConfChangeTransition.JointImplicit, voter(4)));
  net.stabilize();
  const joint = conf([1, 2, 3, 4], { votersOutgoing: [1, 2, 3], autoLeave: true });
  t.deepEqual(net.node(2).rn.status().config, joint);

  net.heal();
  net.isolate(1);
  const leader = electAmong(net, [2, 3, 4]);
  net.stabilize();
  for (const id of [2, 3, 4]) t.deepEqual(net.node(id).confStates, [joint, conf([1, 2, 3, 4])], `node ${id}`);
  t.is(net.raft(leader).trk.config.voters.isJoint(), false);
});

test('a node with an unapplied committed conf change does not campaign, however long its unapplied tail', (t) => {
  const s = MemoryStorage.bootstrap([1, 2, 3]);
  const ents: Entry[] = [];
  for (let i = 2; i <= 11; i++) ents.push({ index: i, term: 1, type: EntryType.Normal, data: new Uint8Array(100) });
  ents.push({ index: 12, term: 1, type: EntryType.ConfChange, data: encodeConfChange(auto(remove(3))) });
  s.append(ents);
  s.setHardState({ term: 1, vote: 0, commit: 12 });
  // Reading the unapplied tail takes several pages of maxCommittedBytesPerReady.
  const rn = new RawNode({ id: 1, random: new Prng(7), maxCommittedBytesPerReady: 300 }, s);
  rn.campaign();
  t.is(rn.raft.state, StateType.Follower);
  t.is(rn.raft.term, 1);
  const rd = rn.ready();
  t.deepEqual(rd.messages, [], 'no vote requests');
  t.true(rd.committedEntries.length < 11, 'the tail is handed out in pages');
});

// ---------------------------------------------------------------- refusals

test('a second conf change while one is pending is refused', (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  net.addNode(5);
  net.proposeConfChange(1, auto(learner(4)));
  const last = net.raft(1).log.lastIndex();
  raftError(t, () => net.proposeConfChange(1, auto(learner(5))), 'RAFT_ERR_PROPOSAL_DROPPED', 'conf-change-pending');
  t.is(net.raft(1).log.lastIndex(), last, 'nothing appended');
  net.stabilize();
  net.proposeConfChange(1, auto(learner(5)));
  net.stabilize();
  t.deepEqual(net.node(1).rn.status().config, conf([1, 2, 3], { learners: [4, 5] }));
});

test('a new leader refuses conf changes until it has applied its whole log', (t) => {
  const net = cluster([1, 2, 3]);
  // 2 receives 'a' but never learns that it is committed.
  net.cutLink(1, 3);
  net.propose(1, 'a');
  for (const m of net.processReady(1)) if (m.to === 2) net.deliver(m);
  net.processReady(2);
  net.heal();
  net.isolate(1);
  net.tick(3, net.raft(3).cfg.electionTimeoutTicks); // 3's lease on 1 runs out
  net.node(2).rn.campaign();
  for (let i = 0; i < 20 && net.raft(2).state !== StateType.Leader; i++) net.round();
  t.is(net.raft(2).state, StateType.Leader);
  t.true(net.raft(2).log.applied < net.raft(2).log.lastIndex());
  net.addNode(4);
  raftError(t, () => net.proposeConfChange(2, auto(learner(4))), 'RAFT_ERR_PROPOSAL_DROPPED', 'conf-change-pending');
  net.stabilize();
  net.proposeConfChange(2, auto(learner(4)));
  net.stabilize();
  t.deepEqual(net.node(2).rn.status().config.learners, [4]);
});

test('a forwarded conf change that cannot be accepted becomes an empty entry', (t) => {
  const net = cluster([1, 2, 3]);
  net.addNode(4);
  net.addNode(5);
  net.proposeConfChange(1, auto(learner(4)));
  net.proposeConfChange(2, auto(learner(5))); // forwarded while 1's change is pending
  net.stabilize();
  t.deepEqual(net.node(1).rn.status().config, conf([1, 2, 3], { learners: [4] }));
  const types = net.node(3).appliedEntries.slice(-2).map((e) => [e.type, e.data.length]);
  t.deepEqual(types[1], [EntryType.Normal, 0]);
});

test('a proposal carrying two conf changes admits only the first (one change at a time)', (t) => {
  const net = cluster([1, 2, 3]);
  const last = net.raft(1).log.lastIndex();
  // A forwarded proposal with two membership changes in one message.
  net.node(1).rn.step(
    newMessage({
      type: MessageType.Prop,
      from: 2,
      to: 1,
      entries: [voter(4), voter(5)].map((c) => ({ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(auto(c)) })),
    }),
  );
  const appended = net.raft(1).log.slice(last + 1, net.raft(1).log.lastIndex() + 1, Infinity);
  t.is(appended.length, 2);
  t.deepEqual(
    appended.map((e) => e.type),
    [EntryType.ConfChange, EntryType.Normal],
    'the second change must not be appended while the first is pending',
  );
});

test('invalid conf changes are refused with RAFT_ERR_INVALID_CONF_CHANGE and change nothing', (t) => {
  const cases: { name: string; voters: number[]; cc: ConfChange }[] = [
    { name: 'remove all voters (joint)', voters: [1, 2, 3], cc: auto(remove(1), remove(2), remove(3)) },
    { name: 'remove the only voter', voters: [1], cc: auto(remove(1)) },
    { name: 'demote the only voter', voters: [1], cc: auto(learner(1)) },
    { name: 'node id 0', voters: [1, 2, 3], cc: auto(voter(0)) },
    { name: 'fractional node id', voters: [1, 2, 3], cc: auto(voter(1.5)) },
  ];
  for (const c of cases) {
    const net = cluster(c.voters);
    const last = net.raft(1).log.lastIndex();
    const e = t.throws(() => net.proposeConfChange(1, c.cc), { instanceOf: RaftError }, c.name);
    t.is(e?.code, 'RAFT_ERR_INVALID_CONF_CHANGE', c.name);
    t.is(net.raft(1).log.lastIndex(), last, `${c.name}: nothing appended`);
    t.deepEqual(net.node(1).rn.status().config, conf(c.voters), c.name);
  }
});

test('an invalid committed conf change is skipped, not fatal', (t) => {
  const net = cluster([1, 2, 3]);
  const before = net.node(2).rn.status().config;
  t.deepEqual(net.node(2).rn.applyConfChange(auto(remove(1), remove(2), remove(3))), before);
  t.deepEqual(net.node(2).rn.applyConfChange(LEAVE), before, 'leaving a non-joint configuration');
  t.deepEqual(net.node(2).rn.status().config, before);
});

// ---------------------------------------------------------------- codec

test('conf-change codec round-trips', (t) => {
  const cases: ConfChange[] = [
    LEAVE,
    auto(voter(1)),
    cc(ConfChangeTransition.JointImplicit, voter(4), remove(3), learner(7)),
    cc(ConfChangeTransition.JointExplicit, learner(Number.MAX_SAFE_INTEGER)),
    { transition: ConfChangeTransition.Auto, changes: [voter(9)], context: bytes('http://10.0.0.9:2380') },
  ];
  for (const c of cases) t.deepEqual(decodeConfChange(encodeConfChange(c)), c, JSON.stringify(c.changes));
});

test('conf-change codec rejects malformed bytes', (t) => {
  const good = encodeConfChange({ transition: ConfChangeTransition.JointImplicit, changes: [voter(4), remove(3)], context: bytes('ctx') });
  const patched = (at: number, v: number): Uint8Array => {
    const b = good.slice();
    b[at] = v;
    return b;
  };
  const cases: { name: string; data: Uint8Array }[] = [
    { name: 'empty', data: new Uint8Array() },
    { name: 'truncated header', data: good.slice(0, 5) },
    { name: 'unknown version', data: patched(0, 2) },
    { name: 'unknown transition', data: patched(1, 3) },
    { name: 'count past the data', data: patched(3, 5) },
    { name: 'unknown change type', data: patched(4, 9) },
    { name: 'truncated context', data: good.slice(0, good.length - 1) },
    { name: 'trailing bytes', data: Uint8Array.from([...good, 0]) },
    { name: 'context length too large', data: patched(4 + 2 * 9, 1) },
  ];
  for (const c of cases) {
    const e = t.throws(() => decodeConfChange(c.data), { instanceOf: RaftError }, c.name);
    t.is(e?.code, 'RAFT_ERR_INVALID_CONF_CHANGE', c.name);
  }
  const tooMany = { transition: ConfChangeTransition.Auto, changes: new Array(1025).fill(voter(1)), context: EMPTY_BYTES };
  t.is(t.throws(() => encodeConfChange(tooMany), { instanceOf: RaftError })?.code, 'RAFT_ERR_INVALID_CONF_CHANGE');
});
