/**
 * Snapshots: compaction on the leader, sending a snapshot to a follower that
 * is too far behind, the outcome reports, ignoring snapshots that bring
 * nothing new, and restarting a node from a storage holding a snapshot.
 */
import test from 'ava';
import {
  type Entry,
  EntryType,
  MemoryStorage,
  MessageType,
  ProgressState,
  RawNode,
  SnapshotStatus,
  emptyConfState,
  newMessage,
} from '../src/raft/index.js';
import { Prng } from '../src/util/prng.js';
import { TestNet, bytes, text } from './helpers/raft-net.js';

/**
 * 3 voters, 1 leads; 3 misses `n` proposals; then the leader snapshots and
 * compacts its log up to what it applied. Returns the snapshot index.
 */
function compactedLeader(n = 10): { net: TestNet; snapIndex: number } {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < n; i++) net.propose(1, `e${i}`);
  net.stabilize();
  const snapIndex = net.raft(1).log.applied;
  const leader = net.node(1);
  leader.storage.createSnapshot(snapIndex, leader.rn.status().config, bytes(`state@${snapIndex}`));
  leader.storage.compact(snapIndex);
  net.heal();
  return { net, snapIndex };
}

test('MemoryStorage snapshot and compaction on a live leader', (t) => {
  const { net, snapIndex } = compactedLeader();
  const s = net.node(1).storage;
  t.is(s.firstIndex(), snapIndex + 1);
  t.is(s.lastIndex(), snapIndex);
  t.is(s.term(snapIndex), net.raft(1).term);
  t.deepEqual(s.snapshot().metadata.confState.voters, [1, 2, 3]);
  t.is(text(s.snapshot().data), `state@${snapIndex}`);
  // The leader keeps working on top of the compacted log.
  net.isolate(3);
  net.propose(1, 'after');
  net.stabilize();
  t.deepEqual(net.node(2).applied.at(-1), 'after');
});

test('a follower behind the compacted log receives a snapshot, restores it and catches up', (t) => {
  const { net, snapIndex } = compactedLeader();
  net.tick(1); // heartbeat: 3 answers, the leader probes it and finds its log compacted
  let sent: ReturnType<TestNet['round']> = [];
  for (let i = 0; i < 10 && !sent.some((m) => m.type === MessageType.Snap); i++) sent = net.round();
  // The snapshot was delivered in this round; 3's answer is handled in the next.
  const pr = net.raft(1).trk.progress.get(3)!;
  t.deepEqual([pr.state, pr.pendingSnapshot, pr.isPaused()], [ProgressState.Snapshot, snapIndex, true]);
  net.stabilize();

  const snaps = net.delivered.filter((m) => m.type === MessageType.Snap);
  t.is(snaps.length, 1);
  t.deepEqual([snaps[0]!.to, snaps[0]!.snapshot!.metadata.index], [3, snapIndex]);
  const n3 = net.node(3);
  t.deepEqual(n3.applied, [`<snapshot ${snapIndex}>`]);
  t.is(n3.storage.snapshot().metadata.index, snapIndex);
  t.is(text(n3.storage.snapshot().data), `state@${snapIndex}`);
  t.deepEqual([n3.rn.raft.log.committed, n3.rn.raft.log.applied], [snapIndex, snapIndex]);
  const pr3 = net.raft(1).trk.progress.get(3)!;
  t.deepEqual([pr3.state, pr3.match, pr3.next], [ProgressState.Replicate, snapIndex, snapIndex + 1]);

  net.propose(1, 'later');
  net.stabilize();
  t.deepEqual(n3.applied, [`<snapshot ${snapIndex}>`, 'later']);
  t.is(n3.rn.raft.log.lastIndex(), net.raft(1).log.lastIndex());
});

test('reportSnapshot failure: the leader probes again and sends a new snapshot', (t) => {
  const { net, snapIndex } = compactedLeader();
  net.filters = [(m) => m.type !== MessageType.Snap];
  net.tick(1);
  net.stabilize();
  const pr = () => net.raft(1).trk.progress.get(3)!;
  t.is(net.dropped.filter((m) => m.type === MessageType.Snap).length, 1);
  t.deepEqual([pr().state, pr().pendingSnapshot], [ProgressState.Snapshot, snapIndex]);
  net.tick(1);
  net.stabilize();
  t.is(net.dropped.filter((m) => m.type === MessageType.Snap).length, 1, 'nothing is sent while a snapshot is pending');

  net.node(1).rn.reportSnapshot(3, SnapshotStatus.Failure);
  t.deepEqual([pr().state, pr().pendingSnapshot, pr().next], [ProgressState.Probe, 0, pr().match + 1]);
  t.true(pr().isPaused(), 'waits for a heartbeat answer before the next attempt');

  net.filters = [];
  net.tick(1);
  net.stabilize();
  t.is(net.countDelivered(MessageType.Snap, (m) => m.to === 3), 1, 'a second snapshot went out and arrived');
  t.deepEqual(net.node(3).applied, [`<snapshot ${snapIndex}>`]);
  t.is(pr().state, ProgressState.Replicate);
});

test('reportSnapshot finish: the leader probes from just past the snapshot', (t) => {
  const { net, snapIndex } = compactedLeader();
  // The snapshot arrives, but its acknowledgement is lost.
  net.filters = [(m) => !(m.type === MessageType.AppResp && m.from === 3 && net.raft(3).log.committed >= snapIndex)];
  net.tick(1);
  net.stabilize();
  t.is(net.node(3).storage.snapshot().metadata.index, snapIndex, 'the snapshot arrived');
  const pr = net.raft(1).trk.progress.get(3)!;
  t.is(pr.state, ProgressState.Snapshot);
  net.node(1).rn.reportSnapshot(3, SnapshotStatus.Finish);
  const pr2 = net.raft(1).trk.progress.get(3)!;
  t.deepEqual([pr2.state, pr2.next], [ProgressState.Probe, snapIndex + 1]);
  net.filters = [];
  net.tick(1);
  net.stabilize();
  t.is(net.countDelivered(MessageType.Snap), 1, 'no second snapshot');
  t.is(net.raft(1).trk.progress.get(3)!.state, ProgressState.Replicate);
  t.is(net.raft(1).trk.progress.get(3)!.match, snapIndex);
});

test('a snapshot the follower already covers is ignored', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.stabilize();
  const r2 = net.raft(2);
  const committed = r2.log.committed;
  const term = net.raft(1).term;
  const cs = { ...emptyConfState(), voters: [1, 2, 3] };
  const snapMsg = (index: number, snapTerm: number) =>
    newMessage({ type: MessageType.Snap, from: 1, to: 2, term, snapshot: { metadata: { index, term: snapTerm, confState: cs }, data: bytes('old') } });

  for (const index of [committed - 1, committed]) {
    net.node(2).rn.step(snapMsg(index, r2.log.term(index)));
    const rd = net.node(2).rn.ready();
    t.is(rd.snapshot, null, `snapshot at ${index}`);
    t.deepEqual(
      rd.messages.map((m) => [m.type, m.to, m.index, m.reject]),
      [[MessageType.AppResp, 1, committed, false]],
      'answered with the commit index',
    );
    net.node(2).rn.advance(rd);
  }
  t.is(r2.log.committed, committed);

  // Past the commit index, but the log already holds that entry: it is only committed.
  net.cutLink(1, 3);
  net.propose(1, 'b');
  const msgs = net.processReady(1);
  for (const m of msgs) if (m.to === 2) net.deliver(m);
  net.processReady(2); // 2 persists b; its acknowledgement is not delivered
  const last = r2.log.lastIndex();
  t.is(r2.log.committed, committed);
  net.node(2).rn.step(snapMsg(last, term));
  const rd = net.node(2).rn.ready();
  t.is(rd.snapshot, null);
  t.is(r2.log.committed, last);
  t.deepEqual(rd.committedEntries.map((e) => text(e.data)), ['b']);
  t.deepEqual(rd.messages.map((m) => [m.type, m.index]), [[MessageType.AppResp, last]]);
  net.node(2).rn.advance(rd);
  t.is(r2.log.lastIndex(), last, 'the log was kept');
});

// ---------------------------------------------------------------- restart

const entry = (index: number, term: number, s: string): Entry => ({ index, term, type: EntryType.Normal, data: bytes(s) });

/** Snapshot at (5, 2); entries 6..8 with terms 2, 3, 3; hard state term 3, vote 2, commit 7. */
function restartedStorage(): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ metadata: { index: 5, term: 2, confState: { ...emptyConfState(), voters: [1, 2, 3] } }, data: bytes('sm@5') });
  s.append([entry(6, 2, 'f'), entry(7, 3, 'g'), entry(8, 3, 'h')]);
  s.setHardState({ term: 3, vote: 2, commit: 7 });
  return s;
}

test('restart from storage with a snapshot, entries and a hard state', (t) => {
  const rn = new RawNode({ id: 1, random: new Prng(1) }, restartedStorage());
  const st = rn.status();
  t.deepEqual(st.hardState, { term: 3, vote: 2, commit: 7 });
  t.deepEqual([st.applied, st.firstIndex, st.lastIndex], [5, 6, 8]);
  t.deepEqual(st.config.voters, [1, 2, 3]);
  t.deepEqual(st.softState, { lead: 0, state: 0 });
  const rd = rn.ready();
  t.is(rd.hardState, null, 'nothing new to persist');
  t.deepEqual(rd.entries, []);
  t.is(rd.snapshot, null);
  t.false(rd.mustSync);
  t.deepEqual(rd.committedEntries.map((e) => [e.index, text(e.data)]), [
    [6, 'f'],
    [7, 'g'],
  ]);
  rn.advance(rd);
  t.is(rn.status().applied, 7);
  t.false(rn.hasReady());
});

test('restart: appliedIndex skips what the application already applied (clamped to the commit index)', (t) => {
  const cases: { appliedIndex: number; wantApplied: number; want: number[] }[] = [
    { appliedIndex: 0, wantApplied: 5, want: [6, 7] },
    { appliedIndex: 6, wantApplied: 6, want: [7] },
    { appliedIndex: 7, wantApplied: 7, want: [] },
    { appliedIndex: 100, wantApplied: 7, want: [] },
  ];
  for (const c of cases) {
    const rn = new RawNode({ id: 1, random: new Prng(1), appliedIndex: c.appliedIndex }, restartedStorage());
    t.is(rn.status().applied, c.wantApplied, JSON.stringify(c));
    const got = rn.hasReady() ? rn.ready().committedEntries.map((e) => e.index) : [];
    t.deepEqual(got, c.want, JSON.stringify(c));
  }
});

test('a restarted follower keeps term, vote and commit and rejoins without re-applying', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  for (const s of ['a', 'b', 'c']) net.propose(1, s);
  net.stabilize();
  const n2 = net.node(2);
  const applied = n2.rn.raft.log.applied;
  n2.storage.createSnapshot(applied - 1, n2.rn.status().config, bytes('sm'));
  n2.storage.compact(applied - 1);
  const before = n2.rn.status().hardState;
  net.restart(2);
  t.deepEqual(n2.rn.status().hardState, before);
  t.is(n2.rn.status().applied, applied);
  t.is(n2.rn.raft.lead, 0, 'a restarted node knows no leader');
  net.propose(1, 'd');
  net.stabilize();
  t.deepEqual(n2.applied, ['a', 'b', 'c', 'd']);
  t.is(n2.rn.raft.lead, 1);
});

test('a restarted leader with an unpersisted entry loses it and the cluster moves on', (t) => {
  const net = new TestNet([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'lost'); // never handed out in a Ready
  const term = net.raft(1).term;
  net.restart(1);
  t.is(net.raft(1).term, term);
  t.is(net.raft(1).log.lastIndex(), 2, 'only what was persisted survives');
  net.campaign(2);
  net.propose(2, 'kept');
  net.stabilize();
  for (const id of [1, 2, 3]) t.deepEqual(net.node(id).applied, ['kept']);
});
