/**
 * The binary form of a StoreCommand inside a Raft entry. The log is
 * persisted and replicated, so the format is versioned and decoding checks
 * every length; it is hand-written because it sits on the write path of
 * every request and never leaves skiff.
 *
 * Layout: u8 version (1) | u8 kind | f64 request id | body. Numbers are f64
 * (exact for the safe integers skiff uses), byte strings are u32 length +
 * bytes, booleans u8, lists u32 count + items.
 */
import { assert } from '../util/assert.js';
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  StoreCommand,
  TxnRequest,
} from './types.js';

const VERSION = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();

const enum Kind {
  Put = 1,
  DeleteRange = 2,
  Txn = 3,
  Compaction = 4,
  LeaseGrant = 5,
  LeaseRevoke = 6,
  LeaseCheckpoint = 7,
  MemberAttributes = 8,
  FencedTxn = 9,
}

const enum OpKind {
  Range = 1,
  Put = 2,
  DeleteRange = 3,
  Txn = 4,
}

/**
 * Nesting bound for txn inside txn, the same as the API's (convert.ts
 * TXN_NESTING_DEPTH_MAX): etcd has none beyond its 128 ops; we keep the
 * decoder's recursion bounded.
 */
const MAX_TXN_DEPTH = 128;

export class CommandCodecError extends Error {
  override readonly name = 'CommandCodecError';
  readonly code = 'STORE_ERR_CORRUPT_COMMAND';
}

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
  }

  num(v: number): void {
    this.room(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new CommandCodecError(`command truncated at byte ${this.at}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  bool(): boolean {
    return this.u8() !== 0;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }

  num(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at);
    this.at += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    // A view into the entry: entries are immutable once written.
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  count(): number {
    const n = this.u32();
    // Every item takes at least one byte: a larger count is corrupt.
    if (n > this.buf.length - this.at) throw new CommandCodecError(`list of ${n} items in ${this.buf.length - this.at} bytes`);
    return n;
  }

  done(): void {
    if (this.at !== this.buf.length) throw new CommandCodecError(`${this.buf.length - this.at} trailing bytes`);
  }
}

export function encodeCommand(c: StoreCommand): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  if ('put' in c) {
    w.u8(Kind.Put);
    w.num(c.id);
    writePut(w, c.put);
  } else if ('deleteRange' in c) {
    w.u8(Kind.DeleteRange);
    w.num(c.id);
    writeDelete(w, c.deleteRange);
  } else if ('txn' in c) {
    w.u8(Kind.Txn);
    w.num(c.id);
    writeTxn(w, c.txn, 0);
  } else if ('compaction' in c) {
    w.u8(Kind.Compaction);
    w.num(c.id);
    w.num(c.compaction.revision);
    w.bool(c.compaction.physical);
  } else if ('leaseGrant' in c) {
    w.u8(Kind.LeaseGrant);
    w.num(c.id);
    w.num(c.leaseGrant.ttl);
    w.num(c.leaseGrant.id);
  } else if ('leaseRevoke' in c) {
    w.u8(Kind.LeaseRevoke);
    w.num(c.id);
    w.num(c.leaseRevoke.id);
  } else if ('fencedTxn' in c) {
    w.u8(Kind.FencedTxn);
    w.num(c.id);
    w.num(c.fencedTxn.term);
    writeTxn(w, c.fencedTxn.txn, 0);
  } else if ('memberAttributes' in c) {
    w.u8(Kind.MemberAttributes);
    w.num(c.id);
    w.num(c.memberAttributes.memberId);
    w.bytes(enc.encode(c.memberAttributes.name));
    w.u32(c.memberAttributes.clientURLs.length);
    for (const u of c.memberAttributes.clientURLs) w.bytes(enc.encode(u));
  } else {
    w.u8(Kind.LeaseCheckpoint);
    w.num(c.id);
    w.u32(c.leaseCheckpoint.checkpoints.length);
    for (const cp of c.leaseCheckpoint.checkpoints) {
      w.num(cp.id);
      w.num(cp.remainingTtl);
    }
  }
  return w.finish();
}

export function decodeCommand(data: Uint8Array): StoreCommand {
  const r = new Reader(data);
  const version = r.u8();
  if (version !== VERSION) throw new CommandCodecError(`unknown command version ${version}`);
  const kind = r.u8();
  const id = r.num();
  let c: StoreCommand;
  switch (kind) {
    case Kind.Put:
      c = { id, put: readPut(r) };
      break;
    case Kind.DeleteRange:
      c = { id, deleteRange: readDelete(r) };
      break;
    case Kind.Txn:
      c = { id, txn: readTxn(r, 0) };
      break;
    case Kind.Compaction:
      c = { id, compaction: { revision: r.num(), physical: r.bool() } };
      break;
    case Kind.LeaseGrant:
      c = { id, leaseGrant: { ttl: r.num(), id: r.num() } };
      break;
    case Kind.LeaseRevoke:
      c = { id, leaseRevoke: { id: r.num() } };
      break;
    case Kind.LeaseCheckpoint: {
      const n = r.count();
      const checkpoints = [];
      for (let i = 0; i < n; i++) checkpoints.push({ id: r.num(), remainingTtl: r.num() });
      c = { id, leaseCheckpoint: { checkpoints } };
      break;
    }
    case Kind.FencedTxn: {
      const term = r.num();
      c = { id, fencedTxn: { term, txn: readTxn(r, 0) } };
      break;
    }
    case Kind.MemberAttributes: {
      const memberId = r.num();
      const name = dec.decode(r.bytes());
      const n = r.count();
      const clientURLs: string[] = [];
      for (let i = 0; i < n; i++) clientURLs.push(dec.decode(r.bytes()));
      c = { id, memberAttributes: { memberId, name, clientURLs } };
      break;
    }
    default:
      throw new CommandCodecError(`unknown command kind ${kind}`);
  }
  r.done();
  return c;
}

function writePut(w: Writer, p: PutRequest): void {
  w.bytes(p.key);
  w.bytes(p.value);
  w.num(p.lease);
  w.u8((p.prevKv ? 1 : 0) | (p.ignoreValue ? 2 : 0) | (p.ignoreLease ? 4 : 0));
}

function readPut(r: Reader): PutRequest {
  const key = r.bytes();
  const value = r.bytes();
  const lease = r.num();
  const flags = r.u8();
  return { key, value, lease, prevKv: (flags & 1) !== 0, ignoreValue: (flags & 2) !== 0, ignoreLease: (flags & 4) !== 0 };
}

function writeDelete(w: Writer, d: DeleteRangeRequest): void {
  w.bytes(d.key);
  w.bytes(d.rangeEnd);
  w.bool(d.prevKv);
}

function readDelete(r: Reader): DeleteRangeRequest {
  return { key: r.bytes(), rangeEnd: r.bytes(), prevKv: r.bool() };
}

function writeRange(w: Writer, q: RangeRequest): void {
  w.bytes(q.key);
  w.bytes(q.rangeEnd);
  w.num(q.limit);
  w.num(q.revision);
  w.u8(q.sortOrder);
  w.u8(q.sortTarget);
  w.u8((q.serializable ? 1 : 0) | (q.keysOnly ? 2 : 0) | (q.countOnly ? 4 : 0));
  w.num(q.minModRevision);
  w.num(q.maxModRevision);
  w.num(q.minCreateRevision);
  w.num(q.maxCreateRevision);
}

function readRange(r: Reader): RangeRequest {
  const key = r.bytes();
  const rangeEnd = r.bytes();
  const limit = r.num();
  const revision = r.num();
  const sortOrder = r.u8();
  const sortTarget = r.u8();
  const flags = r.u8();
  return {
    key,
    rangeEnd,
    limit,
    revision,
    sortOrder,
    sortTarget,
    serializable: (flags & 1) !== 0,
    keysOnly: (flags & 2) !== 0,
    countOnly: (flags & 4) !== 0,
    minModRevision: r.num(),
    maxModRevision: r.num(),
    minCreateRevision: r.num(),
    maxCreateRevision: r.num(),
  };
}

function writeCompare(w: Writer, c: Compare): void {
  w.u8(c.result);
  w.u8(c.target);
  w.bytes(c.key);
  w.bytes(c.rangeEnd);
  w.num(c.version);
  w.num(c.createRevision);
  w.num(c.modRevision);
  w.bytes(c.value);
  w.num(c.lease);
}

function readCompare(r: Reader): Compare {
  return {
    result: r.u8(),
    target: r.u8(),
    key: r.bytes(),
    rangeEnd: r.bytes(),
    version: r.num(),
    createRevision: r.num(),
    modRevision: r.num(),
    value: r.bytes(),
    lease: r.num(),
  };
}

function writeOps(w: Writer, ops: readonly RequestOp[], depth: number): void {
  w.u32(ops.length);
  for (const op of ops) {
    if ('range' in op) {
      w.u8(OpKind.Range);
      writeRange(w, op.range);
    } else if ('put' in op) {
      w.u8(OpKind.Put);
      writePut(w, op.put);
    } else if ('deleteRange' in op) {
      w.u8(OpKind.DeleteRange);
      writeDelete(w, op.deleteRange);
    } else {
      w.u8(OpKind.Txn);
      writeTxn(w, op.txn, depth + 1);
    }
  }
}

function readOps(r: Reader, depth: number): RequestOp[] {
  const n = r.count();
  const ops: RequestOp[] = [];
  for (let i = 0; i < n; i++) {
    const k = r.u8();
    if (k === OpKind.Range) ops.push({ range: readRange(r) });
    else if (k === OpKind.Put) ops.push({ put: readPut(r) });
    else if (k === OpKind.DeleteRange) ops.push({ deleteRange: readDelete(r) });
    else if (k === OpKind.Txn) ops.push({ txn: readTxn(r, depth + 1) });
    else throw new CommandCodecError(`unknown txn op kind ${k}`);
  }
  return ops;
}

function writeTxn(w: Writer, t: TxnRequest, depth: number): void {
  assert(depth <= MAX_TXN_DEPTH, 'txn nested too deeply (the API layer bounds this)');
  w.u32(t.compare.length);
  for (const c of t.compare) writeCompare(w, c);
  writeOps(w, t.success, depth);
  writeOps(w, t.failure, depth);
}

function readTxn(r: Reader, depth: number): TxnRequest {
  if (depth > MAX_TXN_DEPTH) throw new CommandCodecError('txn nested too deeply');
  const n = r.count();
  const compare: Compare[] = [];
  for (let i = 0; i < n; i++) compare.push(readCompare(r));
  return { compare, success: readOps(r, depth), failure: readOps(r, depth) };
}

export { MAX_TXN_DEPTH };
