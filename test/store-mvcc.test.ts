/**
 * The MVCC state machine (src/store/mvcc): etcd's revision, range, txn, lease
 * and compaction semantics; idempotent replay; determinism across members;
 * restart, snapshot/restore; the space quota; keys with arbitrary bytes.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, type StoreErrorCode } from '../src/store/errors.js';
import { MvccStore, SnapshotFormatError, type ApplyResult, type MvccStoreOptions } from '../src/store/mvcc/index.js';
import { SortedKeys } from '../src/store/mvcc/key-index.js';
import {
  CompareResult,
  CompareTarget,
  SortOrder,
  SortTarget,
  type Compare,
  type KeyValue,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type StoreCommand,
  type StoreResult,
} from '../src/store/types.js';
import { Prng } from '../src/util/prng.js';

// ---------------------------------------------------------------- helpers

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const ZERO = Uint8Array.of(0);

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'skiff-mvcc-'));
}

/** A store in a temp dir plus a log index counter; removed when the test ends. */
async function openStore(t: ExecutionContext, opts: Partial<MvccStoreOptions> = {}): Promise<Harness> {
  const dir = await tempDir();
  const h = new Harness(await MvccStore.open({ dir, ...opts }), dir);
  t.teardown(async () => {
    await h.store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return h;
}

class Harness {
  index: number;
  constructor(
    public store: MvccStore,
    readonly dir: string,
  ) {
    this.index = store.appliedIndex;
  }

  /** Applies one command as the next log entry; returns its result or StoreError. */
  async run(command: StoreCommand): Promise<StoreResult | StoreError> {
    const [r] = await this.store.apply([{ index: ++this.index, command }]);
    if (r === null || r === undefined) throw new Error('no result');
    return r;
  }

  async ok(command: StoreCommand): Promise<StoreResult> {
    const r = await this.run(command);
    if (r instanceof StoreError) throw r;
    return r;
  }

  async reopen(): Promise<void> {
    await this.store.close();
    this.store = await MvccStore.open({ dir: this.dir });
  }
}

const put = (key: string, value: string, o: Partial<{ lease: number; prevKv: boolean; ignoreValue: boolean; ignoreLease: boolean }> = {}): StoreCommand => ({
  id: 0,
  put: { key: enc(key), value: enc(value), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false, ...o },
});
const del = (key: string, end = '', prevKv = false): StoreCommand => ({ id: 0, deleteRange: { key: enc(key), rangeEnd: enc(end), prevKv } });
const grant = (id: number, ttl = 10): StoreCommand => ({ id: 0, leaseGrant: { id, ttl } });
const revoke = (id: number): StoreCommand => ({ id: 0, leaseRevoke: { id } });
const compact = (revision: number): StoreCommand => ({ id: 0, compaction: { revision, physical: false } });
const txn = (compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): StoreCommand => ({ id: 0, txn: { compare, success, failure } });

function rq(key: string | Uint8Array, end: string | Uint8Array = '', o: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key: typeof key === 'string' ? enc(key) : key,
    rangeEnd: typeof end === 'string' ? enc(end) : end,
    limit: 0,
    revision: 0,
    sortOrder: SortOrder.None,
    sortTarget: SortTarget.Key,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...o,
  };
}

function cmp(key: string, target: CompareTarget, result: CompareResult, operand: number | string, rangeEnd = ''): Compare {
  const c: Compare = { key: enc(key), rangeEnd: enc(rangeEnd), target, result, version: 0, createRevision: 0, modRevision: 0, value: new Uint8Array(0), lease: 0 };
  if (target === CompareTarget.Value) c.value = enc(String(operand));
  else if (target === CompareTarget.Version) c.version = Number(operand);
  else if (target === CompareTarget.Create) c.createRevision = Number(operand);
  else if (target === CompareTarget.Mod) c.modRevision = Number(operand);
  else c.lease = Number(operand);
  return c;
}

const putReq = (key: string, value: string, o: Parameters<typeof put>[2] = {}): PutRequest => (put(key, value, o) as { put: PutRequest }).put;
const opPut = (key: string, value: string): RequestOp => ({ put: putReq(key, value) });
const opDel = (key: string, end = ''): RequestOp => ({ deleteRange: { key: enc(key), rangeEnd: enc(end), prevKv: false } });
const opRange = (key: string, end = '', o: Partial<RangeRequest> = {}): RequestOp => ({ range: rq(key, end, o) });

const kvBrief = (kv: KeyValue): string => `${dec(kv.key)}=${dec(kv.value)}@${kv.createRevision}/${kv.modRevision}/v${kv.version}`;
const keysOf = (kvs: KeyValue[]): string[] => kvs.map((kv) => dec(kv.key));

function storeError(t: ExecutionContext, r: ApplyResult | undefined, code: StoreErrorCode): void {
  t.true(r instanceof StoreError, `expected ${code}, got ${JSON.stringify(r)}`);
  t.is((r as StoreError).code, code);
}

async function rejects(t: ExecutionContext, p: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const e = await t.throwsAsync(p, { instanceOf: StoreError });
  t.is(e?.code, code);
}

// ---------------------------------------------------------------- revisions

test('revisions, versions and create revision across put-delete-put', async (t) => {
  const h = await openStore(t);
  t.is(h.store.revision, 1, 'an empty store is at revision 1, as etcd');
  t.deepEqual(await h.ok(put('a', '1')), { put: { prevKv: null, revision: 2 } });
  const r2 = (await h.ok(put('a', '2', { prevKv: true }))) as { put: { prevKv: KeyValue; revision: number } };
  t.is(kvBrief(r2.put.prevKv), 'a=1@2/2/v1');
  t.is(r2.put.revision, 3);
  t.deepEqual(await h.ok(del('a')), { deleteRange: { deleted: 1, prevKvs: [], revision: 4 } });
  t.deepEqual(await h.ok(del('a')), { deleteRange: { deleted: 0, prevKvs: [], revision: 4 } }, 'deleting nothing changes nothing');
  t.is(h.store.revision, 4);
  await h.ok(put('a', '3'));
  const now = await h.store.range(rq('a'));
  t.deepEqual(now.kvs.map(kvBrief), ['a=3@5/5/v1'], 'a new generation: version 1, new create revision');
  t.is(now.revision, 5);
  t.deepEqual((await h.store.range(rq('a', '', { revision: 3 }))).kvs.map(kvBrief), ['a=2@2/3/v2']);
  t.deepEqual((await h.store.range(rq('a', '', { revision: 4 }))).kvs, [], 'deleted at revision 4');
  t.is(h.store.appliedIndex, h.index);
});

// ---------------------------------------------------------------- range

test('range variants', async (t) => {
  const h = await openStore(t);
  // revisions: a@2 b@3 c@4 d/1@5 d/2@6 e@7, then b@8 (version 2), d/1@9 (version 2)
  for (const [k, v] of [['a', 'zz'], ['b', 'b1'], ['c', 'aa'], ['d/1', 'm'], ['d/2', 'k'], ['e', 'q'], ['b', 'b2'], ['d/1', 'n']]) {
    await h.ok(put(k!, v!));
  }
  const cases: { name: string; req: RangeRequest; keys: string[]; more?: boolean; count?: number }[] = [
    { name: 'single key', req: rq('b'), keys: ['b'], count: 1 },
    { name: 'missing key', req: rq('zz'), keys: [], count: 0 },
    { name: 'prefix via rangeEnd', req: rq('d/', 'd0'), keys: ['d/1', 'd/2'] },
    { name: 'from key to the end', req: rq('c', ZERO), keys: ['c', 'd/1', 'd/2', 'e'] },
    { name: 'all keys', req: rq(ZERO, ZERO), keys: ['a', 'b', 'c', 'd/1', 'd/2', 'e'] },
    { name: 'empty interval', req: rq('d', 'c'), keys: [], count: 0 },
    { name: 'limit, more, count', req: rq('a', ZERO, { limit: 2 }), keys: ['a', 'b'], more: true, count: 6 },
    { name: 'limit equal to the count', req: rq('a', ZERO, { limit: 6 }), keys: ['a', 'b', 'c', 'd/1', 'd/2', 'e'], more: false, count: 6 },
    { name: 'count only', req: rq('a', ZERO, { countOnly: true }), keys: [], count: 6 },
    { name: 'sort key descend', req: rq('a', ZERO, { sortOrder: SortOrder.Descend }), keys: ['e', 'd/2', 'd/1', 'c', 'b', 'a'] },
    { name: 'sort value ascend', req: rq('a', ZERO, { sortTarget: SortTarget.Value, sortOrder: SortOrder.Ascend }), keys: ['c', 'b', 'd/2', 'd/1', 'e', 'a'] },
    { name: 'sort target without order ascends', req: rq('a', ZERO, { sortTarget: SortTarget.Mod }), keys: ['a', 'c', 'd/2', 'e', 'b', 'd/1'] },
    { name: 'sort mod descend with limit', req: rq('a', ZERO, { sortTarget: SortTarget.Mod, sortOrder: SortOrder.Descend, limit: 2 }), keys: ['d/1', 'b'], more: true, count: 6 },
    { name: 'sort create descend', req: rq('a', ZERO, { sortTarget: SortTarget.Create, sortOrder: SortOrder.Descend }), keys: ['e', 'd/2', 'd/1', 'c', 'b', 'a'] },
    { name: 'sort version descend (stable: ties in key order)', req: rq('a', ZERO, { sortTarget: SortTarget.Version, sortOrder: SortOrder.Descend }), keys: ['b', 'd/1', 'a', 'c', 'd/2', 'e'] },
    { name: 'min mod revision', req: rq('a', ZERO, { minModRevision: 7 }), keys: ['b', 'd/1', 'e'], count: 6 },
    { name: 'max mod revision', req: rq('a', ZERO, { maxModRevision: 4 }), keys: ['a', 'c'] },
    { name: 'min create revision', req: rq('a', ZERO, { minCreateRevision: 5 }), keys: ['d/1', 'd/2', 'e'] },
    { name: 'max create revision', req: rq('a', ZERO, { maxCreateRevision: 3 }), keys: ['a', 'b'] },
    { name: 'filter then limit', req: rq('a', ZERO, { minCreateRevision: 3, limit: 2 }), keys: ['b', 'c'], more: true },
    { name: 'past revision', req: rq('a', ZERO, { revision: 5 }), keys: ['a', 'b', 'c', 'd/1'], count: 4 },
    { name: 'past revision with limit', req: rq('a', ZERO, { revision: 6, limit: 3 }), keys: ['a', 'b', 'c'], more: true, count: 5 },
    { name: 'past revision count only', req: rq('d/', 'd0', { revision: 5, countOnly: true }), keys: [], count: 1 },
  ];
  for (const c of cases) {
    const r = await h.store.range(c.req);
    t.deepEqual(keysOf(r.kvs), c.keys, c.name);
    if (c.more !== undefined) t.is(r.more, c.more, `${c.name}: more`);
    if (c.count !== undefined) t.is(r.count, c.count, `${c.name}: count`);
    t.is(r.revision, 9, `${c.name}: served at the current revision`);
  }
  const past = await h.store.range(rq('b', '', { revision: 5 }));
  t.deepEqual(past.kvs.map(kvBrief), ['b=b1@3/3/v1'], 'past revision returns the old value');
  const keysOnly = await h.store.range(rq('b', '', { keysOnly: true }));
  t.deepEqual(keysOnly.kvs.map(kvBrief), ['b=@3/8/v2'], 'keysOnly drops the value only');
  await rejects(t, h.store.range(rq('a', '', { revision: 10 })), 'STORE_ERR_FUTURE_REV');
  await h.ok(compact(6));
  await rejects(t, h.store.range(rq('a', '', { revision: 5 })), 'STORE_ERR_COMPACTED');
  t.deepEqual(keysOf((await h.store.range(rq('a', ZERO, { revision: 6 }))).kvs), ['a', 'b', 'c', 'd/1', 'd/2'], 'the compact revision itself is readable');
  await rejects(t, h.store.range(rq('')), 'STORE_ERR_EMPTY_KEY');
});

// ---------------------------------------------------------------- txn

test('txn compares, including missing keys and ranges', async (t) => {
  const h = await openStore(t);
  await h.ok(grant(7));
  await h.ok(put('a', 'x')); // rev 2
  await h.ok(put('a', 'y', { lease: 7 })); // rev 3, version 2
  await h.ok(put('p/1', '1')); // rev 4
  await h.ok(put('p/2', '2')); // rev 5
  const V = CompareTarget.Version, C = CompareTarget.Create, M = CompareTarget.Mod, VAL = CompareTarget.Value, L = CompareTarget.Lease;
  const EQ = CompareResult.Equal, NE = CompareResult.NotEqual, GT = CompareResult.Greater, LT = CompareResult.Less;
  const cases: [string, Compare, boolean][] = [
    ['version equal', cmp('a', V, EQ, 2), true],
    ['version greater', cmp('a', V, GT, 1), true],
    ['version less fails', cmp('a', V, LT, 2), false],
    ['create equal', cmp('a', C, EQ, 2), true],
    ['mod equal', cmp('a', M, EQ, 3), true],
    ['mod not equal', cmp('a', M, NE, 3), false],
    ['value equal', cmp('a', VAL, EQ, 'y'), true],
    ['value greater', cmp('a', VAL, GT, 'x'), true],
    ['lease equal', cmp('a', L, EQ, 7), true],
    ['missing key has version 0', cmp('nope', V, EQ, 0), true],
    ['missing key has create 0', cmp('nope', C, EQ, 0), true],
    ['missing key has mod 0', cmp('nope', M, LT, 1), true],
    ['value compare on a missing key fails', cmp('nope', VAL, EQ, ''), false],
    ['value not-equal on a missing key fails too', cmp('nope', VAL, NE, 'z'), false],
    ['range: every key matches', cmp('p/', V, EQ, 1, 'p0'), true],
    ['range: one key does not', cmp('p/', M, LT, 5, 'p0'), false],
    ['empty range compares as a missing key', cmp('q/', C, EQ, 0, 'q0'), true],
  ];
  for (const [name, c, expect] of cases) {
    const r = (await h.ok(txn([c], [opRange('a')], [opRange('p/1')]))) as { txn: { succeeded: boolean; revision: number; responses: { range: { kvs: KeyValue[] } }[] } };
    t.is(r.txn.succeeded, expect, name);
    t.deepEqual(keysOf(r.txn.responses[0]!.range.kvs), expect ? ['a'] : ['p/1'], `${name}: branch`);
    t.is(r.txn.revision, 5, `${name}: a read-only txn does not bump the revision`);
  }
  t.is(h.store.revision, 5);
});

test('txn: one revision, sub-revisions, reads own writes, nested txn paths decided up front', async (t) => {
  const h = await openStore(t);
  await h.ok(put('a', '0')); // rev 2
  await h.ok(put('gone', 'x')); // rev 3
  const r = (await h.ok(
    txn(
      [cmp('a', CompareTarget.Value, CompareResult.Equal, '0')],
      [
        opRange('a'),
        opPut('a', '1'),
        opRange('a'),
        opDel('gone'),
        opRange('gone'),
        // etcd evaluates nested compares against the state before the txn: a's version is still 1.
        { txn: { compare: [cmp('a', CompareTarget.Version, CompareResult.Equal, 1)], success: [opPut('b', 'nested'), opRange('b')], failure: [] } },
        opRange('a', 'c', { revision: 3 }),
      ],
    ),
  )) as { txn: { succeeded: boolean; revision: number; responses: Record<string, { kvs?: KeyValue[]; revision: number; succeeded?: boolean; responses?: { range?: { kvs: KeyValue[] } }[] }>[] } };
  t.true(r.txn.succeeded);
  t.is(r.txn.revision, 4, 'all writes of the txn share one revision');
  const resp = r.txn.responses;
  t.deepEqual(resp[0]!.range!.kvs!.map(kvBrief), ['a=0@2/2/v1']);
  t.is(resp[0]!.range!.revision, 3, 'before any write the txn reads at the begin revision');
  t.deepEqual(resp[2]!.range!.kvs!.map(kvBrief), ['a=1@2/4/v2'], 'reads its own put');
  t.is(resp[2]!.range!.revision, 4);
  t.deepEqual(resp[4]!.range!.kvs, [], 'reads its own delete');
  t.true(resp[5]!.txn!.succeeded!, 'nested compare saw the pre-txn version');
  t.deepEqual(resp[5]!.txn!.responses![1]!.range!.kvs.map(kvBrief), ['b=nested@4/4/v1']);
  t.deepEqual(resp[6]!.range!.kvs!.map(kvBrief), ['a=0@2/2/v1'], 'a past-revision read ignores the txn writes');
  t.is(h.store.revision, 4);
  const w = h.store.watch({ key: ZERO, rangeEnd: ZERO, startRevision: 4, prevKv: false, noPut: false, noDelete: false });
  const b = await w.next();
  t.deepEqual(b!.events.map((e) => `${e.type}:${dec(e.kv.key)}@${e.kv.modRevision}`), ['0:a@4', '1:gone@4', '0:b@4'], 'events in sub-revision order');
  w.cancel();
  storeError(t, await h.run(txn([], [opRange('a', '', { revision: 9 })])), 'STORE_ERR_FUTURE_REV');
});

test('put prevKv, ignoreValue, ignoreLease and validation errors', async (t) => {
  const h = await openStore(t);
  await h.ok(grant(5));
  storeError(t, await h.run(put('a', '', { ignoreValue: true })), 'STORE_ERR_KEY_NOT_FOUND');
  storeError(t, await h.run(put('a', '', { ignoreLease: true })), 'STORE_ERR_KEY_NOT_FOUND');
  t.is(h.store.revision, 1, 'failed commands write nothing');
  await h.ok(put('a', 'v1', { lease: 5 }));
  await h.ok(put('a', '', { ignoreValue: true }));
  let kv = (await h.store.range(rq('a'))).kvs[0]!;
  t.is(dec(kv.value), 'v1');
  t.is(kv.lease, 0, 'without ignoreLease the lease is replaced (by none)');
  t.deepEqual(h.store.lease(5)!.keys, []);
  await h.ok(put('a', 'v2', { lease: 5 }));
  await h.ok(put('a', 'v3', { ignoreLease: true }));
  kv = (await h.store.range(rq('a'))).kvs[0]!;
  t.is(`${dec(kv.value)}/${kv.lease}/${kv.version}`, 'v3/5/4');
  storeError(t, await h.run(put('a', 'x', { ignoreValue: true })), 'STORE_ERR_VALUE_PROVIDED');
  storeError(t, await h.run(put('a', '', { ignoreLease: true, lease: 5 })), 'STORE_ERR_LEASE_PROVIDED');
  storeError(t, await h.run(put('', 'x')), 'STORE_ERR_EMPTY_KEY');
});

// ---------------------------------------------------------------- leases

test('leases: grant, attach, move, detach, revoke, checkpoint, unknown', async (t) => {
  const h = await openStore(t);
  t.deepEqual(await h.ok(grant(1, 30)), { leaseGrant: { id: 1, ttl: 30, revision: 1 } });
  t.is(h.store.revision, 1, 'grant does not bump the revision');
  storeError(t, await h.run(grant(1)), 'STORE_ERR_LEASE_EXIST');
  storeError(t, await h.run(grant(0)), 'STORE_ERR_LEASE_NOT_FOUND');
  storeError(t, await h.run(grant(3, 9_000_000_001)), 'STORE_ERR_LEASE_TTL_TOO_LARGE');
  await h.ok(grant(2, 60));
  storeError(t, await h.run(put('x', '1', { lease: 99 })), 'STORE_ERR_LEASE_NOT_FOUND');
  t.is(h.store.revision, 1, 'unknown lease: nothing written');
  storeError(t, await h.run(txn([], [opPut('y', '1'), { put: putReq('x', '1', { lease: 99 }) }])), 'STORE_ERR_LEASE_NOT_FOUND');
  t.deepEqual((await h.store.range(rq('y'))).kvs, [], 'a failing txn leaves nothing behind');
  await h.ok(put('k1', 'a', { lease: 1 }));
  await h.ok(put('k2', 'b', { lease: 1 }));
  await h.ok(put('k3', 'c', { lease: 1 }));
  await h.ok(put('k3', 'c2', { lease: 2 })); // moves k3 to lease 2
  await h.ok(del('k2')); // detaches k2
  t.deepEqual(h.store.lease(1)!.keys.map(dec), ['k1']);
  t.deepEqual(h.store.lease(2)!.keys.map(dec), ['k3']);
  await h.ok({ id: 0, leaseCheckpoint: { checkpoints: [{ id: 2, remainingTtl: 17 }, { id: 404, remainingTtl: 1 }] } });
  t.deepEqual(h.store.leases().map((l) => [l.id, l.ttl, l.remainingTtl]), [[1, 30, 0], [2, 60, 17]]);
  await h.ok(put('k4', 'd', { lease: 2 }));
  const before = h.store.revision;
  t.deepEqual(await h.ok(revoke(2)), { leaseRevoke: { revision: before + 1 } }, 'revoke deletes every attached key at one revision');
  t.deepEqual(keysOf((await h.store.range(rq('k', 'l'))).kvs), ['k1']);
  t.is(h.store.lease(2), undefined);
  storeError(t, await h.run(revoke(2)), 'STORE_ERR_LEASE_NOT_FOUND');
  await h.ok(grant(9));
  t.deepEqual(await h.ok(revoke(9)), { leaseRevoke: { revision: before + 1 } }, 'revoking an empty lease changes no key');
});

// ---------------------------------------------------------------- replay

test('idempotent replay of already-applied indexes; null commands advance appliedIndex', async (t) => {
  const h = await openStore(t);
  const entries = [put('a', '1'), put('b', '2'), del('a'), put('c', '3')].map((command, i) => ({ index: i + 1, command }));
  const first = await h.store.apply(entries.slice(0, 2));
  t.is(first.length, 2);
  const again = await h.store.apply(entries);
  t.deepEqual(again.slice(0, 2), [null, null], 'already applied: skipped');
  t.deepEqual(again[2], { deleteRange: { deleted: 1, prevKvs: [], revision: 4 } });
  t.is(h.store.revision, 5);
  t.deepEqual(await h.store.apply(entries), [null, null, null, null]);
  t.is(h.store.revision, 5);
  await h.store.apply([{ index: 5, command: null }, { index: 6, command: null }]);
  t.is(h.store.appliedIndex, 6);
  t.is(h.store.revision, 5);
  h.index = 6;
  await h.reopen();
  t.is(h.store.appliedIndex, 6, 'appliedIndex is persisted with the batch');
  t.deepEqual(await h.store.apply(entries), [null, null, null, null]);
});

// ---------------------------------------------------------------- determinism

function randomCommands(seed: number, n: number): StoreCommand[] {
  const rnd = new Prng(seed);
  const key = (): string => `k${rnd.int(12)}`;
  const out: StoreCommand[] = [];
  for (let i = 0; i < n; i++) {
    const p = rnd.int(100);
    if (p < 45) out.push(put(key(), `v${rnd.int(1000)}`, { lease: rnd.chance(0.2) ? rnd.range(1, 3) : 0 }));
    else if (p < 60) out.push(del(key(), rnd.chance(0.3) ? 'k5' : ''));
    else if (p < 75) {
      out.push(
        txn(
          [cmp(key(), CompareTarget.Version, CompareResult.Greater, rnd.int(3))],
          [opPut(key(), `t${i}`), opDel(key()), opRange('k', 'l')],
          [opPut(key(), `f${i}`)],
        ),
      );
    } else if (p < 82) out.push(grant(rnd.range(1, 3)));
    else if (p < 88) out.push(revoke(rnd.range(1, 3)));
    else if (p < 93) out.push(compact(Math.max(1, Math.floor(i / 3) - rnd.int(5))));
    else out.push({ id: 0, leaseCheckpoint: { checkpoints: [{ id: rnd.range(1, 3), remainingTtl: rnd.int(50) }] } });
  }
  return out;
}

test('determinism: the same command stream in different batchings gives the same results and hashes', async (t) => {
  const seed = 20240611;
  t.log(`seed ${seed}`);
  const a = await openStore(t, { compactionBatchEvents: 3 });
  const b = await openStore(t, { compactionBatchEvents: 1000 });
  const commands = randomCommands(seed, 300);
  const entries = commands.map((command, i) => ({ index: i + 1, command }));
  const resultsA: ApplyResult[] = [];
  for (const e of entries) resultsA.push(...(await a.store.apply([e])));
  const rnd = new Prng(seed + 1);
  const resultsB: ApplyResult[] = [];
  for (let i = 0; i < entries.length; ) {
    const n = rnd.range(1, 20);
    resultsB.push(...(await b.store.apply(entries.slice(i, i + n))));
    i += n;
  }
  const brief = (r: ApplyResult): unknown => (r instanceof StoreError ? r.code : r);
  t.deepEqual(resultsA.map(brief), resultsB.map(brief), 'same results');
  t.is(a.store.revision, b.store.revision);
  t.is(a.store.compactRevision, b.store.compactRevision);
  t.true(a.store.compactRevision > 1, 'the stream compacted');
  t.deepEqual(a.store.leases(), b.store.leases());
  t.is(a.store.dbSizeBytes(), b.store.dbSizeBytes());
  for (let rev = a.store.compactRevision; rev <= a.store.revision; rev++) {
    t.deepEqual(await a.store.hashKV(rev), await b.store.hashKV(rev), `hash at ${rev}`);
  }
  // A third store with a different history hashes differently (the hash can fail).
  const c = await openStore(t);
  await c.store.apply(randomCommands(seed + 7, 300).map((command, i) => ({ index: i + 1, command })));
  t.notDeepEqual((await c.store.hashKV(0)).hash, (await a.store.hashKV(0)).hash);
});

// ---------------------------------------------------------------- key index

/** Commands that exercise every decision apply takes from the key index (and the reads it still does). */
function indexCommands(seed: number, n: number): StoreCommand[] {
  const rnd = new Prng(seed);
  const key = (): string => `k${rnd.int(10)}`;
  const flag = (p: number): boolean => rnd.chance(p);
  const out: StoreCommand[] = [];
  for (let i = 0; i < n; i++) {
    const p = rnd.int(100);
    if (p < 35) {
      const ignoreValue = flag(0.1);
      const ignoreLease = !ignoreValue && flag(0.1);
      out.push(put(key(), ignoreValue ? '' : `v${i}`, { lease: ignoreLease ? 0 : flag(0.25) ? rnd.range(1, 3) : 0, prevKv: flag(0.5), ignoreValue, ignoreLease }));
    } else if (p < 50) {
      out.push(flag(0.4) ? del(key(), `k${rnd.int(10)}`, flag(0.5)) : del(key(), '', flag(0.5)));
    } else if (p < 75) {
      const targets = [CompareTarget.Version, CompareTarget.Create, CompareTarget.Mod, CompareTarget.Value, CompareTarget.Lease];
      const target = targets[rnd.int(targets.length)]!;
      const operand = target === CompareTarget.Value ? `v${rnd.int(n)}` : rnd.int(i + 2);
      const c = cmp(key(), target, [CompareResult.Equal, CompareResult.Greater, CompareResult.Less, CompareResult.NotEqual][rnd.int(4)]!, operand, flag(0.3) ? 'k9' : '');
      out.push(
        txn(
          [c],
          [opPut(key(), `t${i}`), opDel(key()), opRange('k', 'l'), opPut(key(), `u${i}`), { txn: { compare: [cmp(key(), CompareTarget.Version, CompareResult.Greater, 0)], success: [opDel(key(), 'k5')], failure: [opPut(key(), `n${i}`)] } }],
          [opPut(key(), `f${i}`), opRange(key())],
        ),
      );
    } else if (p < 82) out.push(grant(rnd.range(1, 3)));
    else if (p < 88) out.push(revoke(rnd.range(1, 3)));
    else if (p < 92) out.push(compact(Math.max(1, Math.floor(i / 3) - rnd.int(5))));
    else out.push(put(key(), `w${i}`, { prevKv: true }));
  }
  return out;
}

test('key index order: seeded inserts and deletes agree with a sorted array (leaves split and merge)', (t) => {
  const seed = 99;
  t.log(`seed ${seed}`);
  const rnd = new Prng(seed);
  const keys = new SortedKeys();
  let reference: string[] = [];
  const key = (): string => String.fromCharCode(...Array.from({ length: rnd.range(1, 4) }, () => rnd.int(256)));
  let maxSize = 0;
  let minSizeAfterMax = Infinity;
  for (let step = 0; step < 6000; step++) {
    // Grow to a few leaves, then shrink most of the way, then grow again.
    const inserting = step < 2500 || (step >= 4500 && rnd.chance(0.7)) || (step < 4500 && rnd.chance(0.1));
    const k = !inserting && reference.length > 0 && rnd.chance(0.9) ? reference[rnd.int(reference.length)]! : key();
    const had = reference.includes(k);
    if (inserting) {
      t.is(keys.insert(k), !had);
      if (!had) reference.push(k);
    } else {
      t.is(keys.delete(k), had);
      reference = reference.filter((r) => r !== k);
    }
    maxSize = Math.max(maxSize, reference.length);
    if (step > 2500) minSizeAfterMax = Math.min(minSizeAfterMax, reference.length);
    if (step % 500 === 0 || step === 5999) {
      reference.sort();
      t.is(keys.size, reference.length);
      const all: string[] = [];
      keys.collect('', null, all);
      t.deepEqual(all, reference, `order at step ${step}`);
      const [lo, hi] = [key(), key()].sort() as [string, string];
      const some: string[] = [];
      keys.collect(lo, hi, some);
      t.deepEqual(some, reference.filter((r) => r >= lo && r < hi), `range at step ${step}`);
    }
  }
  t.true(maxSize > 2000 && minSizeAfterMax < 800, `grew to ${maxSize} keys, shrank to ${minSizeAfterMax}`);
});

test('key index: decisions from memory and staged changes match a store that rebuilds its index from disk', async (t) => {
  const seed = 4242;
  t.log(`seed ${seed}`);
  const a = await openStore(t);
  const b = await openStore(t);
  const entries = indexCommands(seed, 400).map((command, i) => ({ index: i + 1, command }));
  const rnd = new Prng(seed + 1);
  const brief = (r: ApplyResult | undefined): unknown => (r instanceof StoreError ? r.code : r);
  for (let i = 0; i < entries.length; ) {
    const n = rnd.range(1, 12);
    const slice = entries.slice(i, i + n);
    i += n;
    const ra = await a.store.apply(slice);
    await a.store.verifyKeyIndex();
    // b rebuilds its index from disk before every slice, then applies it one entry per batch.
    await b.reopen();
    const rb: ApplyResult[] = [];
    for (const e of slice) rb.push(...(await b.store.apply([e])));
    t.deepEqual(ra.map(brief), rb.map(brief), `results of entries ${slice[0]!.index}..${slice[slice.length - 1]!.index}`);
  }
  t.is(a.store.revision, b.store.revision);
  t.deepEqual(await stateOf(a.store, 0), await stateOf(b.store, 0));
  await a.reopen();
  await a.store.verifyKeyIndex();
});

// ---------------------------------------------------------------- compaction

async function snapshotBytes(s: MvccStore): Promise<number> {
  let n = 0;
  for await (const c of (await s.snapshot()).chunks) n += c.length;
  return n;
}

test('compaction: errors, reads at old revisions, physical compaction keeps the logical state', async (t) => {
  const h = await openStore(t, { compactionBatchEvents: 2 });
  for (let i = 1; i <= 5; i++) await h.ok(put('a', `v${i}`)); // revs 2..6
  await h.ok(put('b', 'x')); // 7
  await h.ok(del('b')); // 8
  await h.ok(put('c', 'y')); // 9
  storeError(t, await h.run(compact(10)), 'STORE_ERR_FUTURE_REV');
  t.deepEqual(await h.ok(compact(4)), { compaction: { revision: 9 } });
  t.is(h.store.compactRevision, 4);
  storeError(t, await h.run(compact(4)), 'STORE_ERR_COMPACTED');
  storeError(t, await h.run(compact(3)), 'STORE_ERR_COMPACTED');
  await h.store.waitCompacted(4);
  const bytesBefore = await snapshotBytes(h.store);
  await h.ok(compact(8)); // b's delete at 8 is the compact revision
  // The hash is of the logical state: the same before and after the background deletion.
  const hashes = [(await h.store.hashKV(8)).hash, (await h.store.hashKV(9)).hash];
  await h.store.waitCompacted(8);
  t.deepEqual([(await h.store.hashKV(8)).hash, (await h.store.hashKV(9)).hash], hashes, 'hashes after physical compaction');
  t.true((await snapshotBytes(h.store)) < bytesBefore, 'old revisions were physically deleted');
  await rejects(t, h.store.hashKV(7), 'STORE_ERR_COMPACTED');
  await rejects(t, h.store.range(rq('a', '', { revision: 7 })), 'STORE_ERR_COMPACTED');
  t.deepEqual((await h.store.range(rq('a', ZERO, { revision: 8 }))).kvs.map(kvBrief), ['a=v5@2/6/v5']);
  t.deepEqual((await h.store.range(rq('a', ZERO))).kvs.map(kvBrief), ['a=v5@2/6/v5', 'c=y@9/9/v1']);
  await h.ok(put('a', 'v6')); // 10
  await h.ok(compact(10));
  await h.store.waitCompacted(10);
  t.deepEqual((await h.store.range(rq('a', ZERO, { revision: 10 }))).kvs.map(kvBrief), ['a=v6@2/10/v6', 'c=y@9/9/v1']);
  const w = h.store.watch({ key: enc('a'), rangeEnd: new Uint8Array(0), startRevision: 10, prevKv: true, noPut: false, noDelete: false });
  const batch = await w.next();
  t.deepEqual(batch!.events.map((e) => `${kvBrief(e.kv)} prev=${e.prevKv === null ? 'null' : kvBrief(e.prevKv)}`), ['a=v6@2/10/v6 prev=null'], 'prevKv compacted away');
  w.cancel();
});

// ---------------------------------------------------------------- restart, snapshot

async function fillSample(h: Harness): Promise<void> {
  await h.ok(grant(11, 100));
  await h.ok(put('a', '1'));
  await h.ok(put('b', '2', { lease: 11 }));
  await h.ok(put('a', '3'));
  await h.ok(del('a'));
  await h.ok(put('c', '4', { lease: 11 }));
  await h.ok({ id: 0, leaseCheckpoint: { checkpoints: [{ id: 11, remainingTtl: 42 }] } });
  await h.ok(compact(3));
  await h.ok(put('d', '5'));
}

async function stateOf(s: MvccStore, pastRevision = 4): Promise<unknown> {
  return {
    appliedIndex: s.appliedIndex,
    revision: s.revision,
    compactRevision: s.compactRevision,
    leases: s.leases().map((l) => ({ ...l, keys: l.keys.map(dec) })),
    kvs: (await s.range(rq(ZERO, ZERO))).kvs.map(kvBrief),
    past: (await s.range(rq(ZERO, ZERO, { revision: Math.max(pastRevision, s.compactRevision) }))).kvs.map(kvBrief),
    hash: await s.hashKV(0),
    size: s.dbSizeBytes(),
  };
}

test('restart keeps everything', async (t) => {
  const h = await openStore(t);
  await fillSample(h);
  const before = await stateOf(h.store);
  await h.reopen();
  t.deepEqual(await stateOf(h.store), before);
  await h.ok(put('e', '6'));
  t.is(h.store.revision, 8);
});

test('snapshot → restore gives an equal store; re-chunking is harmless; corruption is refused', async (t) => {
  const h = await openStore(t, { snapshotChunkBytes: 64 });
  await fillSample(h);
  const snap = await h.store.snapshot();
  await h.ok(put('after', 'snapshot')); // not in the snapshot: point in time
  const chunks: Uint8Array[] = [];
  for await (const c of snap.chunks) chunks.push(c);
  t.true(chunks.length > 2, 'several chunks');
  t.is(snap.appliedIndex, h.index - 1);
  const whole = Buffer.concat(chunks);
  const target = await tempDir();
  t.teardown(() => rm(target, { recursive: true, force: true }));
  // Re-chunk into 7-byte pieces: chunk boundaries carry no meaning.
  async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  }
  await MvccStore.restore(target, pieces(whole, 7));
  const restored = await MvccStore.open({ dir: target });
  const reference = await tempDir();
  t.teardown(() => rm(reference, { recursive: true, force: true }));
  const ref = new Harness(await MvccStore.open({ dir: reference }), reference);
  await fillSample(ref);
  t.deepEqual(await stateOf(restored), await stateOf(ref.store), 'equal to a store that applied the same entries');
  t.is(restored.appliedIndex, snap.appliedIndex);
  t.is(restored.revision, snap.revision);
  await restored.close();
  await ref.store.close();
  const truncated = whole.subarray(0, whole.length - 5);
  await t.throwsAsync(MvccStore.restore(target, pieces(truncated, 100)), { instanceOf: SnapshotFormatError });
  const flipped = Buffer.from(whole);
  flipped[40] = flipped[40]! ^ 0xff;
  await t.throwsAsync(MvccStore.restore(target, pieces(flipped, 100)), { instanceOf: SnapshotFormatError });
  const again = await MvccStore.open({ dir: target });
  t.is(again.appliedIndex, snap.appliedIndex, 'a failed restore leaves the previous dir intact');
  await again.close();
});

// ---------------------------------------------------------------- quota

test('space quota: puts fail past it; deletes, revokes and compaction still work', async (t) => {
  const h = await openStore(t, { quotaBytes: 4000 });
  await h.ok(grant(1));
  const big = 'x'.repeat(500);
  let n = 0;
  for (;;) {
    const r = await h.run(put(`k${n}`, big, { lease: n % 2 === 0 ? 1 : 0 }));
    if (r instanceof StoreError) {
      t.is(r.code, 'STORE_ERR_NO_SPACE');
      break;
    }
    n++;
    t.true(n < 100, 'the quota must bite');
  }
  t.true(n >= 2);
  const size = h.store.dbSizeBytes();
  t.true(size > 4000, 'refused once the size exceeds the quota');
  storeError(t, await h.run(txn([], [opDel('k0')], [opPut('z', big)])), 'STORE_ERR_NO_SPACE');
  storeError(t, await h.run(grant(2)), 'STORE_ERR_NO_SPACE');
  t.is(h.store.dbSizeBytes(), size, 'refused commands add nothing');
  t.like(await h.ok(txn([], [opDel('k1')])), { txn: { succeeded: true } });
  await h.ok(revoke(1));
  await h.ok(del('k', 'l'));
  t.deepEqual((await h.store.range(rq('k', 'l'))).kvs, []);
  t.true(h.store.dbSizeBytes() > 2000, 'the deleted history still counts until compacted');
  await h.ok(compact(h.store.revision));
  t.is(h.store.dbSizeBytes(), 0, 'compaction frees the deleted history');
  t.like(await h.ok(put('z', big)), { put: { revision: h.store.revision } });
});

// ---------------------------------------------------------------- key bytes

test('keys with any bytes keep their order in current and past reads', async (t) => {
  const h = await openStore(t);
  const keys = ['\x00', 'a', 'a\x00', 'a\x00\x00', 'a\x00b', 'a\x01', 'ab', 'a\xff', '\xff\xff'];
  const bin = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
  for (const k of [...keys].reverse()) await h.ok({ id: 0, put: { key: bin(k), value: enc('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } });
  const rev = h.store.revision;
  await h.ok({ id: 0, put: { key: bin('a\x00'), value: enc('w'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } });
  const all = await h.store.range(rq(ZERO, ZERO));
  t.deepEqual(all.kvs.map((kv) => dec(kv.key)), keys);
  const past = await h.store.range(rq(ZERO, ZERO, { revision: rev }));
  t.deepEqual(past.kvs.map((kv) => dec(kv.key)), keys, 'history index preserves byte order');
  t.deepEqual(past.kvs.map((kv) => dec(kv.value)), keys.map(() => 'v'));
  const prefix = await h.store.range(rq(bin('a\x00'), bin('a\x01'), { revision: rev }));
  t.deepEqual(prefix.kvs.map((kv) => dec(kv.key)), ['a\x00', 'a\x00\x00', 'a\x00b']);
  const single = await h.store.range(rq(bin('a\x00'), '', { revision: rev }));
  t.deepEqual(single.kvs.map((kv) => `${dec(kv.key)}=${dec(kv.value)}`), ['a\x00=v'], 'a single key is not confused with its extensions');
});
