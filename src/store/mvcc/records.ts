/**
 * Binary encodings of the values stored under the layout in keys.ts, and the
 * byte accounting that the space quota uses.
 */
import { assert } from '../../util/assert.js';
import { EventType } from '../types.js';
import type { KeyValue, WatchEvent } from '../types.js';
import { HEAP } from './byte-arena.js';
import type { ByteAllocator } from './byte-arena.js';
import { readU32, readU64, view, writeU32, writeU64 } from './keys.js';

/** One version of a key as the store keeps it (a KeyValue plus its sub-revision). */
export interface KvRecord {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  modSub: number;
  version: number;
  lease: number;
  value: Uint8Array;
}

/**
 * What the key index keeps of a live key: its latest version without the
 * value (the value's length is kept for the byte accounting). Immutable: a
 * change makes a new one, so that a staged change never alters the committed index.
 */
export interface KeyMeta {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
  readonly valueBytes: number;
}

/** Always built here, so that every KeyMeta shares one object shape. */
export function keyMeta(createRevision: number, modRevision: number, version: number, lease: number, valueBytes: number): KeyMeta {
  return { createRevision, modRevision, version, lease, valueBytes };
}

/** The KeyValue of a key's version known by its metadata and value. */
export function metaToKeyValue(key: Uint8Array, m: KeyMeta, value: Uint8Array): KeyValue {
  return { key, createRevision: m.createRevision, modRevision: m.modRevision, version: m.version, value, lease: m.lease };
}

export function toKeyValue(r: KvRecord): KeyValue {
  return {
    key: r.key,
    createRevision: r.createRevision,
    modRevision: r.modRevision,
    version: r.version,
    value: r.value,
    lease: r.lease,
  };
}

// ---- latest-value index value: create(8) mod(8) sub(4) version(8) lease(8) value ----------

const LATEST_HEADER_BYTES = 36;

export function encodeLatest(
  createRevision: number,
  modRevision: number,
  modSub: number,
  version: number,
  lease: number,
  value: Uint8Array,
  a: ByteAllocator = HEAP,
): Uint8Array {
  const out = a.alloc(LATEST_HEADER_BYTES + value.length);
  writeU64(out, 0, createRevision);
  writeU64(out, 8, modRevision);
  writeU32(out, 16, modSub);
  writeU64(out, 20, version);
  writeU64(out, 28, lease);
  out.set(value, LATEST_HEADER_BYTES);
  return out;
}

/** The mod revision of a latest-index record, without decoding the rest. */
export function latestModRevision(v: Uint8Array): number {
  assert(v.length >= LATEST_HEADER_BYTES, 'short latest-index record');
  return readU64(v, 8);
}

/** Everything but the value of a latest-index record: what the key index keeps. */
export function decodeLatestMeta(v: Uint8Array): KeyMeta {
  assert(v.length >= LATEST_HEADER_BYTES, 'short latest-index record');
  return keyMeta(readU64(v, 0), readU64(v, 8), readU64(v, 20), readU64(v, 28), v.length - LATEST_HEADER_BYTES);
}

export function decodeLatest(key: Uint8Array, v: Uint8Array): KvRecord {
  assert(v.length >= LATEST_HEADER_BYTES, 'short latest-index record');
  return {
    key,
    createRevision: readU64(v, 0),
    modRevision: readU64(v, 8),
    modSub: readU32(v, 16),
    version: readU64(v, 20),
    lease: readU64(v, 28),
    value: view(v, LATEST_HEADER_BYTES, v.length - LATEST_HEADER_BYTES),
  };
}

// ---- history index value: one flag byte ----------------------------------------------------

export const HISTORY_PUT = Uint8Array.of(0);
export const HISTORY_TOMBSTONE = Uint8Array.of(1);

export function isTombstone(historyValue: Uint8Array): boolean {
  assert(historyValue.length === 1, 'bad history value');
  return historyValue[0] === 1;
}

// ---- event log value: type(1) create(8) version(8) lease(8) keyLen(4) key value -----------

const EVENT_HEADER_BYTES = 29;

/** A stored event: a put's full record, or a deletion (key only). */
export interface EventRecord {
  type: EventType;
  record: KvRecord;
}

/** Key and value are copied. */
export function encodeEvent(
  type: EventType,
  createRevision: number,
  version: number,
  lease: number,
  key: Uint8Array,
  value: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(EVENT_HEADER_BYTES + key.length + value.length);
  out[0] = type;
  writeU64(out, 1, createRevision);
  writeU64(out, 9, version);
  writeU64(out, 17, lease);
  writeU32(out, 25, key.length);
  out.set(key, EVENT_HEADER_BYTES);
  out.set(value, EVENT_HEADER_BYTES + key.length);
  return out;
}

/** The key inside an encoded event (a view, no copy). */
export function eventKeyView(encoded: Uint8Array, keyLength: number): Uint8Array {
  return view(encoded, EVENT_HEADER_BYTES, keyLength);
}

/** The value inside an encoded event (a view, no copy). */
export function eventValueView(encoded: Uint8Array, keyLength: number): Uint8Array {
  return view(encoded, EVENT_HEADER_BYTES + keyLength, encoded.length - EVENT_HEADER_BYTES - keyLength);
}

export function decodeEvent(rev: number, sub: number, v: Uint8Array): EventRecord {
  assert(v.length >= EVENT_HEADER_BYTES, 'short event record');
  const type = v[0] as EventType;
  assert(type === EventType.Put || type === EventType.Delete, 'bad event type');
  const keyLength = readU32(v, 25);
  const valueOffset = EVENT_HEADER_BYTES + keyLength;
  assert(valueOffset <= v.length, 'bad event key length');
  return {
    type,
    record: {
      key: view(v, EVENT_HEADER_BYTES, keyLength),
      createRevision: readU64(v, 1),
      modRevision: rev,
      modSub: sub,
      version: readU64(v, 9),
      lease: readU64(v, 17),
      value: view(v, valueOffset, v.length - valueOffset),
    },
  };
}

/** The WatchEvent of a stored event (prevKv filled in by the caller when wanted). */
export function toWatchEvent(e: EventRecord, prevKv: KeyValue | null): WatchEvent {
  return { type: e.type, kv: toKeyValue(e.record), prevKv };
}

// ---- byte accounting -----------------------------------------------------------------------
// Sizes are computed from lengths with fixed formulas, not measured on disk, so that every
// member computes the same dbSizeBytes() and makes the same quota decision (determinism).

/** Bytes one change (a put or a tombstone) occupies in the history index and the event log. */
export function changeBytesOf(keyBytes: number, valueBytes: number): number {
  return 2 * (1 + 12) + 2 * keyBytes + 2 + 1 + EVENT_HEADER_BYTES + valueBytes;
}

/** Bytes the latest-value entry of a live key occupies. */
export function latestBytesOf(keyBytes: number, valueBytes: number): number {
  return 1 + keyBytes + LATEST_HEADER_BYTES + valueBytes;
}

/** Bytes a lease record occupies (etcd counts a fixed overhead per lease too). */
export const LEASE_BYTES = 64;

// ---- small JSON records (meta, leases) -----------------------------------------------------

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeJson(v: unknown, a: ByteAllocator = HEAP): Uint8Array {
  const json = JSON.stringify(v);
  if (a === HEAP) return textEncoder.encode(json);
  const out = a.alloc(Buffer.byteLength(json));
  textEncoder.encodeInto(json, out);
  return out;
}

export function decodeJson<T>(b: Uint8Array): T {
  return JSON.parse(textDecoder.decode(b)) as T;
}

/** The persisted lease record. */
export interface LeaseMeta {
  ttl: number;
  remainingTtl: number;
}
