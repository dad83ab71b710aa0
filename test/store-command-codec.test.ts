import test from 'ava';
import { CommandCodecError, decodeCommand, encodeCommand } from '../src/store/command-codec.js';
import type { Compare, RequestOp, StoreCommand, TxnRequest } from '../src/store/types.js';
import { Prng } from '../src/util/prng.js';

const rng = new Prng(99);
const bytes = (n = rng.int(12)) => Uint8Array.from({ length: n }, () => rng.int(256));
const n = () => (rng.chance(0.3) ? 0 : rng.int(2 ** 40));

function compare(): Compare {
  return {
    result: rng.int(4),
    target: rng.int(5),
    key: bytes(),
    rangeEnd: bytes(),
    version: n(),
    createRevision: n(),
    modRevision: n(),
    value: bytes(),
    lease: n(),
  };
}

function op(depth: number): RequestOp {
  switch (rng.int(depth < 3 ? 4 : 3)) {
    case 0:
      return {
        range: {
          key: bytes(),
          rangeEnd: bytes(),
          limit: n(),
          revision: n(),
          sortOrder: rng.int(3),
          sortTarget: rng.int(5),
          serializable: rng.chance(0.5),
          keysOnly: rng.chance(0.5),
          countOnly: rng.chance(0.5),
          minModRevision: n(),
          maxModRevision: n(),
          minCreateRevision: n(),
          maxCreateRevision: n(),
        },
      };
    case 1:
      return { put: { key: bytes(), value: bytes(40), lease: n(), prevKv: rng.chance(0.5), ignoreValue: rng.chance(0.5), ignoreLease: rng.chance(0.5) } };
    case 2:
      return { deleteRange: { key: bytes(), rangeEnd: bytes(), prevKv: rng.chance(0.5) } };
    default:
      return { txn: txn(depth + 1) };
  }
}

function txn(depth: number): TxnRequest {
  return {
    compare: Array.from({ length: rng.int(4) }, compare),
    success: Array.from({ length: rng.int(4) }, () => op(depth)),
    failure: Array.from({ length: rng.int(3) }, () => op(depth)),
  };
}

function command(): StoreCommand {
  const id = rng.int(2 ** 50);
  switch (rng.int(9)) {
    case 8:
      return { id, fencedTxn: { term: n(), txn: txn(0) } };
    case 7:
      return { id, memberAttributes: { memberId: n(), name: `m${rng.int(9)}`, clientURLs: [`http://127.0.0.1:${rng.int(65536)}`] } };
    case 0:
      return { id, put: { key: bytes(), value: bytes(100), lease: n(), prevKv: rng.chance(0.5), ignoreValue: false, ignoreLease: rng.chance(0.5) } };
    case 1:
      return { id, deleteRange: { key: bytes(), rangeEnd: bytes(), prevKv: true } };
    case 2:
      return { id, txn: txn(0) };
    case 3:
      return { id, compaction: { revision: n(), physical: rng.chance(0.5) } };
    case 4:
      return { id, leaseGrant: { ttl: rng.int(10000), id: n() } };
    case 5:
      return { id, leaseRevoke: { id: n() } };
    default:
      return { id, leaseCheckpoint: { checkpoints: Array.from({ length: rng.int(5) }, () => ({ id: n(), remainingTtl: rng.int(100) })) } };
  }
}

// Byte strings decode as views; compare by content.
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? Array.from(x) : x)));

test('every kind of command round-trips, nested txns included', (t) => {
  for (let i = 0; i < 2000; i++) {
    const c = command();
    t.deepEqual(plain(decodeCommand(encodeCommand(c))), plain(c));
  }
});

test('a truncated, extended or foreign command is refused with a typed error', (t) => {
  const data = encodeCommand({ id: 7, txn: txn(0) });
  for (const bad of [data.subarray(0, data.length - 1), data.subarray(0, 5), Uint8Array.from([...data, 0]), Uint8Array.from([2, ...data.subarray(1)]), Uint8Array.from([1, 99, ...data.subarray(2)])]) {
    const e = t.throws(() => decodeCommand(bad), { instanceOf: CommandCodecError });
    t.is(e?.code, 'STORE_ERR_CORRUPT_COMMAND');
  }
  // A list count larger than the bytes left is caught before allocating.
  const huge = Uint8Array.from([1, 3, ...new Uint8Array(8), 0xff, 0xff, 0xff, 0xff]);
  t.throws(() => decodeCommand(huge), { instanceOf: CommandCodecError });
});
