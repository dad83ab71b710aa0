/**
 * Leadership transfer: TimeoutNow to an up-to-date follower (which campaigns
 * at once, without pre-vote, and overrides leader stickiness), catching a
 * lagging transferee up first, refusing proposals meanwhile, aborting after
 * an election timeout, and ignoring transfers to self or to a learner.
 */
import test from 'ava';
import {
  CAMPAIGN_TRANSFER,
  ConfChangeTransition,
  ConfChangeType,
  EMPTY_BYTES,
  MessageType,
  RaftError,
  StateType,
} from '../src/raft/index.js';
import { TestNet } from './helpers/raft-net.js';

function cluster3(): TestNet {
  const net = new TestNet([1, 2, 3]); // check-quorum and pre-vote on: followers are sticky
  net.campaign(1);
  net.propose(1, 'a');
  net.stabilize();
  return net;
}

const sameBytes = (a: Uint8Array | null, b: Uint8Array): boolean => !!a && a.length === b.length && a.every((x, i) => x === b[i]);

for (const via of ['leader', 'transferee'] as const) {
  test(`transfer to an up-to-date follower (requested on the ${via}): TimeoutNow, new leader at term+1, no pre-vote`, (t) => {
    const net = cluster3();
    const term = net.raft(1).term;
    for (const id of [2, 3]) {
      t.is(net.raft(id).lead, 1);
      t.true(net.raft(id).electionElapsed < net.raft(id).cfg.electionTimeoutTicks, `${id} is within its leader lease`);
    }
    const from = net.delivered.length;
    net.node(via === 'leader' ? 1 : 2).rn.transferLeadership(2);
    net.stabilize();
    const during = net.delivered.slice(from);

    t.is(net.leader(), 2);
    t.is(net.raft(2).term, term + 1);
    t.deepEqual([net.raft(1).state, net.raft(1).lead, net.raft(3).lead], [StateType.Follower, 2, 2]);
    t.deepEqual(
      during.filter((m) => m.type === MessageType.TimeoutNow).map((m) => [m.from, m.to]),
      [[1, 2]],
    );
    t.false(during.some((m) => m.type === MessageType.PreVote), 'pre-vote is skipped');
    const votes = during.filter((m) => m.type === MessageType.Vote);
    t.deepEqual(votes.map((m) => m.to).sort(), [1, 3]);
    t.true(votes.every((m) => sameBytes(m.context, CAMPAIGN_TRANSFER)), 'vote requests carry the transfer marker');
    t.is(net.countDelivered(MessageType.VoteResp, (m) => m.to === 2 && !m.reject), 2, 'granted despite stickiness');

    net.propose(2, 'b');
    net.stabilize();
    for (const id of [1, 2, 3]) t.deepEqual(net.node(id).applied, ['a', 'b']);
  });
}

test('transfer to a lagging follower: the leader catches it up first', (t) => {
  const net = cluster3();
  net.cutLink(1, 3);
  for (const s of ['b', 'c', 'd']) net.propose(1, s);
  net.stabilize();
  net.heal();
  const last = net.raft(1).log.lastIndex();
  t.true(net.raft(3).log.lastIndex() < last);

  net.node(1).rn.transferLeadership(3);
  t.is(net.node(1).rn.status().leadTransferee, 3);
  const first = net.round();
  t.false(first.some((m) => m.type === MessageType.TimeoutNow), 'no TimeoutNow before it is up to date');
  t.true(first.some((m) => m.type === MessageType.App && m.to === 3));

  const from = net.delivered.length;
  net.stabilize();
  const timeoutAt = net.delivered.findIndex((m, i) => i >= from && m.type === MessageType.TimeoutNow);
  t.true(timeoutAt >= 0);
  const lastAck = net.delivered.findIndex((m, i) => i >= from && m.type === MessageType.AppResp && m.from === 3 && !m.reject && m.index === last);
  t.true(lastAck >= 0 && lastAck < timeoutAt, 'TimeoutNow follows the acknowledgement of the last entry');
  t.is(net.leader(), 3);
  t.deepEqual(net.node(3).applied, ['a', 'b', 'c', 'd']);
});

test('proposals are refused during a transfer, and the transfer is aborted after an election timeout', (t) => {
  const net = cluster3();
  net.isolate(3);
  net.node(1).rn.transferLeadership(3);
  t.is(net.node(1).rn.status().leadTransferee, 3);

  const e = t.throws(() => net.propose(1, 'x'), { instanceOf: RaftError });
  t.deepEqual([e?.code, e?.reason], ['RAFT_ERR_PROPOSAL_DROPPED', 'leadership-transfer']);
  net.propose(2, 'forwarded'); // the follower does not know; the leader drops it
  net.stabilize();
  t.deepEqual(net.node(2).applied, ['a']);

  const timeout = net.raft(1).cfg.electionTimeoutTicks;
  for (let i = 0; i < timeout - 1; i++) {
    net.tick(1);
    net.stabilize();
  }
  t.is(net.node(1).rn.status().leadTransferee, 3, 'still under way one tick before the timeout');
  net.tick(1);
  net.stabilize();
  t.is(net.node(1).rn.status().leadTransferee, 0, 'aborted');
  t.is(net.leader(), 1, 'the leader keeps leading');
  net.propose(1, 'y');
  net.stabilize();
  t.deepEqual(net.node(2).applied, ['a', 'y']);
  t.is(net.countDelivered(MessageType.TimeoutNow), 0);
});

test('a new transfer request to another member replaces the pending one', (t) => {
  const net = cluster3();
  net.isolate(3);
  net.node(1).rn.transferLeadership(3);
  net.node(1).rn.transferLeadership(3); // a repeat changes nothing
  t.is(net.node(1).rn.status().leadTransferee, 3);
  net.heal();
  net.isolate(3);
  net.node(1).rn.transferLeadership(2);
  net.stabilize();
  t.is(net.leader(), 2);
});

test('a transfer to a member that is removed meanwhile is aborted', (t) => {
  const net = cluster3();
  net.propose(1, 'b');
  net.proposeConfChange(1, {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.RemoveNode, nodeId: 3 }],
    context: EMPTY_BYTES,
  });
  net.cutLink(1, 3);
  net.node(1).rn.transferLeadership(3); // 3 lags behind (it misses b), so no TimeoutNow yet
  t.is(net.node(1).rn.status().leadTransferee, 3);
  net.stabilize();
  t.deepEqual(net.node(1).rn.status().config.voters, [1, 2]);
  t.is(net.node(1).rn.status().leadTransferee, 0);
  t.is(net.leader(), 1);
  net.propose(1, 'c');
  net.stabilize();
  t.deepEqual(net.node(2).applied, ['a', 'b', 'c']);
});

test('transfers to self, to a learner, to a non-member, or requested by a follower for another are ignored', (t) => {
  const net = cluster3();
  net.addNode(4);
  net.proposeConfChange(1, {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }],
    context: EMPTY_BYTES,
  });
  net.stabilize();
  const term = net.raft(1).term;
  for (const [on, to] of [
    [1, 1],
    [1, 4],
    [1, 9],
    [2, 3],
  ] as const) {
    net.node(on).rn.transferLeadership(to);
    t.is(net.node(1).rn.status().leadTransferee, 0, `${on} → ${to}`);
    net.stabilize();
    net.propose(1, `after ${on}→${to}`);
    net.stabilize();
  }
  t.is(net.countDelivered(MessageType.TimeoutNow), 0);
  t.is(net.leader(), 1);
  t.is(net.raft(1).term, term);
  t.is(net.node(4).rn.raft.state, StateType.Follower);
  t.is(net.node(2).applied.length, 5);
});
