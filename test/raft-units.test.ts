/**
 * Table-driven unit tests of the Raft core's leaves: quorum arithmetic, the
 * inflight window, Progress transitions, the log (Unstable + RaftLog), config
 * validation and MemoryStorage. Many cases follow etcd-io/raft's own tables.
 */
import test, { type ExecutionContext } from 'ava';
import { validateConfig, type RaftConfigInput } from '../src/raft/config.js';
import { RaftError, type RaftErrorCode } from '../src/raft/errors.js';
import { RaftLog, Unstable } from '../src/raft/log.js';
import { JointConfig, VoteResult, majorityCommitted, majorityVoteResult } from '../src/raft/quorum.js';
import { MemoryStorage, limitSize } from '../src/raft/storage.js';
import { Inflights, Progress } from '../src/raft/tracker.js';
import { type Entry, EntryType, ProgressState, emptyConfState } from '../src/raft/types.js';
import { AssertionError } from '../src/util/assert.js';

// ---------------------------------------------------------------- helpers

const ent = (index: number, term: number, size = 0): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(size) });
const ents = (pairs: readonly (readonly [number, number])[]): Entry[] => pairs.map(([i, t]) => ent(i, t));
const ids = (es: readonly Entry[]): [number, number][] => es.map((e) => [e.index, e.term]);

/** A storage whose log starts after a snapshot at (snapIndex, snapTerm) and holds `pairs`. */
function storageWith(snapIndex: number, snapTerm: number, pairs: readonly (readonly [number, number])[]): MemoryStorage {
  const s = new MemoryStorage();
  if (snapIndex > 0) s.applySnapshot({ metadata: { index: snapIndex, term: snapTerm, confState: emptyConfState() }, data: new Uint8Array() });
  s.append(ents(pairs));
  return s;
}

function raftError(t: ExecutionContext, fn: () => unknown, code: RaftErrorCode, msg?: string): RaftError {
  const e = t.throws(fn, { instanceOf: RaftError }, msg);
  t.is(e?.code, code, msg);
  return e!;
}

const acked = (m: Record<number, number>) => (id: number): number | undefined => m[id];
const votes = (m: Record<number, boolean>): Map<number, boolean> => new Map(Object.entries(m).map(([k, v]) => [Number(k), v]));

// ---------------------------------------------------------------- quorum

test('majorityCommitted: the largest index acknowledged by a majority', (t) => {
  const cases: { voters: number[]; acks: Record<number, number>; want: number }[] = [
    { voters: [], acks: {}, want: Infinity },
    { voters: [1], acks: {}, want: 0 },
    { voters: [1], acks: { 1: 5 }, want: 5 },
    { voters: [1, 2], acks: { 1: 5, 2: 3 }, want: 3 },
    { voters: [1, 2], acks: { 1: 5 }, want: 0 },
    { voters: [1, 2, 3], acks: { 1: 5, 2: 3, 3: 4 }, want: 4 },
    { voters: [1, 2, 3], acks: { 1: 5 }, want: 0 },
    { voters: [1, 2, 3], acks: { 1: 5, 2: 5 }, want: 5 },
    { voters: [1, 2, 3, 4], acks: { 1: 5, 2: 3, 3: 4, 4: 2 }, want: 3 },
    { voters: [1, 2, 3, 4], acks: { 1: 9, 2: 9 }, want: 0 },
    { voters: [1, 2, 3, 4, 5], acks: { 1: 9, 2: 8, 3: 7, 4: 1, 5: 1 }, want: 7 },
    // Acknowledgements of non-voters do not count.
    { voters: [1, 2, 3], acks: { 1: 5, 9: 100, 8: 100 }, want: 0 },
  ];
  for (const c of cases) {
    t.is(majorityCommitted(new Set(c.voters), acked(c.acks), []), c.want, JSON.stringify(c));
  }
});

test('JointConfig.committed: the minimum over both halves; no voters commits nothing', (t) => {
  const cases: { incoming: number[]; outgoing: number[]; acks: Record<number, number>; want: number }[] = [
    { incoming: [], outgoing: [], acks: { 1: 5 }, want: 0 },
    { incoming: [1, 2, 3], outgoing: [], acks: { 1: 5, 2: 4, 3: 3 }, want: 4 },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], acks: { 1: 9, 2: 9, 3: 2, 4: 1, 5: 1 }, want: 1 },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], acks: { 1: 9, 2: 9, 3: 7, 4: 8, 5: 1 }, want: 7 },
    { incoming: [1, 2], outgoing: [1, 2, 3], acks: { 1: 6, 2: 5, 3: 9 }, want: 5 },
    { incoming: [4], outgoing: [1, 2, 3], acks: { 1: 6, 2: 6, 3: 6 }, want: 0 },
  ];
  for (const c of cases) {
    t.is(new JointConfig(new Set(c.incoming), new Set(c.outgoing)).committed(acked(c.acks)), c.want, JSON.stringify(c));
  }
});

test('majorityVoteResult: won, pending and lost', (t) => {
  const W = VoteResult.Won;
  const P = VoteResult.Pending;
  const L = VoteResult.Lost;
  const cases: { voters: number[]; votes: Record<number, boolean>; want: VoteResult }[] = [
    { voters: [], votes: {}, want: W },
    { voters: [1], votes: {}, want: P },
    { voters: [1], votes: { 1: true }, want: W },
    { voters: [1], votes: { 1: false }, want: L },
    { voters: [1, 2], votes: { 1: true }, want: P },
    { voters: [1, 2], votes: { 1: true, 2: false }, want: L },
    { voters: [1, 2, 3], votes: { 1: true, 2: true }, want: W },
    { voters: [1, 2, 3], votes: { 1: true, 2: false }, want: P },
    { voters: [1, 2, 3], votes: { 1: false, 2: false }, want: L },
    { voters: [1, 2, 3, 4], votes: { 1: true, 2: true }, want: P },
    { voters: [1, 2, 3, 4], votes: { 1: true, 2: true, 3: false, 4: false }, want: L },
    { voters: [1, 2, 3, 4], votes: { 1: true, 2: true, 3: true }, want: W },
    // Votes of non-voters are ignored.
    { voters: [1, 2, 3], votes: { 1: true, 7: true, 8: true }, want: P },
  ];
  for (const c of cases) t.is(majorityVoteResult(new Set(c.voters), votes(c.votes)), c.want, JSON.stringify(c));
});

test('JointConfig.voteResult needs both halves; an empty outgoing half agrees', (t) => {
  const cases: { incoming: number[]; outgoing: number[]; votes: Record<number, boolean>; want: VoteResult }[] = [
    { incoming: [1, 2, 3], outgoing: [], votes: { 1: true, 2: true }, want: VoteResult.Won },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], votes: { 1: true, 2: true }, want: VoteResult.Pending },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], votes: { 1: true, 2: true, 3: true }, want: VoteResult.Pending },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], votes: { 1: true, 3: true, 4: true }, want: VoteResult.Won },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], votes: { 1: true, 2: true, 4: false, 5: false }, want: VoteResult.Lost },
    { incoming: [1, 2, 3], outgoing: [3, 4, 5], votes: { 1: false, 2: false, 4: true, 5: true }, want: VoteResult.Lost },
    { incoming: [], outgoing: [], votes: {}, want: VoteResult.Won },
  ];
  for (const c of cases) {
    t.is(new JointConfig(new Set(c.incoming), new Set(c.outgoing)).voteResult(votes(c.votes)), c.want, JSON.stringify(c));
  }
});

// ---------------------------------------------------------------- Inflights

test('Inflights: full by message count', (t) => {
  const inf = new Inflights(3, 1000);
  inf.add(1, 10);
  inf.add(2, 10);
  t.false(inf.full());
  inf.add(3, 10);
  t.true(inf.full());
  t.is(inf.size, 3);
  t.is(inf.sizeBytes, 30);
  t.throws(() => inf.add(4, 10), { instanceOf: AssertionError });
});

test('Inflights: full by bytes (reaching the byte limit counts as full)', (t) => {
  const inf = new Inflights(10, 25);
  inf.add(1, 10);
  inf.add(2, 10);
  t.false(inf.full(), '20 < 25 bytes');
  inf.add(3, 5);
  t.true(inf.full(), '25 >= 25 bytes');
  inf.freeLE(1);
  t.false(inf.full());
  t.is(inf.sizeBytes, 15);
});

test('Inflights.freeLE frees a prefix; stale acknowledgements free nothing', (t) => {
  const inf = new Inflights(10, 1000);
  for (const [i, b] of [
    [3, 1],
    [5, 2],
    [8, 4],
    [9, 8],
  ] as const) {
    inf.add(i, b);
  }
  const cases: { to: number; size: number; bytes: number }[] = [
    { to: 2, size: 4, bytes: 15 },
    { to: 5, size: 2, bytes: 12 },
    { to: 4, size: 2, bytes: 12 },
    { to: 7, size: 2, bytes: 12 },
    { to: 8, size: 1, bytes: 8 },
    { to: 100, size: 0, bytes: 0 },
  ];
  for (const c of cases) {
    inf.freeLE(c.to);
    t.deepEqual([inf.size, inf.sizeBytes], [c.size, c.bytes], `freeLE(${c.to})`);
  }
});

test('Inflights: the ring wraps around and keeps order', (t) => {
  const inf = new Inflights(4, 1000);
  for (let i = 1; i <= 4; i++) inf.add(i, i);
  inf.freeLE(2); // start moves to slot 2
  inf.add(5, 5); // slot 0
  inf.add(6, 6); // slot 1
  t.true(inf.full());
  t.is(inf.sizeBytes, 3 + 4 + 5 + 6);
  inf.freeLE(4);
  t.deepEqual([inf.size, inf.sizeBytes], [2, 11]);
  inf.freeLE(5);
  t.deepEqual([inf.size, inf.sizeBytes], [1, 6]);
  inf.add(7, 7);
  inf.add(8, 8);
  inf.add(9, 9);
  t.true(inf.full());
  inf.freeLE(8);
  t.deepEqual([inf.size, inf.sizeBytes], [1, 9]);
  inf.reset();
  t.deepEqual([inf.size, inf.sizeBytes, inf.full()], [0, 0, false]);
});

// ---------------------------------------------------------------- Progress

function progress(fields: Partial<Pick<Progress, 'match' | 'next' | 'state' | 'pendingSnapshot'>>): Progress {
  const pr = new Progress(fields.next ?? 1, false, new Inflights(8, 1 << 20));
  Object.assign(pr, fields);
  return pr;
}

test('Progress.maybeUpdate moves match forward only and never moves next back', (t) => {
  const cases: { match: number; next: number; n: number; ok: boolean; wMatch: number; wNext: number }[] = [
    { match: 3, next: 5, n: 2, ok: false, wMatch: 3, wNext: 5 },
    { match: 3, next: 5, n: 3, ok: false, wMatch: 3, wNext: 5 },
    { match: 3, next: 5, n: 4, ok: true, wMatch: 4, wNext: 5 },
    { match: 3, next: 5, n: 6, ok: true, wMatch: 6, wNext: 7 },
  ];
  for (const c of cases) {
    const pr = progress({ match: c.match, next: c.next });
    pr.msgAppFlowPaused = true;
    t.is(pr.maybeUpdate(c.n), c.ok, JSON.stringify(c));
    t.deepEqual([pr.match, pr.next], [c.wMatch, c.wNext], JSON.stringify(c));
    t.is(pr.msgAppFlowPaused, !c.ok, 'an update unpauses');
  }
});

test('Progress.maybeDecrTo: stale rejections are ignored, fresh ones back off', (t) => {
  const R = ProgressState.Replicate;
  const P = ProgressState.Probe;
  const cases: { state: ProgressState; match: number; next: number; rejected: number; hint: number; ok: boolean; wNext: number }[] = [
    // Replicate: a rejection at or below match is stale; otherwise restart from match+1.
    { state: R, match: 5, next: 10, rejected: 5, hint: 5, ok: false, wNext: 10 },
    { state: R, match: 5, next: 10, rejected: 4, hint: 4, ok: false, wNext: 10 },
    { state: R, match: 5, next: 10, rejected: 9, hint: 2, ok: true, wNext: 6 },
    // Probe: only the answer to the last probe (next-1) counts.
    { state: P, match: 0, next: 10, rejected: 5, hint: 2, ok: false, wNext: 10 },
    { state: P, match: 0, next: 10, rejected: 9, hint: 4, ok: true, wNext: 5 },
    { state: P, match: 0, next: 10, rejected: 9, hint: 9, ok: true, wNext: 9 },
    { state: P, match: 0, next: 10, rejected: 9, hint: 50, ok: true, wNext: 9 },
    { state: P, match: 3, next: 10, rejected: 9, hint: 1, ok: true, wNext: 4 },
    { state: P, match: 0, next: 1, rejected: 0, hint: 0, ok: true, wNext: 1 },
  ];
  for (const c of cases) {
    const pr = progress({ state: c.state, match: c.match, next: c.next });
    pr.msgAppFlowPaused = true;
    t.is(pr.maybeDecrTo(c.rejected, c.hint), c.ok, JSON.stringify(c));
    t.is(pr.next, c.wNext, JSON.stringify(c));
    if (c.ok && c.state === P) t.false(pr.msgAppFlowPaused, 'a fresh probe answer unpauses');
  }
});

test('Progress.becomeProbe after a snapshot probes past the snapshot (or past match)', (t) => {
  const cases: { state: ProgressState; match: number; pending: number; wNext: number }[] = [
    { state: ProgressState.Snapshot, match: 5, pending: 20, wNext: 21 },
    { state: ProgressState.Snapshot, match: 30, pending: 20, wNext: 31 },
    // A failed snapshot forgets the pending index: probe from match.
    { state: ProgressState.Snapshot, match: 5, pending: 0, wNext: 6 },
    { state: ProgressState.Replicate, match: 5, pending: 0, wNext: 6 },
    { state: ProgressState.Probe, match: 7, pending: 0, wNext: 8 },
  ];
  for (const c of cases) {
    const pr = progress({ state: c.state, match: c.match, next: 40, pendingSnapshot: c.pending });
    pr.inflights.add(39, 1);
    pr.becomeProbe();
    t.deepEqual([pr.state, pr.next, pr.pendingSnapshot, pr.inflights.size], [ProgressState.Probe, c.wNext, 0, 0], JSON.stringify(c));
  }
});

test('Progress: sending in Probe pauses; in Replicate the window bounds sending; Snapshot is always paused', (t) => {
  const pr = progress({ match: 4, next: 5 });
  t.false(pr.isPaused());
  pr.sentEntries(3, 30, 7);
  t.true(pr.isPaused(), 'one probe at a time');
  t.is(pr.next, 5, 'probe does not advance next');

  pr.becomeReplicate();
  t.deepEqual([pr.state, pr.next, pr.isPaused()], [ProgressState.Replicate, 5, false]);
  const small = new Progress(5, false, new Inflights(2, 1 << 20));
  small.match = 4;
  small.becomeReplicate();
  small.sentEntries(2, 20, 6);
  t.deepEqual([small.next, small.inflights.size, small.isPaused()], [7, 1, false]);
  small.sentEntries(1, 10, 7);
  t.deepEqual([small.next, small.inflights.size, small.isPaused()], [8, 2, true]);
  t.true(small.maybeUpdate(6));
  small.inflights.freeLE(6);
  t.false(small.isPaused());

  small.becomeSnapshot(50);
  t.deepEqual([small.state, small.pendingSnapshot, small.isPaused(), small.inflights.size], [ProgressState.Snapshot, 50, true, 0]);
});

// ---------------------------------------------------------------- Unstable / RaftLog

test('Unstable.truncateAndAppend: append, replace, truncate', (t) => {
  const cases: { name: string; ents: [number, number][]; offset: number; toAppend: [number, number][]; wOffset: number; wEnts: [number, number][] }[] = [
    { name: 'append to the end', ents: [[5, 1]], offset: 5, toAppend: [[6, 1], [7, 1]], wOffset: 5, wEnts: [[5, 1], [6, 1], [7, 1]] },
    { name: 'replace all at offset', ents: [[5, 1]], offset: 5, toAppend: [[5, 2], [6, 2]], wOffset: 5, wEnts: [[5, 2], [6, 2]] },
    { name: 'replace from before offset', ents: [[5, 1]], offset: 5, toAppend: [[4, 2], [5, 2], [6, 2]], wOffset: 4, wEnts: [[4, 2], [5, 2], [6, 2]] },
    { name: 'truncate in the middle', ents: [[5, 1], [6, 1], [7, 1]], offset: 5, toAppend: [[6, 2]], wOffset: 5, wEnts: [[5, 1], [6, 2]] },
    { name: 'truncate the last', ents: [[5, 1], [6, 1], [7, 1]], offset: 5, toAppend: [[7, 2], [8, 2]], wOffset: 5, wEnts: [[5, 1], [6, 1], [7, 2], [8, 2]] },
  ];
  for (const c of cases) {
    const u = new Unstable(c.offset);
    u.entries = ents(c.ents);
    u.truncateAndAppend(ents(c.toAppend));
    t.is(u.offset, c.wOffset, c.name);
    t.deepEqual(ids(u.entries), c.wEnts, c.name);
  }
});

test('Unstable.stableTo ignores stale or mismatched acknowledgements', (t) => {
  const cases: { ents: [number, number][]; offset: number; snap: [number, number] | null; index: number; term: number; wOffset: number; wLen: number }[] = [
    { ents: [], offset: 1, snap: null, index: 0, term: 0, wOffset: 1, wLen: 0 },
    { ents: [[5, 1]], offset: 5, snap: null, index: 5, term: 1, wOffset: 6, wLen: 0 },
    { ents: [[5, 1], [6, 1]], offset: 5, snap: null, index: 5, term: 1, wOffset: 6, wLen: 1 },
    { ents: [[6, 2]], offset: 6, snap: null, index: 6, term: 1, wOffset: 6, wLen: 1 }, // term mismatch
    { ents: [[5, 1]], offset: 5, snap: null, index: 4, term: 1, wOffset: 5, wLen: 1 }, // below the unstable entries
    { ents: [[5, 1]], offset: 5, snap: [4, 1], index: 4, term: 1, wOffset: 5, wLen: 1 }, // matches the snapshot, not an entry
  ];
  for (const c of cases) {
    const u = new Unstable(c.offset);
    u.entries = ents(c.ents);
    if (c.snap) u.snapshot = { metadata: { index: c.snap[0], term: c.snap[1], confState: emptyConfState() }, data: new Uint8Array() };
    u.stableTo(c.index, c.term);
    t.deepEqual([u.offset, u.entries.length], [c.wOffset, c.wLen], JSON.stringify(c));
  }
});

test('RaftLog.findConflict: first new or conflicting index, 0 when all present', (t) => {
  const base: [number, number][] = [
    [1, 1],
    [2, 2],
    [3, 3],
  ];
  const cases: { ents: [number, number][]; want: number }[] = [
    { ents: [], want: 0 },
    { ents: [[1, 1], [2, 2], [3, 3]], want: 0 },
    { ents: [[2, 2], [3, 3]], want: 0 },
    { ents: [[3, 3]], want: 0 },
    { ents: [[1, 1], [2, 2], [3, 3], [4, 4], [5, 4]], want: 4 },
    { ents: [[2, 2], [3, 3], [4, 4], [5, 4]], want: 4 },
    { ents: [[4, 4], [5, 4]], want: 4 },
    { ents: [[1, 4], [2, 4]], want: 1 },
    { ents: [[2, 1], [3, 4], [4, 4]], want: 2 },
    { ents: [[3, 1], [4, 2], [5, 4], [6, 4]], want: 3 },
  ];
  for (const c of cases) {
    const log = new RaftLog(storageWith(0, 0, base), 1 << 20);
    t.is(log.findConflict(ents(c.ents)), c.want, JSON.stringify(c.ents));
  }
});

test('RaftLog.findConflictByTerm: largest index ≤ index with term ≤ term', (t) => {
  const fromStart = (): RaftLog => new RaftLog(storageWith(0, 0, [[1, 2], [2, 2], [3, 5], [4, 5], [5, 5]]), 1 << 20);
  // Compacted: snapshot at (10, 3), entries 11..15.
  const compacted = (): RaftLog => new RaftLog(storageWith(10, 3, [[11, 3], [12, 3], [13, 4], [14, 4], [15, 4]]), 1 << 20);
  const cases: { log: () => RaftLog; index: number; term: number; want: [number, number] }[] = [
    { log: fromStart, index: 100, term: 2, want: [100, 0] }, // past the end: unknown term
    { log: fromStart, index: 5, term: 6, want: [5, 5] },
    { log: fromStart, index: 5, term: 5, want: [5, 5] },
    { log: fromStart, index: 5, term: 4, want: [2, 2] },
    { log: fromStart, index: 5, term: 2, want: [2, 2] },
    { log: fromStart, index: 5, term: 1, want: [0, 0] },
    { log: fromStart, index: 1, term: 2, want: [1, 2] },
    { log: fromStart, index: 1, term: 1, want: [0, 0] },
    { log: fromStart, index: 0, term: 0, want: [0, 0] },
    { log: compacted, index: 30, term: 3, want: [30, 0] },
    { log: compacted, index: 14, term: 9, want: [14, 4] },
    { log: compacted, index: 14, term: 4, want: [14, 4] },
    { log: compacted, index: 14, term: 3, want: [12, 3] },
    { log: compacted, index: 14, term: 2, want: [9, 0] }, // runs into the compacted prefix
    { log: compacted, index: 11, term: 5, want: [11, 3] },
    { log: compacted, index: 10, term: 5, want: [10, 3] },
    { log: compacted, index: 10, term: 3, want: [10, 3] },
    { log: compacted, index: 10, term: 2, want: [9, 0] },
    { log: compacted, index: 9, term: 2, want: [9, 0] },
    { log: compacted, index: 4, term: 2, want: [4, 0] },
    { log: compacted, index: 0, term: 0, want: [0, 0] },
  ];
  for (const c of cases) {
    const r = c.log().findConflictByTerm(c.index, c.term);
    t.deepEqual([r.index, r.term], c.want, `findConflictByTerm(${c.index}, ${c.term})`);
  }
});

test('RaftLog.maybeAppend: matching, conflicts, commit clamping', (t) => {
  const lastIndex = 3;
  const lastTerm = 3;
  const commit = 1;
  const cases: {
    logTerm: number;
    index: number;
    committed: number;
    ents: [number, number][];
    wLast: number | undefined;
    wCommit: number;
    wAssert?: boolean;
    wLog?: [number, number][];
  }[] = [
    // Mismatch: wrong term, or index past the end.
    { logTerm: lastTerm - 1, index: lastIndex, committed: lastIndex, ents: [[4, 4]], wLast: undefined, wCommit: commit },
    { logTerm: lastTerm, index: lastIndex + 1, committed: lastIndex, ents: [[5, 4]], wLast: undefined, wCommit: commit },
    // Match at the last entry.
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex, ents: [], wLast: 3, wCommit: 3 },
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex + 1, ents: [], wLast: 3, wCommit: 3 },
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex - 1, ents: [], wLast: 3, wCommit: 2 },
    { logTerm: lastTerm, index: lastIndex, committed: 0, ents: [], wLast: 3, wCommit: commit },
    { logTerm: 0, index: 0, committed: lastIndex, ents: [], wLast: 0, wCommit: commit },
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex, ents: [[4, 4]], wLast: 4, wCommit: 3 },
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex + 1, ents: [[4, 4]], wLast: 4, wCommit: 4 },
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex + 2, ents: [[4, 4]], wLast: 4, wCommit: 4 },
    { logTerm: lastTerm, index: lastIndex, committed: lastIndex + 2, ents: [[4, 4], [5, 4]], wLast: 5, wCommit: 5 },
    // Match in the middle: the conflicting suffix is replaced.
    { logTerm: 2, index: 2, committed: 3, ents: [[3, 4]], wLast: 3, wCommit: 3, wLog: [[1, 1], [2, 2], [3, 4]] },
    { logTerm: 1, index: 1, committed: 3, ents: [[2, 4]], wLast: 2, wCommit: 2, wLog: [[1, 1], [2, 4]] },
    { logTerm: 1, index: 1, committed: 3, ents: [[2, 4], [3, 4]], wLast: 3, wCommit: 3, wLog: [[1, 1], [2, 4], [3, 4]] },
    // Entries already present are not rewritten.
    { logTerm: 1, index: 1, committed: 2, ents: [[2, 2]], wLast: 2, wCommit: 2, wLog: [[1, 1], [2, 2], [3, 3]] },
    // A conflict with a committed entry is a bug.
    { logTerm: 0, index: 0, committed: 3, ents: [[1, 4]], wLast: undefined, wCommit: commit, wAssert: true },
  ];
  for (const c of cases) {
    const log = new RaftLog(storageWith(0, 0, [[1, 1], [2, 2], [3, 3]]), 1 << 20);
    log.commitTo(commit);
    const name = JSON.stringify(c);
    if (c.wAssert) {
      t.throws(() => log.maybeAppend(c.index, c.logTerm, c.committed, ents(c.ents)), { instanceOf: AssertionError }, name);
      continue;
    }
    t.is(log.maybeAppend(c.index, c.logTerm, c.committed, ents(c.ents)), c.wLast, name);
    t.is(log.committed, c.wCommit, name);
    if (c.wLog) t.deepEqual(ids(log.slice(1, log.lastIndex() + 1, Infinity)), c.wLog, name);
  }
});

test('RaftLog.slice reads across storage and the unstable tail, cut by size', (t) => {
  // Storage: snapshot at 3, entries 4..6; unstable: 7..9. Every entry is 24 bytes (no payload).
  const log = new RaftLog(storageWith(3, 1, [[4, 1], [5, 2], [6, 2]]), 1 << 20);
  log.append(ents([[7, 3], [8, 3], [9, 3]]));
  t.is(log.unstable.offset, 7);
  t.deepEqual([log.firstIndex(), log.lastIndex()], [4, 9]);
  const cases: { lo: number; hi: number; max: number; want: number[] }[] = [
    { lo: 4, hi: 10, max: Infinity, want: [4, 5, 6, 7, 8, 9] },
    { lo: 4, hi: 7, max: Infinity, want: [4, 5, 6] },
    { lo: 5, hi: 8, max: Infinity, want: [5, 6, 7] },
    { lo: 7, hi: 9, max: Infinity, want: [7, 8] },
    { lo: 6, hi: 6, max: Infinity, want: [] },
    { lo: 4, hi: 10, max: 0, want: [4] }, // at least one entry
    { lo: 4, hi: 10, max: 48, want: [4, 5] }, // cut inside storage
    { lo: 5, hi: 10, max: 72, want: [5, 6, 7] }, // cut inside the unstable tail
    { lo: 5, hi: 10, max: 71, want: [5, 6] },
    { lo: 8, hi: 10, max: 1, want: [8] },
  ];
  for (const c of cases) {
    t.deepEqual(
      log.slice(c.lo, c.hi, c.max).map((e) => e.index),
      c.want,
      `slice(${c.lo}, ${c.hi}, ${c.max})`,
    );
  }
  raftError(t, () => log.slice(3, 5, Infinity), 'RAFT_ERR_COMPACTED');
  t.throws(() => log.slice(4, 11, Infinity), { instanceOf: AssertionError });
  t.is(log.term(3), 1, 'the snapshot term is known');
  t.is(log.term(8), 3);
  raftError(t, () => log.term(2), 'RAFT_ERR_COMPACTED');
  raftError(t, () => log.term(10), 'RAFT_ERR_UNAVAILABLE');
});

test('RaftLog.commitTo never decreases and asserts it stays within the log', (t) => {
  const log = new RaftLog(storageWith(0, 0, [[1, 1], [2, 1], [3, 2]]), 1 << 20);
  log.commitTo(2);
  t.is(log.committed, 2);
  log.commitTo(1);
  t.is(log.committed, 2, 'commit does not go back');
  t.throws(() => log.commitTo(4), { instanceOf: AssertionError });
  t.is(log.committed, 2);
  t.throws(() => log.appliedTo(3), { instanceOf: AssertionError }, 'cannot apply past commit');
  log.appliedTo(2);
  t.throws(() => log.appliedTo(1), { instanceOf: AssertionError }, 'applied does not go back');
});

test('RaftLog.maybeCommit only commits entries of the given term unless told otherwise', (t) => {
  const cases: { index: number; term: number; unsafe: boolean; ok: boolean; wCommit: number }[] = [
    { index: 3, term: 2, unsafe: false, ok: true, wCommit: 3 },
    { index: 2, term: 2, unsafe: false, ok: false, wCommit: 1 }, // entry 2 has term 1
    { index: 2, term: 2, unsafe: true, ok: true, wCommit: 2 },
    { index: 1, term: 1, unsafe: false, ok: false, wCommit: 1 }, // not past commit
  ];
  for (const c of cases) {
    const log = new RaftLog(storageWith(0, 0, [[1, 1], [2, 1], [3, 2]]), 1 << 20);
    log.commitTo(1);
    t.is(log.maybeCommit(c.index, c.term, c.unsafe), c.ok, JSON.stringify(c));
    t.is(log.committed, c.wCommit, JSON.stringify(c));
  }
});

test('RaftLog.isUpToDate compares last term, then last index (§5.4.1)', (t) => {
  const log = new RaftLog(storageWith(0, 0, [[1, 1], [2, 2], [3, 3]]), 1 << 20);
  const cases: { index: number; term: number; want: boolean }[] = [
    { index: 2, term: 4, want: true },
    { index: 3, term: 4, want: true },
    { index: 4, term: 4, want: true },
    { index: 2, term: 2, want: false },
    { index: 3, term: 2, want: false },
    { index: 4, term: 2, want: false },
    { index: 2, term: 3, want: false },
    { index: 3, term: 3, want: true },
    { index: 4, term: 3, want: true },
  ];
  for (const c of cases) t.is(log.isUpToDate(c.index, c.term), c.want, JSON.stringify(c));
});

// ---------------------------------------------------------------- validateConfig

test('validateConfig fills defaults for a minimal config', (t) => {
  const c = validateConfig({ id: 7, random: { int: () => 0 } });
  t.is(c.id, 7);
  t.is(c.electionTimeoutTicks, 10);
  t.is(c.heartbeatIntervalTicks, 1);
  t.is(c.maxInflightMsgs, 256);
  t.is(c.mutation, null);
  t.true(c.checkQuorum);
  t.true(c.preVote);
});

test('validateConfig: each invalid field gives RAFT_ERR_INVALID_CONFIG naming the field', (t) => {
  const random = { int: () => 0 };
  const cases: { field: string; input: Record<string, unknown> }[] = [
    { field: 'id', input: { id: 0 } },
    { field: 'id', input: { id: -3 } },
    { field: 'id', input: { id: 1.5 } },
    { field: 'electionTimeoutTicks', input: { electionTimeoutTicks: 0 } },
    { field: 'electionTimeoutTicks', input: { electionTimeoutTicks: 3, heartbeatIntervalTicks: 3 } },
    { field: 'heartbeatIntervalTicks', input: { heartbeatIntervalTicks: 0 } },
    { field: 'maxMsgBytes', input: { maxMsgBytes: 0 } },
    { field: 'maxCommittedBytesPerReady', input: { maxCommittedBytesPerReady: -1 } },
    { field: 'maxUncommittedBytes', input: { maxUncommittedBytes: 0 } },
    { field: 'maxEntryBytes', input: { maxEntryBytes: Number.NaN } },
    { field: 'maxInflightMsgs', input: { maxInflightMsgs: 0 } },
    { field: 'maxInflightBytes', input: { maxInflightBytes: 2.5 } },
    { field: 'maxPendingReadIndex', input: { maxPendingReadIndex: 0 } },
    { field: 'appliedIndex', input: { appliedIndex: -1 } },
    { field: 'random', input: { random: {} } },
    { field: 'mutation', input: { mutation: 'drop-everything' } },
  ];
  for (const c of cases) {
    const input = { id: 1, random, ...c.input } as unknown as RaftConfigInput;
    const e = raftError(t, () => validateConfig(input), 'RAFT_ERR_INVALID_CONFIG', c.field);
    t.true(e.message.includes(c.field), `${c.field}: ${e.message}`);
  }
});

// ---------------------------------------------------------------- MemoryStorage

/** Storage holding a snapshot at (3, 3) and entries (4, 4), (5, 5), as in etcd's storage tests. */
const etcdStorage = (): MemoryStorage => storageWith(3, 3, [[4, 4], [5, 5]]);

test('MemoryStorage.term: compacted, dummy, present, unavailable', (t) => {
  const s = etcdStorage();
  raftError(t, () => s.term(2), 'RAFT_ERR_COMPACTED');
  t.is(s.term(3), 3);
  t.is(s.term(4), 4);
  t.is(s.term(5), 5);
  raftError(t, () => s.term(6), 'RAFT_ERR_UNAVAILABLE');
  t.deepEqual([s.firstIndex(), s.lastIndex()], [4, 5]);
});

test('MemoryStorage.entries: errors and size limit', (t) => {
  const s = storageWith(3, 3, [[4, 4], [5, 5], [6, 6]]);
  raftError(t, () => s.entries(2, 6, Infinity), 'RAFT_ERR_COMPACTED');
  raftError(t, () => s.entries(3, 6, Infinity), 'RAFT_ERR_COMPACTED', 'the dummy entry is not readable');
  raftError(t, () => s.entries(4, 8, Infinity), 'RAFT_ERR_UNAVAILABLE');
  const cases: { lo: number; hi: number; max: number; want: number[] }[] = [
    { lo: 4, hi: 5, max: Infinity, want: [4] },
    { lo: 4, hi: 7, max: Infinity, want: [4, 5, 6] },
    { lo: 5, hi: 7, max: Infinity, want: [5, 6] },
    { lo: 5, hi: 5, max: Infinity, want: [] },
    { lo: 4, hi: 7, max: 0, want: [4] },
    { lo: 4, hi: 7, max: 47, want: [4] },
    { lo: 4, hi: 7, max: 48, want: [4, 5] },
    { lo: 4, hi: 7, max: 72, want: [4, 5, 6] },
  ];
  for (const c of cases) t.deepEqual(s.entries(c.lo, c.hi, c.max).map((e) => e.index), c.want, JSON.stringify(c));
});

test('MemoryStorage.append: overlap, truncation, compacted prefix, gap', (t) => {
  const cases: { name: string; append: [number, number][]; want?: [number, number][]; wAssert?: boolean }[] = [
    { name: 'all compacted', append: [[1, 1], [2, 2]], want: [[4, 4], [5, 5]] },
    { name: 'identical', append: [[3, 3], [4, 4], [5, 5]], want: [[4, 4], [5, 5]] },
    { name: 'conflict replaces the suffix', append: [[3, 3], [4, 6], [5, 6]], want: [[4, 6], [5, 6]] },
    { name: 'extends', append: [[3, 3], [4, 4], [5, 5], [6, 5]], want: [[4, 4], [5, 5], [6, 5]] },
    { name: 'compacted prefix is skipped', append: [[2, 3], [3, 3], [4, 5]], want: [[4, 5]] },
    { name: 'truncate at 4', append: [[4, 5]], want: [[4, 5]] },
    { name: 'direct continuation', append: [[6, 5]], want: [[4, 4], [5, 5], [6, 5]] },
    { name: 'gap', append: [[7, 5]], wAssert: true },
  ];
  for (const c of cases) {
    const s = etcdStorage();
    if (c.wAssert) {
      t.throws(() => s.append(ents(c.append)), { instanceOf: AssertionError }, c.name);
      continue;
    }
    s.append(ents(c.append));
    t.deepEqual(ids(s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity)), c.want!, c.name);
    t.is(s.term(3), 3, `${c.name}: snapshot term kept`);
  }
});

test('MemoryStorage.compact and createSnapshot', (t) => {
  const s = storageWith(3, 3, [[4, 4], [5, 5], [6, 6]]);
  raftError(t, () => s.compact(2), 'RAFT_ERR_COMPACTED');
  raftError(t, () => s.compact(3), 'RAFT_ERR_COMPACTED');
  t.throws(() => s.compact(7), { instanceOf: AssertionError });
  s.compact(4);
  t.deepEqual([s.firstIndex(), s.lastIndex(), s.term(4)], [5, 6, 4]);
  raftError(t, () => s.term(3), 'RAFT_ERR_COMPACTED');

  const cs = { ...emptyConfState(), voters: [1, 2, 3] };
  const data = new TextEncoder().encode('state@5');
  raftError(t, () => s.createSnapshot(3, cs, data), 'RAFT_ERR_SNAPSHOT_OUT_OF_DATE');
  const snap = s.createSnapshot(5, cs, data);
  t.deepEqual([snap.metadata.index, snap.metadata.term, [...snap.data]], [5, 5, [...data]]);
  t.deepEqual(snap.metadata.confState.voters, [1, 2, 3]);
  t.is(s.snapshot(), snap);
  t.deepEqual([s.firstIndex(), s.lastIndex()], [5, 6], 'creating a snapshot does not compact');
  raftError(t, () => s.createSnapshot(5, cs, data), 'RAFT_ERR_SNAPSHOT_OUT_OF_DATE');
  t.throws(() => s.createSnapshot(7, cs, data), { instanceOf: AssertionError });
  s.compact(5);
  t.deepEqual([s.firstIndex(), s.lastIndex(), s.term(5)], [6, 6, 5]);

  raftError(
    t,
    () => s.applySnapshot({ metadata: { index: 4, term: 4, confState: cs }, data }),
    'RAFT_ERR_SNAPSHOT_OUT_OF_DATE',
  );
  s.applySnapshot({ metadata: { index: 10, term: 7, confState: cs }, data });
  t.deepEqual([s.firstIndex(), s.lastIndex(), s.term(10)], [11, 10, 7], 'a snapshot replaces the log');
});

test('limitSize keeps a prefix within the budget and always the first entry', (t) => {
  const es = [ent(1, 1, 10), ent(2, 1, 10), ent(3, 1, 10)]; // 34 bytes each
  const cases: { max: number; want: number }[] = [
    { max: 0, want: 1 },
    { max: 34, want: 1 },
    { max: 67, want: 1 },
    { max: 68, want: 2 },
    { max: 101, want: 2 },
    { max: 102, want: 3 },
    { max: Infinity, want: 3 },
  ];
  for (const c of cases) t.is(limitSize(es, c.max).length, c.want, `max ${c.max}`);
  t.deepEqual(limitSize([], 0), []);
});
