/**
 * Binary encodings of the values stored under the layout in keys.ts, and the
 * byte accounting that the space quota uses.
 */
import { assert } from '../../util/assert.js';
import { EventType } from '../types.js';
import type { KeyValue, WatchEvent } from '../types.js';
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

export function encodeLatest(r: KvRecord): Uint8Array {
  const out = new Uint8Array(LATEST_HEADER_BYTES + r.value.length);
  writeU64(out, 0, r.createRevision);
  writeU64(out, 8, r.modRevision);
  writeU32(out, 16, r.modSub);
  writeU64(out, 20, r.version);
  writeU64(out, 28, r.lease);
  out.set(r.value, LATEST_HEADER_BYTES);
  return out;
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

export function encodeEvent(type: EventType, r: KvRecord): Uint8Array {
  const out = new Uint8Array(EVENT_HEADER_BYTES + r.key.length + r.value.length);
  out[0] = type;
  writeU64(out, 1, r.createRevision);
  writeU64(out, 9, r.version);
  writeU64(out, 17, r.lease);
  writeU32(out, 25, r.key.length);
  out.set(r.key, EVENT_HEADER_BYTES);
  out.set(r.value, EVENT_HEADER_BYTES + r.key.length);
  return out;
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

export function tombstoneRecord(key: Uint8Array, rev: number, sub: number): KvRecord {
  return { key, createRevision: 0, modRevision: rev, modSub: sub, version: 0, lease: 0, value: new Uint8Array(0) };
}

/** The WatchEvent of a stored event (prevKv filled in by the caller when wanted). */
export function toWatchEvent(e: EventRecord, prevKv: KeyValue | null): WatchEvent {
  return { type: e.type, kv: toKeyValue(e.record), prevKv };
}

// ---- byte accounting -----------------------------------------------------------------------
// Sizes are computed from lengths with fixed formulas, not measured on disk, so that every
// member computes the same dbSizeBytes() and makes the same quota decision (determinism).

/** Bytes one change (a put or a tombstone) occupies in the history index and the event log. */
export function changeBytes(r: KvRecord): number {
  return 2 * (1 + 12) + 2 * r.key.length + 2 + 1 + EVENT_HEADER_BYTES + r.value.length;
}

/** Bytes the latest-value entry of a live key occupies. */
export function latestBytes(r: KvRecord): number {
  return 1 + r.key.length + LATEST_HEADER_BYTES + r.value.length;
}

/** Bytes a lease record occupies (etcd counts a fixed overhead per lease too). */
export const LEASE_BYTES = 64;

// ---- small JSON records (meta, leases) -----------------------------------------------------

export function encodeJson(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

export function decodeJson<T>(b: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(b)) as T;
}

/** The persisted lease record. */
export interface LeaseMeta {
  ttl: number;
  remainingTtl: number;
}
