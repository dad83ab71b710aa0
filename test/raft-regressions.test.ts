/**
 * Cases that once went wrong, kept so that they stay right.
 */
import test from 'ava';
import {
  ConfChangeTransition,
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  encodeConfChange,
  isRaftError,
  newMessage,
} from '../src/raft/index.js';
import { runSeed } from '../src/sim/index.js';
import { TestNet } from './helpers/raft-net.js';

const addLearner = (id: number) =>
  encodeConfChange({ transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddLearner, nodeId: id }], context: EMPTY_BYTES });

test('a forwarded proposal carrying two conf changes: only the first is accepted, the second becomes a no-op', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  const r = net.raft(1);
  const last = r.log.lastIndex();
  r.step(
    newMessage({
      type: MessageType.Prop,
      from: 2,
      to: 1,
      entries: [
        { term: 0, index: 0, type: EntryType.ConfChange, data: addLearner(4) },
        { term: 0, index: 0, type: EntryType.ConfChange, data: addLearner(5) },
      ],
    }),
  );
  const ents = r.log.slice(last + 1, r.log.lastIndex() + 1, Infinity);
  t.deepEqual(
    ents.map((e) => [e.type, e.data.length > 0]),
    [
      [EntryType.ConfChange, true],
      [EntryType.Normal, false],
    ],
  );
  t.is(r.pendingConfIndex, last + 1);
});

test('a local proposal carrying two conf changes is refused whole', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  const r = net.raft(1);
  const last = r.log.lastIndex();
  const e = t.throws(() =>
    r.step(
      newMessage({
        type: MessageType.Prop,
        from: 1,
        entries: [
          { term: 0, index: 0, type: EntryType.ConfChange, data: addLearner(4) },
          { term: 0, index: 0, type: EntryType.ConfChange, data: addLearner(5) },
        ],
      }),
    ),
  );
  t.true(isRaftError(e, 'RAFT_ERR_PROPOSAL_DROPPED'));
  t.is(r.log.lastIndex(), last, 'nothing appended');
});

// Seeds of the simulator that once reported a violation (each fixed since; see git log).
// 1803: a Ready's entries were replaced in memory by a newer leader's before the write was
//       synced; the checker took the previous term from the live log (a false alarm).
for (const [seed, nodes] of [[1803, 3]] as const) {
  test(`simulator seed ${seed} (${nodes} members) runs clean`, (t) => {
    const r = runSeed(seed, { nodes });
    t.is(r.violation, null, JSON.stringify(r.violation));
  });
}
