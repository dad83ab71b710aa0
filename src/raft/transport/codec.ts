/**
 * Encoding of Raft messages for the wire (src/raft/proto/raft.proto), with
 * protobufjs reflection. uint64 fields decode as Long objects when long.js is
 * present; every id, term and index in skiff is a safe integer, so they are
 * turned back into numbers here.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { RaftError } from '../errors.js';
import type { ConfState, Entry, Message, Snapshot } from '../types.js';

const root = protobuf.loadSync(fileURLToPath(new URL('../proto/raft.proto', import.meta.url)));
export const MessageBatchType = root.lookupType('skiff.raft.v1.MessageBatch');
export const SnapshotChunkType = root.lookupType('skiff.raft.v1.SnapshotChunk');
export const SnapshotAckType = root.lookupType('skiff.raft.v1.SnapshotAck');
export const StreamSummaryType = root.lookupType('skiff.raft.v1.StreamSummary');
export const MembersRequestType = root.lookupType('skiff.raft.v1.MembersRequest');
export const MembersResponseType = root.lookupType('skiff.raft.v1.MembersResponse');
export const RAFT_PEER_SERVICE = 'skiff.raft.v1.RaftPeer';

type LongLike = number | { toNumber(): number; high: number; low: number; unsigned?: boolean };

/** A uint64 as a number; refuses values past 2^53 (corruption or a foreign peer). */
export function num(v: LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  if (!Number.isSafeInteger(n) || n < 0) throw new RaftError('RAFT_ERR_BAD_MESSAGE', `wire value ${String(v)} is not a safe integer`);
  return n;
}

const EMPTY = new Uint8Array(0);

export interface MessageBatch {
  clusterId: number;
  from: number;
  messages: Message[];
}

export interface SnapshotChunk {
  clusterId: number;
  message: Message | null;
  data: Uint8Array;
  last: boolean;
}

export function encodeBatch(b: MessageBatch): Uint8Array {
  return MessageBatchType.encode(b as unknown as Record<string, unknown>).finish();
}

export function decodeBatch(buf: Uint8Array): MessageBatch {
  const raw = MessageBatchType.decode(buf) as unknown as { clusterId: LongLike; from: LongLike; messages: RawMessage[] };
  return { clusterId: num(raw.clusterId), from: num(raw.from), messages: raw.messages.map(fromRawMessage) };
}

export function encodeChunk(c: SnapshotChunk): Uint8Array {
  return SnapshotChunkType.encode(c as unknown as Record<string, unknown>).finish();
}

export function decodeChunk(buf: Uint8Array): SnapshotChunk {
  const raw = SnapshotChunkType.decode(buf) as unknown as { clusterId: LongLike; message?: RawMessage; data?: Uint8Array; last?: boolean };
  return { clusterId: num(raw.clusterId), message: raw.message ? fromRawMessage(raw.message) : null, data: raw.data ?? EMPTY, last: raw.last ?? false };
}

interface RawEntry {
  term: LongLike;
  index: LongLike;
  type: number;
  data: Uint8Array;
}
interface RawConfState {
  voters: LongLike[];
  learners: LongLike[];
  votersOutgoing: LongLike[];
  learnersNext: LongLike[];
  autoLeave: boolean;
}
interface RawMessage {
  type: number;
  to: LongLike;
  from: LongLike;
  term: LongLike;
  logTerm: LongLike;
  index: LongLike;
  entries: RawEntry[];
  commit: LongLike;
  snapshot?: { metadata?: { index: LongLike; term: LongLike; confState?: RawConfState }; data?: Uint8Array } | null;
  reject: boolean;
  rejectHint: LongLike;
  context?: Uint8Array;
}

function fromRawEntry(e: RawEntry): Entry {
  return { term: num(e.term), index: num(e.index), type: e.type, data: e.data ?? EMPTY };
}

function fromRawConfState(c: RawConfState | undefined): ConfState {
  return {
    voters: (c?.voters ?? []).map(num),
    learners: (c?.learners ?? []).map(num),
    votersOutgoing: (c?.votersOutgoing ?? []).map(num),
    learnersNext: (c?.learnersNext ?? []).map(num),
    autoLeave: c?.autoLeave ?? false,
  };
}

function fromRawSnapshot(s: RawMessage['snapshot']): Snapshot | null {
  if (!s || !s.metadata) return null;
  return {
    metadata: { index: num(s.metadata.index), term: num(s.metadata.term), confState: fromRawConfState(s.metadata.confState) },
    data: s.data ?? EMPTY,
  };
}

function fromRawMessage(m: RawMessage): Message {
  return {
    type: m.type,
    to: num(m.to),
    from: num(m.from),
    term: num(m.term),
    logTerm: num(m.logTerm),
    index: num(m.index),
    entries: m.entries.length === 0 ? [] : m.entries.map(fromRawEntry),
    commit: num(m.commit),
    snapshot: fromRawSnapshot(m.snapshot),
    reject: m.reject,
    rejectHint: num(m.rejectHint),
    context: m.context && m.context.length > 0 ? m.context : null,
  };
}

// ------------------------------------------------------------ entries at rest

/**
 * An entry as stored in the log database: u8 version | u8 type | f64 term |
 * data. The index is the database key. (Not protobuf: this is the hottest
 * encoding on the write path and never leaves the machine.)
 */
export function encodeStoredEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(10 + e.data.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setUint8(1, e.type);
  v.setFloat64(2, e.term);
  out.set(e.data, 10);
  return out;
}

export function decodeStoredEntry(index: number, buf: Uint8Array): Entry {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 10 || v.getUint8(0) !== 1) throw new RaftError('RAFT_ERR_CORRUPT_LOG', `corrupt log entry at ${index}`);
  return { index, type: v.getUint8(1), term: v.getFloat64(2), data: buf.subarray(10) };
}
