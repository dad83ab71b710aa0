/**
 * Raft over real LevelDB logs and real gRPC on loopback, in one process.
 */
import test from 'ava';
import { RaftTestCluster } from './helpers/raft-cluster.js';

test('three members elect a leader, replicate and apply the same sequence', async (t) => {
  const c = new RaftTestCluster();
  try {
    for (const id of [1, 2, 3]) await c.start(id, [1, 2, 3]);
    c.connectAll();
    c.run();
    await c.waitLeader();
    for (let i = 0; i < 300; i++) await c.propose(`v${i}`);
    await c.waitFor(() => [...c.members.values()].every((m) => m.sm.items.length === 300), 'all applied');
    const expected = Array.from({ length: 300 }, (_, i) => `v${i}`);
    for (const m of c.members.values()) t.deepEqual(m.sm.items, expected, `member ${m.id}`);
    const l = c.leader()!;
    t.true(l.storage.stats.syncs < 300, `group commit: ${l.storage.stats.syncs} fsyncs for 300 proposals`);
  } finally {
    await c.close();
  }
});

test('a member stopped and restarted recovers its log from LevelDB and catches up', async (t) => {
  const c = new RaftTestCluster();
  try {
    for (const id of [1, 2, 3]) await c.start(id, [1, 2, 3]);
    c.connectAll();
    c.run();
    await c.waitLeader();
    for (let i = 0; i < 50; i++) await c.propose(`a${i}`);
    await c.waitFor(() => [...c.members.values()].every((m) => m.sm.items.length === 50), 'first batch applied');
    const victim = [...c.members.values()].find((m) => m !== c.leader())!;
    const term = victim.node.term;
    await c.kill(victim.id);
    for (let i = 0; i < 50; i++) await c.propose(`b${i}`);
    const m = await c.start(victim.id, null);
    t.true(m.storage.lastIndex() >= 50, 'log reloaded from disk');
    t.true(m.storage.hardState().term >= term, 'term reloaded');
    c.connectAll();
    m.node.start();
    await c.waitFor(() => m.sm.items.length === 100, 'restarted member caught up');
    t.deepEqual(m.sm.items.slice(48, 52), ['a48', 'a49', 'b0', 'b1']);
  } finally {
    await c.close();
  }
});

test('a member that missed compacted entries gets the state as a chunked snapshot', async (t) => {
  const c = new RaftTestCluster({ snapshotEntries: 20, snapshotCatchUpEntries: 5, snapshotChunkBytes: 64 });
  try {
    for (const id of [1, 2, 3]) await c.start(id, [1, 2, 3]);
    c.connectAll();
    c.run();
    await c.waitLeader();
    const victim = [...c.members.values()].find((m) => m !== c.leader())!;
    await c.kill(victim.id);
    for (let i = 0; i < 120; i++) await c.propose(`s${i}`);
    const leader = c.leader()!;
    await c.waitFor(() => leader.storage.firstIndex() > 10, 'leader compacted its log');
    // Wipe the victim: it comes back empty and must be brought up by snapshot.
    const fresh = await c.start(victim.id + 10, null);
    leader.node.proposeConfChange({ transition: 0, changes: [{ type: 2, nodeId: fresh.id }], context: new Uint8Array(0) });
    c.connectAll();
    fresh.node.start();
    await c.waitFor(() => fresh.sm.items.length === 120, 'learner caught up through a snapshot');
    t.is(fresh.sm.items[119], 's119');
    // The sender counts the snapshot when the receiver's acknowledgement arrives.
    const sent = () => [...c.members.values()].reduce((n, m) => n + m.transport.stats.snapshotsSent, 0);
    await c.waitFor(() => sent() >= 1, 'the sender saw the snapshot acknowledged');
    t.true(fresh.transport.stats.snapshotsReceived >= 1);
  } finally {
    await c.close();
  }
});

test('a leader cut off from its quorum can neither commit nor serve a linearizable read', async (t) => {
  const c = new RaftTestCluster();
  try {
    for (const id of [1, 2, 3]) await c.start(id, [1, 2, 3]);
    c.connectAll();
    c.run();
    const leader = await c.waitLeader();
    await c.propose('settled');
    const r = leader.node.rn.raft;
    await c.waitFor(() => r.log.committed === r.log.lastIndex(), 'everything committed');
    const others = [...c.members.values()].filter((m) => m !== leader);
    // Cut the leader off by stopping the other two (the leader is now a minority of one).
    for (const o of others) await c.kill(o.id);
    const before = leader.node.rn.raft.log.committed;
    try {
      leader.node.propose(new TextEncoder().encode('lonely'));
    } catch {
      /* it may already have stepped down */
    }
    await new Promise((r) => setTimeout(r, 400));
    t.is(leader.node.rn.raft.log.committed, before, 'nothing commits without a quorum');
    await t.throwsAsync(
      Promise.race([leader.node.readIndex(), new Promise((_, rej) => setTimeout(() => rej(new Error('no read')), 500))]),
      undefined,
      'no linearizable read without a quorum',
    );
  } finally {
    await c.close();
  }
});
