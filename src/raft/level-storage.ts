/**
 * The durable Raft log: LevelDB underneath, a MemoryStorage mirror on top.
 * The core reads synchronously from the mirror; every Ready is persisted as
 * ONE LevelDB write batch (entries + hard state + snapshot metadata), synced
 * when the Ready says so, and only then reflected in the mirror.
 *
 * Layout (keys are bytes):
 *   "h"                → hard state: f64 term | f64 vote | f64 commit
 *   "s"                → snapshot metadata (JSON: index, term, confState)
 *   "d"                → snapshot data (opaque; the store keeps its state elsewhere)
 *   "e" + u64be index  → entry (see encodeStoredEntry)
 *
 * Entries at or below the snapshot index are garbage (left by a compaction
 * interrupted by a crash) and are ignored when the log is loaded.
 */
import { Level } from 'level';
import { assert } from '../util/assert.js';
import { RaftError } from './errors.js';
import { type InitialState, MemoryStorage, type Storage } from './storage.js';
import { decodeStoredEntry, encodeStoredEntry } from './transport/codec.js';
import { type ConfState, EMPTY_BYTES, type Entry, type HardState, type Snapshot, emptyConfState, isEmptySnapshot } from './types.js';

/**
 * The log is written once, read from memory, and deleted soon after: LevelDB
 * compression only costs CPU here, and a larger memtable lets most entries
 * be compacted away before they are ever flushed to a table file.
 */
const LOG_DB_OPTIONS = {
  keyEncoding: 'view',
  valueEncoding: 'view',
  compression: false,
  writeBufferSize: 64 * 1024 * 1024,
} as const;

const KEY_HARD_STATE = new Uint8Array([0x68]); // 'h'
const KEY_SNAPSHOT_META = new Uint8Array([0x73]); // 's'
const KEY_SNAPSHOT_DATA = new Uint8Array([0x64]); // 'd'
const ENTRY_PREFIX = 0x65; // 'e'

function entryKey(index: number): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = ENTRY_PREFIX;
  const v = new DataView(k.buffer);
  v.setUint32(1, Math.floor(index / 2 ** 32));
  v.setUint32(5, index >>> 0);
  return k;
}

function entryIndex(k: Uint8Array): number {
  const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return v.getUint32(1) * 2 ** 32 + v.getUint32(5);
}

function encodeHardState(hs: HardState): Uint8Array {
  const out = new Uint8Array(24);
  const v = new DataView(out.buffer);
  v.setFloat64(0, hs.term);
  v.setFloat64(8, hs.vote);
  v.setFloat64(16, hs.commit);
  return out;
}

function decodeHardState(b: Uint8Array): HardState {
  if (b.length !== 24) throw new RaftError('RAFT_ERR_CORRUPT_LOG', 'hard state record has the wrong size');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { term: v.getFloat64(0), vote: v.getFloat64(8), commit: v.getFloat64(16) };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What one Ready asks to persist. */
export interface PersistBatch {
  hardState: HardState | null;
  entries: readonly Entry[];
  snapshot: Snapshot | null;
}

export interface LevelStorageStats {
  /** Write batches persisted, and how many of them were synced. */
  batches: number;
  syncs: number;
}

/** Observes the duration (seconds) of each synced write: the fsync on the write path. */
export type SyncObserver = (seconds: number) => void;

export class LevelLogStorage implements Storage {
  readonly stats: LevelStorageStats = { batches: 0, syncs: 0 };
  /** Set by the owner to measure fsync latency. */
  onSync: SyncObserver | null = null;
  private closed = false;
  /** The hard state as last written to disk (term and vote must never lag). */
  private persistedHardState: HardState | null;

  private constructor(
    private readonly db: Level<Uint8Array, Uint8Array>,
    private readonly mem: MemoryStorage,
    persistedHardState: HardState | null,
  ) {
    this.persistedHardState = persistedHardState;
  }

  /** Opens (creating if needed) the log in `dir` and loads it into memory. */
  static async open(dir: string): Promise<LevelLogStorage> {
    const db = new Level<Uint8Array, Uint8Array>(dir, LOG_DB_OPTIONS);
    await db.open();
    const mem = new MemoryStorage();
    const meta = await db.get(KEY_SNAPSHOT_META);
    let snapIndex = 0;
    if (meta) {
      const m = JSON.parse(dec.decode(meta)) as { index: number; term: number; confState: ConfState };
      const data = (await db.get(KEY_SNAPSHOT_DATA)) ?? EMPTY_BYTES;
      mem.applySnapshot({ metadata: { index: m.index, term: m.term, confState: m.confState }, data: Uint8Array.from(data) });
      snapIndex = m.index;
    }
    const entries: Entry[] = [];
    for await (const [k, v] of db.iterator({ gt: entryKey(snapIndex), lt: entryKey(2 ** 53) })) {
      const index = entryIndex(k);
      const expected = snapIndex + entries.length + 1;
      if (index !== expected) throw new RaftError('RAFT_ERR_CORRUPT_LOG', `log has a gap: expected entry ${expected}, found ${index}`);
      entries.push(decodeStoredEntry(index, Uint8Array.from(v)));
    }
    mem.append(entries);
    const raw = await db.get(KEY_HARD_STATE);
    const hs = raw ? decodeHardState(raw) : null;
    if (hs) mem.setHardState(hs);
    return new LevelLogStorage(db, mem, hs);
  }

  /** True when nothing was ever stored (a member that has not joined a cluster yet). */
  isEmpty(): boolean {
    return this.mem.lastIndex() === 0 && isEmptySnapshot(this.mem.snapshot());
  }

  /**
   * Writes the founding state of a new cluster: a snapshot at index 1 term 1
   * listing the initial voters (see MemoryStorage.bootstrap). Synced.
   */
  async bootstrap(voters: number[], data: Uint8Array = EMPTY_BYTES): Promise<void> {
    assert(this.isEmpty(), 'bootstrap of a log that is not empty');
    const snapshot: Snapshot = { metadata: { index: 1, term: 1, confState: { ...emptyConfState(), voters: [...voters] } }, data };
    await this.save({ hardState: { term: 1, vote: 0, commit: 1 }, entries: [], snapshot }, true);
  }

  // ---------------------------------------------------------------- Storage (reads)

  initialState(): InitialState {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.mem.term(index);
  }
  firstIndex(): number {
    return this.mem.firstIndex();
  }
  lastIndex(): number {
    return this.mem.lastIndex();
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }
  hardState(): HardState {
    return this.mem.getHardState();
  }

  // ---------------------------------------------------------------- writes

  /**
   * Persists a Ready as one batch (synced when `sync`), then updates the
   * mirror. A received snapshot replaces the whole log; entries overwrite a
   * conflicting suffix. Calls must not overlap (the driver awaits each).
   */
  async save(b: PersistBatch, sync: boolean): Promise<void> {
    if (this.closed) throw new RaftError('RAFT_ERR_STOPPED', 'log storage is closed');
    if (!b.snapshot && b.entries.length === 0 && (!b.hardState || this.onlyCommitMoved(b.hardState))) {
      // A commit index alone is recoverable (the leader tells it again), so it
      // is kept in memory and written with the next batch that must go to disk:
      // one LevelDB write fewer on every commit.
      if (b.hardState) this.mem.setHardState(b.hardState);
      return;
    }
    const batch = this.db.batch();
    if (b.snapshot && !isEmptySnapshot(b.snapshot)) {
      // Every stored entry belongs to the log being replaced: delete them in
      // the same batch, so no stale entry can reappear after a crash.
      for (let i = this.mem.firstIndex(); i <= this.mem.lastIndex(); i++) batch.del(entryKey(i));
      const { index, term, confState } = b.snapshot.metadata;
      batch.put(KEY_SNAPSHOT_META, enc.encode(JSON.stringify({ index, term, confState })));
      batch.put(KEY_SNAPSHOT_DATA, b.snapshot.data);
    }
    if (b.entries.length > 0) {
      const first = b.entries[0]!.index;
      const last = b.entries[b.entries.length - 1]!.index;
      // A conflicting suffix beyond the new entries must go too.
      for (let i = Math.max(last + 1, this.mem.firstIndex()); i <= this.mem.lastIndex(); i++) batch.del(entryKey(i));
      for (const e of b.entries) if (e.index >= first) batch.put(entryKey(e.index), encodeStoredEntry(e));
    }
    // The latest hard state rides along (its commit index may have moved in memory only).
    const hs = b.hardState ?? this.mem.getHardState();
    batch.put(KEY_HARD_STATE, encodeHardState(hs));
    const t0 = sync && this.onSync ? process.hrtime.bigint() : 0n;
    await batch.write({ sync });
    if (t0) this.onSync!(Number(process.hrtime.bigint() - t0) / 1e9);
    this.stats.batches++;
    if (sync) this.stats.syncs++;
    if (b.snapshot && !isEmptySnapshot(b.snapshot)) this.mem.applySnapshot(b.snapshot);
    this.mem.append(b.entries);
    this.mem.setHardState(hs);
    this.persistedHardState = hs;
  }

  /** Whether `hs` differs from what is on disk in its commit index only. */
  private onlyCommitMoved(hs: HardState): boolean {
    const p = this.persistedHardState;
    return p !== null && p.term === hs.term && p.vote === hs.vote;
  }

  /**
   * Records a snapshot at `index` (which the state machine has made durable)
   * and drops the log before `compactTo` (≤ index), keeping a tail for slow
   * followers. The snapshot record is synced; the deletion of old entries is
   * not (leftovers are ignored on load).
   */
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array, compactTo: number): Promise<Snapshot> {
    assert(compactTo <= index, `compactTo ${compactTo} is past the snapshot ${index}`);
    const snap = this.mem.createSnapshot(index, confState, data);
    const batch = this.db.batch();
    batch.put(KEY_SNAPSHOT_META, enc.encode(JSON.stringify({ index, term: snap.metadata.term, confState })));
    batch.put(KEY_SNAPSHOT_DATA, data);
    await batch.write({ sync: true });
    if (compactTo >= this.mem.firstIndex()) {
      const from = this.mem.firstIndex();
      this.mem.compact(compactTo);
      await this.db.clear({ gte: entryKey(from), lte: entryKey(compactTo) });
    }
    return snap;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}
