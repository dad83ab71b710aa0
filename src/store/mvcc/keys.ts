/**
 * The LevelDB key layout of the MVCC store and its order-preserving encodings.
 * See the layout table at the top of mvcc-store.ts for what each prefix holds.
 *
 * Every LevelDB key starts with one prefix byte, so each index is one
 * contiguous LevelDB range. Numbers are fixed-width big-endian so that byte
 * order equals numeric order; user keys inside composite keys are escaped
 * (0x00 → 0x00 0xFF, then the terminator 0x00 0x01) so that "key a, then its
 * revisions" sorts before "key a\x00…" for keys containing any bytes.
 */
import { assert } from '../../util/assert.js';
import { HEAP } from './byte-arena.js';
import type { ByteAllocator } from './byte-arena.js';

export const PREFIX_META = 0x6d; // 'm'
export const PREFIX_LATEST = 0x6b; // 'k'
export const PREFIX_HISTORY = 0x68; // 'h'
export const PREFIX_EVENT = 0x65; // 'e'
export const PREFIX_LEASE = 0x6c; // 'l'
export const PREFIX_LEASE_KEY = 0x78; // 'x'
export const PREFIX_RECLAIM = 0x67; // 'g'

export const REV_BYTES = 8;
export const SUB_BYTES = 4;
export const SUB_MAX = 0xffffffff;
export const REV_MAX = Number.MAX_SAFE_INTEGER;

const TWO_POW_32 = 2 ** 32;

// The number codecs below are on every write's path: plain byte arithmetic (no DataView per
// call) and constant assertion messages unless they fail.

export function writeU64(out: Uint8Array, offset: number, n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) assert(false, `u64 out of range: ${n}`);
  writeU32(out, offset, Math.floor(n / TWO_POW_32));
  writeU32(out, offset + 4, n >>> 0);
}

export function readU64(src: Uint8Array, offset: number): number {
  const n = readU32(src, offset) * TWO_POW_32 + readU32(src, offset + 4);
  assert(Number.isSafeInteger(n), 'u64 above 2^53 in the store');
  return n;
}

export function writeU32(out: Uint8Array, offset: number, n: number): void {
  if (!(Number.isInteger(n) && n >= 0 && n <= 0xffffffff)) assert(false, `u32 out of range: ${n}`);
  assert(offset >= 0 && offset + 4 <= out.length, 'u32 write out of bounds');
  out[offset] = n >>> 24;
  out[offset + 1] = n >>> 16;
  out[offset + 2] = n >>> 8;
  out[offset + 3] = n;
}

export function readU32(src: Uint8Array, offset: number): number {
  assert(offset >= 0 && offset + 4 <= src.length, 'u32 read out of bounds');
  return src[offset]! * 0x1000000 + ((src[offset + 1]! << 16) | (src[offset + 2]! << 8) | src[offset + 3]!);
}

/** A plain Uint8Array view (never a Buffer) over part of `src`, sharing memory. */
export function view(src: Uint8Array, offset: number, length: number): Uint8Array {
  assert(offset >= 0 && offset + length <= src.byteLength, 'view out of bounds');
  return new Uint8Array(src.buffer, src.byteOffset + offset, length);
}

/** A private copy as a plain Uint8Array, so that callers' buffers may be reused. */
export function copyBytes(src: Uint8Array): Uint8Array {
  return new Uint8Array(src);
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** Below this length a key string is built in JS; above, Buffer's native latin1 decoder is faster. */
const SHORT_KEY_BYTES = 32;

/** latin1 strings compare in byte order, so they serve as sortable map keys. */
export function bytesToKeyString(b: Uint8Array): string {
  if (b.length <= SHORT_KEY_BYTES) return String.fromCharCode.apply(null, b as unknown as number[]);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

export function keyStringToBytes(s: string): Uint8Array {
  const buf = Buffer.from(s, 'latin1');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function escapedLength(key: Uint8Array): number {
  let n = key.length + 2;
  for (let i = 0; i < key.length; i++) if (key[i] === 0) n++;
  return n;
}

function writeEscaped(out: Uint8Array, offset: number, key: Uint8Array): number {
  let o = offset;
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    out[o++] = b;
    if (b === 0) out[o++] = 0xff;
  }
  out[o++] = 0x00;
  out[o++] = 0x01;
  return o;
}

function withPrefix(prefix: number, body: Uint8Array, a: ByteAllocator = HEAP): Uint8Array {
  const out = a.alloc(1 + body.length);
  out[0] = prefix;
  out.set(body, 1);
  return out;
}

// ---- latest-value index: 'k' + user key --------------------------------------------------

export function latestKey(userKey: Uint8Array, a: ByteAllocator = HEAP): Uint8Array {
  return withPrefix(PREFIX_LATEST, userKey, a);
}

export function userKeyOfLatest(k: Uint8Array): Uint8Array {
  assert(k[0] === PREFIX_LATEST, 'not a latest-index key');
  return view(k, 1, k.length - 1);
}

// ---- per-key history: 'h' + esc(user key) + rev(8) + sub(4) --------------------------------

export function historyKey(userKey: Uint8Array, rev: number, sub: number, a: ByteAllocator = HEAP): Uint8Array {
  const out = a.alloc(1 + escapedLength(userKey) + REV_BYTES + SUB_BYTES);
  out[0] = PREFIX_HISTORY;
  const o = writeEscaped(out, 1, userKey);
  writeU64(out, o, rev);
  writeU32(out, o + REV_BYTES, sub);
  return out;
}

/** The first history key of `userKey` and of every key above it. */
export function historyKeyStart(userKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + escapedLength(userKey));
  out[0] = PREFIX_HISTORY;
  writeEscaped(out, 1, userKey);
  return out;
}

export interface HistoryKeyParts {
  key: Uint8Array;
  rev: number;
  sub: number;
}

export function decodeHistoryKey(hk: Uint8Array): HistoryKeyParts {
  assert(hk[0] === PREFIX_HISTORY, 'not a history key');
  const key = new Uint8Array(hk.length);
  let n = 0;
  let i = 1;
  for (;;) {
    assert(i < hk.length, 'unterminated history key');
    const b = hk[i++]!;
    if (b !== 0) {
      key[n++] = b;
      continue;
    }
    const next = hk[i++];
    if (next === 0x01) break;
    assert(next === 0xff, 'bad escape in history key');
    key[n++] = 0;
  }
  assert(hk.length - i === REV_BYTES + SUB_BYTES, 'bad history key length');
  return { key: key.subarray(0, n), rev: readU64(hk, i), sub: readU32(hk, i + REV_BYTES) };
}

// ---- event log: 'e' + rev(8) + sub(4) -------------------------------------------------------

export function eventKey(rev: number, sub: number, a: ByteAllocator = HEAP): Uint8Array {
  const out = a.alloc(1 + REV_BYTES + SUB_BYTES);
  out[0] = PREFIX_EVENT;
  writeU64(out, 1, rev);
  writeU32(out, 1 + REV_BYTES, sub);
  return out;
}

export function decodeEventKey(k: Uint8Array): { rev: number; sub: number } {
  assert(k[0] === PREFIX_EVENT && k.length === 1 + REV_BYTES + SUB_BYTES, 'not an event key');
  return { rev: readU64(k, 1), sub: readU32(k, 1 + REV_BYTES) };
}

// ---- leases: 'l' + id(8); attachments: 'x' + id(8) + user key ---------------------------------

export function leaseKey(id: number): Uint8Array {
  const out = new Uint8Array(1 + 8);
  out[0] = PREFIX_LEASE;
  writeU64(out, 1, id);
  return out;
}

export function decodeLeaseKey(k: Uint8Array): number {
  assert(k[0] === PREFIX_LEASE && k.length === 9, 'not a lease key');
  return readU64(k, 1);
}

export function leaseAttachKey(id: number, userKey: Uint8Array, a: ByteAllocator = HEAP): Uint8Array {
  const out = a.alloc(1 + 8 + userKey.length);
  out[0] = PREFIX_LEASE_KEY;
  writeU64(out, 1, id);
  out.set(userKey, 9);
  return out;
}

/** Every attachment of one lease. */
export function leaseAttachBounds(id: number): Bounds {
  return { gte: leaseAttachKey(id, new Uint8Array(0)), lt: prefixSuccessor(leaseAttachKey(id, new Uint8Array(0))) };
}

/** The smallest key greater than every key starting with `prefix`. */
export function prefixSuccessor(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const out = prefix.slice(0, i + 1);
      out[i]!++;
      return out;
    }
  }
  assert(false, 'no successor of an all-0xff prefix');
}

export function decodeLeaseAttachKey(k: Uint8Array): { id: number; key: Uint8Array } {
  assert(k[0] === PREFIX_LEASE_KEY && k.length >= 9, 'not a lease attachment key');
  return { id: readU64(k, 1), key: view(k, 9, k.length - 9) };
}

// ---- reclaimable-bytes log: 'g' + rev(8) → cumulative bytes ----------------------------------

export function reclaimKey(rev: number, a: ByteAllocator = HEAP): Uint8Array {
  const out = a.alloc(1 + REV_BYTES);
  out[0] = PREFIX_RECLAIM;
  writeU64(out, 1, rev);
  return out;
}

export function metaKey(name: string): Uint8Array {
  return withPrefix(PREFIX_META, new TextEncoder().encode(name));
}

/** The whole range of one prefix byte. */
export function prefixBounds(prefix: number): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) };
}

// ---- user key ranges ----------------------------------------------------------------------

/**
 * A user key interval in etcd's convention, normalised: `single` for one key;
 * otherwise [start, end) with end null for "no upper bound".
 */
export interface KeyRange {
  start: Uint8Array;
  end: Uint8Array | null;
  single: boolean;
}

export function toKeyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  if (rangeEnd.length === 0) return { start: key, end: null, single: true };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key, end: null, single: false };
  return { start: key, end: rangeEnd, single: false };
}

export function rangeIsEmpty(r: KeyRange): boolean {
  return !r.single && r.end !== null && compareBytes(r.end, r.start) <= 0;
}

export function rangeContains(r: KeyRange, key: Uint8Array): boolean {
  if (r.single) return equalBytes(r.start, key);
  if (compareBytes(key, r.start) < 0) return false;
  return r.end === null || compareBytes(key, r.end) < 0;
}

export interface Bounds {
  gte: Uint8Array;
  lt: Uint8Array;
}

/** LevelDB bounds of a (non-single) range in the latest-value index. */
export function latestBounds(r: KeyRange): Bounds {
  assert(!r.single, 'single-key ranges are point reads');
  return {
    gte: latestKey(r.start),
    lt: r.end === null ? Uint8Array.of(PREFIX_LATEST + 1) : latestKey(r.end),
  };
}

/** LevelDB bounds of a range in the history index (all revisions of every key in it). */
export function historyBounds(r: KeyRange): Bounds {
  if (r.single) {
    return { gte: historyKeyStart(r.start), lt: historyKey(r.start, REV_MAX, SUB_MAX) };
  }
  return {
    gte: historyKeyStart(r.start),
    lt: r.end === null ? Uint8Array.of(PREFIX_HISTORY + 1) : historyKeyStart(r.end),
  };
}
