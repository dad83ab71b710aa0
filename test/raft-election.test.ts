import test from 'ava';
import { MessageType, StateType, newMessage } from '../src/raft/index.js';
import { TestNet } from './helpers/raft-net.js';

test('a node that times out wins the election and commits an empty entry of its term', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.electionTimeout(1);
  net.stabilize();
  t.is(net.leader(), 1);
  // Bootstrap is term 1; pre-vote does not bump the term, the real election does.
  t.is(net.raft(1).term, 2);
  for (const id of [1, 2, 3]) {
    t.is(net.raft(id).log.committed, 2, `node ${id} committed the leader's empty entry`);
    t.is(net.raft(id).lead, 1);
  }
});

test('single voter elects itself and commits once its own entry is persisted', (t) => {
  const net = new TestNet([1]);
  net.campaign(1);
  t.is(net.leader(), 1);
  net.propose(1, 'a');
  net.stabilize();
  t.deepEqual(net.node(1).applied, ['a']);
});

test('a candidate with a stale log loses: votes require an up-to-date log', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.propose(1, 'x');
  net.stabilize();
  net.heal();
  // Node 3 missed 'x'; 1 and 2 refuse to vote for it.
  net.isolate(1);
  net.campaign(3);
  t.not(net.raft(3).state, StateType.Leader);
  t.is(net.raft(2).vote === 3, false);
});

test('pre-vote: an isolated node does not inflate its term, and rejoining does not depose the leader', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  const term = net.raft(1).term;
  net.isolate(3);
  for (let i = 0; i < 10; i++) {
    net.electionTimeout(3);
    net.stabilize();
  }
  t.is(net.raft(3).term, term, 'pre-candidate never bumps its term');
  t.is(net.raft(3).state, StateType.PreCandidate);
  net.heal();
  net.tick(1, 1); // heartbeat brings 3 back as follower
  net.stabilize();
  t.is(net.leader(), 1);
  t.is(net.raft(1).term, term);
  t.is(net.raft(3).state, StateType.Follower);
});

test('without pre-vote an isolated node bumps its term, and the leader steps down when it returns', (t) => {
  const net = new TestNet([1, 2, 3], () => ({ preVote: false }));
  net.campaign(1);
  const term = net.raft(1).term;
  net.isolate(3);
  net.electionTimeout(3);
  net.stabilize();
  net.electionTimeout(3);
  net.stabilize();
  t.is(net.raft(3).term, term + 2);
  net.heal();
  net.tick(1, 1);
  net.stabilize();
  // The leader hears a higher term in the answer to its heartbeat and steps down.
  t.true(net.raft(1).term >= term + 2);
});

test('check-quorum: a leader that cannot reach a quorum steps down after an election timeout', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  const r = net.raft(1);
  // The first check still sees the followers' answers from before the cut.
  for (let i = 0; i < r.cfg.electionTimeoutTicks; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.is(r.state, StateType.Leader);
  for (let i = 0; i < r.cfg.electionTimeoutTicks; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.is(r.state, StateType.Follower);
  t.is(r.lead, 0);
});

test('check-quorum: a leader that hears from a quorum stays leader', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5 * net.raft(1).cfg.electionTimeoutTicks; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.is(net.raft(1).state, StateType.Leader);
});

test('leader stickiness: a follower that hears from a live leader ignores a higher-term vote request', (t) => {
  const net = new TestNet([1, 2, 3], () => ({ preVote: false }));
  net.campaign(1);
  const term = net.raft(2).term;
  net.raft(2).step(newMessage({ type: MessageType.Vote, from: 3, to: 2, term: term + 5, index: 100, logTerm: term + 4 }));
  t.is(net.raft(2).term, term, 'term unchanged');
  t.is(net.raft(2).lead, 1);
  const rn = net.node(2).rn;
  t.deepEqual(rn.hasReady() ? rn.ready().messages : [], [], 'no vote response');
});

test('a follower whose election timer ran out (no live leader) grants a vote for a higher term', (t) => {
  const net = new TestNet([1, 2, 3], () => ({ preVote: false }));
  net.campaign(1);
  const r2 = net.raft(2);
  r2.electionElapsed = r2.cfg.electionTimeoutTicks;
  const term = r2.term;
  r2.step(newMessage({ type: MessageType.Vote, from: 3, to: 2, term: term + 1, index: 100, logTerm: term }));
  t.is(r2.term, term + 1);
  t.is(r2.vote, 3);
});

test('one vote per term: a node never grants two candidates in the same term', (t) => {
  const net = new TestNet([1, 2, 3], () => ({ preVote: false, checkQuorum: false }));
  const r3 = net.raft(3);
  r3.step(newMessage({ type: MessageType.Vote, from: 1, to: 3, term: 5, index: 1, logTerm: 1 }));
  r3.step(newMessage({ type: MessageType.Vote, from: 2, to: 3, term: 5, index: 1, logTerm: 1 }));
  const rd = net.node(3).rn.ready();
  const resp = rd.messages.filter((m) => m.type === MessageType.VoteResp);
  t.deepEqual(
    resp.map((m) => [m.to, m.reject]),
    [
      [1, false],
      [2, true],
    ],
  );
  t.is(rd.hardState?.vote, 1);
  t.true(rd.mustSync, 'a vote must be synced before it is sent');
});

test('randomized election timeouts lie in [timeout, 2*timeout)', (t) => {
  const net = new TestNet([1, 2, 3]);
  const r = net.raft(1);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    r.becomeFollower(r.term + 1, 0);
    seen.add(r.randomizedElectionTimeout);
    t.true(r.randomizedElectionTimeout >= 10 && r.randomizedElectionTimeout < 20);
  }
  t.true(seen.size > 5, 'timeouts vary');
});
