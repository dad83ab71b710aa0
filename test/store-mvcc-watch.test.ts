/**
 * The watch hub of the MVCC store: watches from the past and from now,
 * prefixes, prevKv, filters, cancel, progress, compacted starts, the watcher
 * limit, and slow consumers that overflow their buffer and catch up from
 * LevelDB with no gap and no duplicate while other watchers keep up.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError } from '../src/store/errors.js';
import { MvccStore, type MvccStoreOptions, type WatchBatch, type WatchRequest, type Watcher } from '../src/store/mvcc/index.js';
import { Prng } from '../src/util/prng.js';
import { EventType, type PutRequest, type RequestOp, type StoreCommand, type WatchEvent } from '../src/store/types.js';

// ---------------------------------------------------------------- helpers

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const ZERO = Uint8Array.of(0);
const NONE = new Uint8Array(0);

class Harness {
  index = 0;
  constructor(readonly store: MvccStore) {}

  async apply(...commands: StoreCommand[]): Promise<void> {
    const results = await this.store.apply(commands.map((command) => ({ index: ++this.index, command })));
    for (const r of results) if (r instanceof StoreError) throw r;
  }
}

async function openStore(t: ExecutionContext, opts: Partial<MvccStoreOptions> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-mvcc-watch-'));
  const store = await MvccStore.open({ dir, ...opts });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return new Harness(store);
}

const put = (key: string, value: string): StoreCommand => ({
  id: 0,
  put: { key: enc(key), value: enc(value), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false },
});
const del = (key: string, end = ''): StoreCommand => ({ id: 0, deleteRange: { key: enc(key), rangeEnd: enc(end), prevKv: false } });
const opPut = (key: string, value: string): RequestOp => ({ put: (put(key, value) as { put: PutRequest }).put });
const opDel = (key: string): RequestOp => ({ deleteRange: { key: enc(key), rangeEnd: NONE, prevKv: false } });

function wreq(key: string | Uint8Array, rangeEnd: string | Uint8Array = NONE, o: Partial<WatchRequest> = {}): WatchRequest {
  return {
    key: typeof key === 'string' ? enc(key) : key,
    rangeEnd: typeof rangeEnd === 'string' ? enc(rangeEnd) : rangeEnd,
    startRevision: 0,
    prevKv: false,
    noPut: false,
    noDelete: false,
    ...o,
  };
}

/** "P a=1@2" / "D a@4", with " prev=…" when a prevKv is present. */
function brief(e: WatchEvent): string {
  const head = e.type === EventType.Put ? `P ${dec(e.kv.key)}=${dec(e.kv.value)}@${e.kv.modRevision}` : `D ${dec(e.kv.key)}@${e.kv.modRevision}`;
  return e.prevKv === null ? head : `${head} prev=${dec(e.prevKv.value)}@${e.prevKv.modRevision}`;
}

/** next() with a deadline, so that a missing batch fails the test instead of hanging it. */
async function nextBatch(w: Watcher, timeoutMs = 2000): Promise<WatchBatch | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('watch timed out')), timeoutMs)));
  try {
    return await Promise.race([w.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads batches until `count` events arrived; checks revisions never go backwards. */
async function collect(t: ExecutionContext, w: Watcher, count: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  let lastRevision = 0;
  while (out.length < count) {
    const b = await nextBatch(w);
    if (b === null) break;
    t.true(b.revision >= lastRevision, 'batch revisions never go backwards');
    lastRevision = b.revision;
    for (const e of b.events) t.true(e.kv.modRevision <= b.revision, 'events at or below the batch revision');
    out.push(...b.events);
  }
  return out;
}

// ---------------------------------------------------------------- basics

test('watch from the past, then live events', async (t) => {
  const h = await openStore(t);
  await h.apply(put('a', '1'), put('b', '1'), put('a', '2'), del('a')); // revs 2..5
  const w = h.store.watch(wreq('a', '', { startRevision: 3 }));
  t.deepEqual((await collect(t, w, 2)).map(brief), ['P a=2@4', 'D a@5']);
  await h.apply(put('a', '3'), put('b', '2'));
  t.deepEqual((await collect(t, w, 1)).map(brief), ['P a=3@6']);
  w.cancel();
});

test('watch from now sees only new events; startRevision in the future waits for it', async (t) => {
  const h = await openStore(t);
  await h.apply(put('a', 'old'));
  const now = h.store.watch(wreq('a'));
  const future = h.store.watch(wreq('a', '', { startRevision: 4 }));
  await h.apply(put('a', 'new')); // 3
  await h.apply(put('a', 'newer')); // 4
  t.deepEqual((await collect(t, now, 2)).map(brief), ['P a=new@3', 'P a=newer@4']);
  t.deepEqual((await collect(t, future, 1)).map(brief), ['P a=newer@4']);
});

test('prefix and whole-keyspace watches', async (t) => {
  const h = await openStore(t);
  const prefix = h.store.watch(wreq('p/', 'p0'));
  const fromC = h.store.watch(wreq('c', ZERO));
  const all = h.store.watch(wreq(ZERO, ZERO));
  await h.apply(put('p/1', 'x'), put('a', 'x'), put('p/2', 'y'), put('q', 'z'), put('p', 'no'));
  t.deepEqual((await collect(t, prefix, 2)).map(brief), ['P p/1=x@2', 'P p/2=y@4']);
  t.deepEqual((await collect(t, fromC, 4)).map(brief), ['P p/1=x@2', 'P p/2=y@4', 'P q=z@5', 'P p=no@6']);
  t.is((await collect(t, all, 5)).length, 5);
});

test('prevKv, noPut and noDelete, live and from the past', async (t) => {
  const h = await openStore(t);
  const live = [
    h.store.watch(wreq('k', '', { prevKv: true })),
    h.store.watch(wreq('k', '', { noPut: true })),
    h.store.watch(wreq('k', '', { noDelete: true })),
  ];
  await h.apply(put('k', '1'), put('k', '2'), del('k'), put('k', '3'));
  const expected = [
    ['P k=1@2', 'P k=2@3 prev=1@2', 'D k@4 prev=2@3', 'P k=3@5'],
    ['D k@4'],
    ['P k=1@2', 'P k=2@3', 'P k=3@5'],
  ];
  for (let i = 0; i < live.length; i++) t.deepEqual((await collect(t, live[i]!, expected[i]!.length)).map(brief), expected[i]!, `live ${i}`);
  const past = h.store.watch(wreq('k', '', { prevKv: true, startRevision: 2 }));
  t.deepEqual((await collect(t, past, 4)).map(brief), expected[0]!, 'catch-up from LevelDB gives the same prevKvs');
  const pastNoPut = h.store.watch(wreq('k', '', { noPut: true, startRevision: 1 }));
  t.deepEqual((await collect(t, pastNoPut, 1)).map(brief), expected[1]!);
});

test('prevKv of values already on disk: loaded for watched keys; a watcher that starts mid-apply catches up with it', async (t) => {
  const h = await openStore(t);
  await h.apply(put('a', '1'), put('b', '1'), put('c', '1')); // revs 2..4, on disk from here on
  const single = h.store.watch(wreq('a', '', { prevKv: true }));
  const range = h.store.watch(wreq('b', 'c', { prevKv: true }));
  const plain = h.store.watch(wreq(ZERO, ZERO));
  await h.apply(put('a', '2'), put('b', '2'), put('c', '2'), del('a', 'c')); // revs 5..8
  t.deepEqual((await collect(t, single, 2)).map(brief), ['P a=2@5 prev=1@2', 'D a@8 prev=2@5']);
  t.deepEqual((await collect(t, range, 2)).map(brief), ['P b=2@6 prev=1@3', 'D b@8 prev=2@6']);
  t.deepEqual((await collect(t, plain, 5)).map(brief), ['P a=2@5', 'P b=2@6', 'P c=2@7', 'D a@8', 'D b@8']);
  // Nobody wanted c's previous value while its batch was applied: a prevKv watcher that
  // starts before the batch is published must still get it (from the event log).
  const command: StoreCommand = { id: 0, put: { key: enc('c'), value: enc('3'), lease: 0, prevKv: true, ignoreValue: false, ignoreLease: false } };
  const applying = h.store.apply([{ index: ++h.index, command }]);
  const late = h.store.watch(wreq('c', '', { prevKv: true }));
  const [result] = await applying;
  t.is(dec((result as { put: { prevKv: { value: Uint8Array } } }).put.prevKv.value), '2', 'the answer has it (read with the write)');
  t.deepEqual((await collect(t, late, 1)).map(brief), ['P c=3@9 prev=2@7']);
  await h.apply(put('c', '4'));
  t.deepEqual((await collect(t, late, 1)).map(brief), ['P c=4@10 prev=3@9'], 'then live again');
  t.is(h.store.watchStats().unsynced, 0);
});

test('cancel ends the watcher; a pending next() resolves null', async (t) => {
  const h = await openStore(t);
  const w = h.store.watch(wreq('a'));
  const pending = w.next();
  w.cancel();
  t.is(await pending, null);
  t.is(await w.next(), null);
  await h.apply(put('a', '1'));
  t.is(await w.next(), null, 'no events after cancel');
  t.is(h.store.watchStats().watchers, 0);
});

test('progress: a batch with no events at the current revision', async (t) => {
  const h = await openStore(t);
  await h.apply(put('x', '1'), put('y', '1'));
  const w = h.store.watch(wreq('a'));
  w.progress();
  w.progress(); // coalesced
  t.deepEqual(await nextBatch(w), { events: [], revision: 3, compactRevision: 0 });
  await h.apply(put('a', '1'));
  w.progress();
  t.deepEqual((await nextBatch(w))!.events.map(brief), ['P a=1@4']);
  t.deepEqual(await nextBatch(w), { events: [], revision: 4, compactRevision: 0 }, 'progress comes after the events before it');
});

test('a start revision below the compact revision ends with compactRevision', async (t) => {
  const h = await openStore(t);
  await h.apply(put('a', '1'), put('a', '2'), del('a'), put('b', '1')); // 2..5
  await h.apply({ id: 0, compaction: { revision: 4, physical: false } });
  await h.store.waitCompacted(4);
  const w = h.store.watch(wreq('a', '', { startRevision: 3 }));
  t.deepEqual(await nextBatch(w), { events: [], revision: 5, compactRevision: 4 });
  t.is(await w.next(), null);
  // Starting exactly at the compact revision is allowed and sees the deletion made there.
  const at = h.store.watch(wreq('a', '', { startRevision: 4, prevKv: true }));
  t.deepEqual((await collect(t, at, 1)).map(brief), ['D a@4']);
});

test('watcher limit: a typed error past it, room again after cancel', async (t) => {
  const h = await openStore(t, { maxWatchers: 2 });
  const a = h.store.watch(wreq('a'));
  h.store.watch(wreq('b'));
  const e = t.throws(() => h.store.watch(wreq('c')), { instanceOf: StoreError });
  t.is(e?.code, 'STORE_ERR_TOO_MANY_REQUESTS');
  a.cancel();
  t.notThrows(() => h.store.watch(wreq('c')));
});

test('events of multi-key txns keep sub-revision order, revisions ascend', async (t) => {
  const h = await openStore(t);
  await h.apply(put('m', '0'));
  const w = h.store.watch(wreq(ZERO, ZERO, { startRevision: 2 }));
  await h.apply(
    { id: 0, txn: { compare: [], success: [opPut('z', '1'), opPut('a', '1'), opDel('m'), opPut('m', '2')], failure: [] } },
    { id: 0, txn: { compare: [], success: [opDel('z'), opPut('b', '1')], failure: [] } },
    put('c', '1'),
  );
  t.deepEqual((await collect(t, w, 8)).map(brief), ['P m=0@2', 'P z=1@3', 'P a=1@3', 'D m@3', 'P m=2@3', 'D z@4', 'P b=1@4', 'P c=1@5']);
});

// ---------------------------------------------------------------- slow consumers

test('a slow consumer overflows, catches up from LevelDB with no gap or duplicate, while another keeps up', async (t) => {
  const h = await openStore(t, { watchBufferEvents: 8 });
  const slow = h.store.watch(wreq('k/', 'k0', { prevKv: true }));
  const fast = h.store.watch(wreq('k/', 'k0', { prevKv: true }));
  const total = 300;
  const fastSeen: WatchEvent[] = [];
  const slowFirst: WatchEvent[] = [];
  const fastDone = collect(t, fast, total).then((evs) => fastSeen.push(...evs));
  const expected: string[] = [];
  for (let i = 0; i < total; i += 3) {
    const cmds: StoreCommand[] = [];
    for (let j = i; j < i + 3; j++) {
      const key = `k/${j % 7}`;
      cmds.push(put(key, `v${j}`));
      expected.push(`k/${j % 7}=v${j}`);
    }
    await h.apply(...cmds, put('other', `${i}`));
    // The slow one reads a little now and then while applies go on.
    if (i % 60 === 0) await nextBatch(slow).then((b) => slowFirst.push(...(b?.events ?? [])));
  }
  t.true(h.store.watchStats().unsynced >= 1, 'the slow watcher overflowed and is catching up');
  await fastDone;
  const slowRest = await collect(t, slow, total - slowFirst.length);
  const slowSeen = [...slowFirst, ...slowRest];
  const asKv = (e: WatchEvent): string => `${dec(e.kv.key)}=${dec(e.kv.value)}`;
  t.deepEqual(fastSeen.map(asKv), expected, 'the fast watcher saw everything in order');
  t.deepEqual(slowSeen.map(asKv), expected, 'the slow watcher: same events, no gap, no duplicate');
  t.deepEqual(slowSeen.map(brief), fastSeen.map(brief), 'including revisions and prevKvs');
  t.deepEqual(h.store.watchStats(), { watchers: 2, synced: 2, unsynced: 0 }, 'both synced again');
  // A new event arrives the live way.
  await h.apply(put('k/x', 'late'));
  t.deepEqual((await collect(t, slow, 1)).map(brief), ['P k/x=late@402']);
});

test('many slow watchers from the past catch up; one that falls behind a compaction ends compacted', async (t) => {
  const h = await openStore(t, { watchBufferEvents: 4 });
  for (let i = 0; i < 40; i++) await h.apply(put(`k${i % 5}`, `${i}`)); // revs 2..41
  const watchers = [1, 10, 20].map((start) => h.store.watch(wreq('k', 'l', { startRevision: start })));
  for (const [i, start] of [1, 10, 20].entries()) {
    const evs = await collect(t, watchers[i]!, 41 - Math.max(start, 2) + 1);
    t.deepEqual(evs.map((e) => e.kv.modRevision), Array.from({ length: evs.length }, (_, j) => Math.max(start, 2) + j), `from ${start}`);
  }
  // A watcher that never reads: its first buffer fills, then the log under it is compacted.
  const lagging = h.store.watch(wreq('k', 'l', { startRevision: 2 }));
  await new Promise((r) => setTimeout(r, 50));
  await h.apply({ id: 0, compaction: { revision: 30, physical: false } });
  let compacted: WatchBatch | null = null;
  for (let i = 0; i < 50 && compacted === null; i++) {
    const b = await nextBatch(lagging);
    if (b === null) break;
    if (b.compactRevision > 0) compacted = b;
  }
  t.is(compacted?.compactRevision, 30, 'ends with the compact revision');
  t.is(await lagging.next(), null);
});

test('seeded: watchers reading at random paces see exactly the event log', async (t) => {
  const seed = 7331;
  t.log(`seed ${seed}`);
  const rnd = new Prng(seed);
  const h = await openStore(t, { watchBufferEvents: 6 });
  const watchers = [0.9, 0.3, 0.05].map((pace) => ({
    pace,
    w: h.store.watch(wreq('k', 'l', { prevKv: true })),
    seen: [] as WatchEvent[],
    pending: null as Promise<WatchBatch | null> | null,
  }));
  let maxUnsynced = 0;
  for (let step = 0; step < 150; step++) {
    const cmds: StoreCommand[] = [];
    for (let n = rnd.range(1, 4); n > 0; n--) {
      const k = `k${rnd.int(6)}`;
      const p = rnd.int(10);
      if (p < 6) cmds.push(put(k, `${step}.${n}`));
      else if (p < 8) cmds.push(del(k));
      else cmds.push({ id: 0, txn: { compare: [], success: [opPut(k, `t${step}`), opDel(`k${rnd.int(6)}`), opPut('z', '1')], failure: [] } });
    }
    await h.apply(...cmds);
    maxUnsynced = Math.max(maxUnsynced, h.store.watchStats().unsynced);
    for (const x of watchers) {
      while (rnd.chance(x.pace)) {
        // One next() at a time: a batch that has not come yet is awaited on a later turn.
        x.pending ??= x.w.next();
        const b = await Promise.race([x.pending, new Promise<'none'>((r) => setImmediate(() => r('none')))]);
        if (b === 'none') break;
        x.pending = null;
        x.seen.push(...(b?.events ?? []));
      }
    }
  }
  const reference = h.store.watch(wreq('k', 'l', { prevKv: true, startRevision: 1 }));
  const log = await collect(t, reference, 1);
  while (log.length === 0 || log[log.length - 1]!.kv.modRevision < h.store.revision) {
    const b = await nextBatch(reference);
    if (b === null) break;
    log.push(...b.events);
  }
  t.true(log.length > 100);
  t.true(maxUnsynced >= 1, 'some watcher had to catch up from LevelDB');
  for (const x of watchers) {
    if (x.pending !== null) x.seen.push(...((await x.pending)?.events ?? []));
    x.seen.push(...(await collect(t, x.w, log.length - x.seen.length)));
    t.deepEqual(x.seen.map(brief), log.map(brief), `pace ${x.pace}: no gap, no duplicate`);
  }
});
