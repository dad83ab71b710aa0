/**
 * The log as the core reads it. The core only reads; the caller writes (after
 * persisting a Ready) through the implementation's own methods.
 *
 * The contract follows etcd-io/raft's Storage: entries before firstIndex() are
 * compacted into the snapshot; term(firstIndex() - 1) is still answered (it is
 * the snapshot's term); reads outside the range throw RAFT_ERR_COMPACTED or
 * RAFT_ERR_UNAVAILABLE. Reads are synchronous: a durable implementation keeps
 * the log tail it serves in memory.
 */
import { assert } from '../util/assert.js';
import { RaftError } from './errors.js';
import {
  type ConfState,
  EMPTY_BYTES,
  EMPTY_HARD_STATE,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
  emptyConfState,
  entrySizeBytes,
} from './types.js';

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), cut to about maxBytes (at least one entry when any is in range). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function compactedError(index: number, first: number): RaftError {
  return new RaftError('RAFT_ERR_COMPACTED', `index ${index} is compacted (first index is ${first})`);
}

export function unavailableError(index: number, last: number): RaftError {
  return new RaftError('RAFT_ERR_UNAVAILABLE', `index ${index} is past the last index ${last}`);
}

/** Keeps a prefix of ents whose size stays within maxBytes; always keeps the first entry. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySizeBytes(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySizeBytes(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: emptyConfState() }, data: EMPTY_BYTES };
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: EMPTY_BYTES };
}

/**
 * The in-memory twin: a whole log in an array. ents[0] is a placeholder for
 * the snapshot's last entry, so that its index and term are known.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { ...EMPTY_HARD_STATE };
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [dummyEntry(0, 0)];

  /**
   * A storage for a founding member of a new cluster: a snapshot at index 1,
   * term 1 holding the initial voters and the state machine's initial data.
   * Members that join later start empty and receive a snapshot from the leader.
   */
  static bootstrap(voters: number[], data: Uint8Array = EMPTY_BYTES): MemoryStorage {
    const s = new MemoryStorage();
    s.applySnapshot({ metadata: { index: 1, term: 1, confState: { ...emptyConfState(), voters: [...voters] } }, data });
    s.setHardState({ term: 1, vote: 0, commit: 1 });
    return s;
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  getHardState(): HardState {
    return { ...this.hardState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw compactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw unavailableError(hi - 1, this.lastIndex());
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw compactedError(index, offset + 1);
    const i = index - offset;
    if (i >= this.ents.length) throw unavailableError(index, this.lastIndex());
    return this.ents[i]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot (a follower catching up, or a restart). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new RaftError('RAFT_ERR_SNAPSHOT_OUT_OF_DATE', `snapshot at ${snap.metadata.index} is not newer than ${this.snap.metadata.index}`);
    }
    this.snap = snap;
    this.ents = [dummyEntry(snap.metadata.index, snap.metadata.term)];
  }

  /** Records a snapshot of the state machine as of `index` (which must be applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new RaftError('RAFT_ERR_SNAPSHOT_OUT_OF_DATE', `snapshot at ${index} is not newer than ${this.snap.metadata.index}`);
    }
    assert(index <= this.lastIndex(), `createSnapshot: ${index} is past the last index ${this.lastIndex()}`);
    const offset = this.ents[0]!.index;
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    assert(index >= offset);
    return this.snap;
  }

  /** Drops entries up to and including compactIndex (which must not pass the applied index). */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw compactedError(compactIndex, offset + 1);
    assert(compactIndex <= this.lastIndex(), `compact: ${compactIndex} is past the last index ${this.lastIndex()}`);
    const i = compactIndex - offset;
    const kept = this.ents.slice(i);
    kept[0] = dummyEntry(this.ents[i]!.index, this.ents[i]!.term);
    this.ents = kept;
  }

  /** Appends entries, replacing any conflicting suffix. Entries must be contiguous with the log. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    let start = 0;
    if (first > entries[0]!.index) start = first - entries[0]!.index;
    const offset = entries[start]!.index - this.ents[0]!.index;
    assert(offset <= this.ents.length, `append: missing log entries before ${entries[start]!.index} (last ${this.lastIndex()})`);
    if (offset < this.ents.length) this.ents.length = offset;
    for (let i = start; i < entries.length; i++) this.ents.push(entries[i]!);
  }
}
