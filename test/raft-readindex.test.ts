/**
 * Linearizable reads by ReadIndex (Raft thesis §6.4): the read point is the
 * leader's commit index, released only after a quorum acknowledged a
 * heartbeat sent after the request, and only once the leader has committed an
 * entry of its own term.
 */
import test, { type ExecutionContext } from 'ava';
import { type Message, MessageType, RaftError, StateType } from '../src/raft/index.js';
import { TestNet, bytes } from './helpers/raft-net.js';

const ctxOf = (m: Message): string => (m.context ? new TextDecoder().decode(m.context) : '');

function readDropped(t: ExecutionContext, fn: () => unknown): void {
  const e = t.throws(fn, { instanceOf: RaftError });
  t.is(e?.code, 'RAFT_ERR_READ_INDEX_DROPPED');
}

test('leader: the read state carries the commit index and appears only after a quorum acknowledged a heartbeat', (t) => {
  const net = new TestNet([1, 2, 3, 4, 5]);
  net.campaign(1);
  net.propose(1, 'a');
  net.stabilize();
  const commit = net.raft(1).log.committed;
  for (const id of [3, 4, 5]) net.cutLink(1, id);

  net.node(1).rn.readIndex(bytes('r1'));
  const msgs = net.round();
  const beats = msgs.filter((m) => m.type === MessageType.Heartbeat);
  t.deepEqual(
    beats.map((m) => [m.to, ctxOf(m)]),
    [2, 3, 4, 5].map((id) => [id, 'r1']),
    'a heartbeat round carrying the request context',
  );
  net.stabilize();
  t.is(net.countDelivered(MessageType.HeartbeatResp, (m) => ctxOf(m) === 'r1'), 1, 'only 2 answered');
  t.deepEqual(net.node(1).readStates, [], 'leader + 2 is no quorum of 5');

  net.heal();
  net.cutLink(1, 5);
  net.tick(1); // the next heartbeat carries the pending context again
  net.stabilize();
  t.deepEqual(net.node(1).readStates, [{ index: commit, context: 'r1' }]);
});

test('leader: the read index is the commit index at the time of the request, not of the answer', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  const commit = net.raft(1).log.committed;
  net.node(1).rn.readIndex(bytes('r'));
  net.propose(1, 'later'); // appended after the request
  net.stabilize();
  t.is(net.raft(1).log.committed, commit + 1);
  t.deepEqual(net.node(1).readStates, [{ index: commit, context: 'r' }]);
});

test('follower: the request is forwarded, answered with ReadIndexResp, and the read state appears on the follower', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.stabilize();
  const commit = net.raft(1).log.committed;
  net.node(2).rn.readIndex(bytes('f1'));
  net.stabilize();
  t.is(net.countDelivered(MessageType.ReadIndex, (m) => m.from === 2 && m.to === 1), 1);
  t.is(net.countDelivered(MessageType.ReadIndexResp, (m) => m.to === 2 && m.index === commit && ctxOf(m) === 'f1'), 1);
  t.deepEqual(net.node(2).readStates, [{ index: commit, context: 'f1' }]);
  t.deepEqual(net.node(1).readStates, [], 'the leader keeps no read state for a forwarded request');
  t.deepEqual(net.node(3).readStates, []);
});

test('a new leader queues reads until it has committed an entry of its term, then answers them', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.stabilize();
  const oldCommit = net.raft(1).log.committed;

  // 2 takes over with 3's vote; 3's acknowledgements of 2's appends are lost for now.
  net.isolate(1);
  net.tick(3, net.raft(3).cfg.electionTimeoutTicks); // 3's lease on 1 runs out so that it grants votes
  net.node(2).rn.campaign();
  for (let i = 0; i < 20 && net.raft(2).state !== StateType.Leader; i++) net.round();
  t.is(net.raft(2).state, StateType.Leader);
  net.filters = [(m) => !(m.type === MessageType.AppResp && m.from === 3)];
  net.stabilize();
  const r2 = net.raft(2);
  t.is(net.raft(3).lead, 2);
  t.is(r2.log.committed, oldCommit, 'the entry of its term is not committed yet');

  const from = net.delivered.length;
  net.node(2).rn.readIndex(bytes('early'));
  net.node(3).rn.readIndex(bytes('via-3'));
  net.stabilize();
  t.false(
    net.delivered.slice(from).some((m) => m.type === MessageType.Heartbeat && ctxOf(m) !== ''),
    'no heartbeat round starts before the first commit',
  );
  t.deepEqual(net.node(2).readStates, []);
  t.deepEqual(net.node(3).readStates, []);

  net.filters = [];
  net.tick(2); // the heartbeat answer makes 2 resend its entry to 3
  net.stabilize();
  const commit = r2.log.committed;
  t.true(commit > oldCommit);
  t.is(r2.log.term(commit), r2.term);
  t.deepEqual(net.node(2).readStates, [{ index: commit, context: 'early' }]);
  t.deepEqual(net.node(3).readStates, [{ index: commit, context: 'via-3' }]);
});

test('a partitioned old leader cannot answer a read', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.node(1).rn.readIndex(bytes('stale'));
  for (let i = 0; i < 5; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.is(net.raft(1).state, StateType.Leader, 'it still believes it leads');
  t.deepEqual(net.node(1).readStates, []);

  // Meanwhile the others move on.
  for (let i = 0; i < 30; i++) {
    net.tickAll([2, 3]);
    net.stabilize();
  }
  t.is(net.leaders().filter((id) => id !== 1).length, 1);
  for (let i = 0; i < 30; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.deepEqual(net.node(1).readStates, [], 'never, not even until it steps down');
  t.not(net.raft(1).state, StateType.Leader);
});

test('maxPendingReadIndex bounds the requests waiting for their heartbeat round', (t) => {
  const net = new TestNet([1, 2, 3], () => ({ maxPendingReadIndex: 2 }));
  net.campaign(1);
  net.isolate(1);
  const rn = net.node(1).rn;
  rn.readIndex(bytes('a'));
  rn.readIndex(bytes('b'));
  readDropped(t, () => rn.readIndex(bytes('c')));
  net.heal();
  net.tick(1);
  net.stabilize();
  t.deepEqual(
    net.node(1).readStates.map((r) => r.context),
    ['a', 'b'],
  );
  rn.readIndex(bytes('c')); // room again
  net.stabilize();
  t.deepEqual(net.node(1).readStates.at(-1)?.context, 'c');
});

test('maxPendingReadIndex bounds the requests queued before the first commit', (t) => {
  const net = new TestNet([1, 2, 3], () => ({ maxPendingReadIndex: 1 }));
  net.node(1).rn.campaign();
  for (let i = 0; i < 20 && net.raft(1).state !== StateType.Leader; i++) net.round();
  t.is(net.raft(1).state, StateType.Leader);
  net.node(1).rn.readIndex(bytes('a'));
  readDropped(t, () => net.node(1).rn.readIndex(bytes('b')));
  net.stabilize();
  t.deepEqual(net.node(1).readStates.map((r) => r.context), ['a']);
});

test('reads with no leader, or on a candidate, are refused', (t) => {
  const net = new TestNet([1, 2, 3]);
  readDropped(t, () => net.node(1).rn.readIndex(bytes('x')));
  net.isolate(1);
  net.node(1).rn.campaign();
  t.is(net.raft(1).state, StateType.PreCandidate);
  readDropped(t, () => net.node(1).rn.readIndex(bytes('x')));
});

test('single voter: a read is answered without messages once the leader committed in its term', (t) => {
  const net = new TestNet([1]);
  const rn = net.node(1).rn;
  rn.campaign();
  t.is(net.raft(1).state, StateType.Leader);
  rn.readIndex(bytes('before-commit')); // the empty entry of the term is not even persisted yet
  net.processReady(1); // persists it; the commit follows
  t.deepEqual(net.node(1).readStates, [], 'queued until the first commit');
  net.stabilize();
  t.deepEqual(net.node(1).readStates, [{ index: 2, context: 'before-commit' }]);

  net.propose(1, 'a');
  net.stabilize();
  rn.readIndex(bytes('after'));
  const rd = rn.ready();
  t.deepEqual(rd.messages, []);
  t.deepEqual(
    rd.readStates.map((r) => [r.index, new TextDecoder().decode(r.context)]),
    [[3, 'after']],
  );
  rn.advance(rd);
});
