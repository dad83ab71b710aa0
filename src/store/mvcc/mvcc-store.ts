/**
 * MvccStore: the deterministic state machine behind the Raft log, with etcd's
 * MVCC semantics, on LevelDB.
 *
 * LevelDB layout (every index is one contiguous LevelDB range; numbers are
 * fixed-width big-endian; esc(k) escapes 0x00 as 0x00 0xFF and ends with
 * 0x00 0x01, so that composite keys sort by user key, then revision):
 *
 *   'e' rev(8) sub(4)             → event: type, create, version, lease, key, value
 *                                   The revision-ordered event log: the source of truth and
 *                                   what slow watchers catch up from.
 *   'h' esc(key) rev(8) sub(4)    → 1 byte: 0 put / 1 tombstone
 *                                   Per-key history: a read at a past revision scans this
 *                                   range, picks each key's last entry ≤ rev, then fetches
 *                                   those events.
 *   'k' key                       → create, mod, sub, version, lease, value
 *                                   Latest value of every live key: a read at the current
 *                                   revision is one straight scan.
 *   'l' leaseId(8)                → JSON { ttl, remainingTtl }
 *   'x' leaseId(8) key            → (empty) keys attached to a lease, sorted for revoke
 *   'g' rev(8)                    → cumulative reclaimable bytes as of rev (quota accounting)
 *   'm' "state"                   → JSON StoreState (appliedIndex, revision, compactRevision,
 *                                   byte counters), written in every apply batch
 *   'm' "compactor"               → JSON physical-compaction progress
 *
 * Concurrency: `apply` is the only writer of 'e' 'h' 'k' 'l' 'x' 'm/state'
 * above the compact revision; the compactor only deletes at or below it. Each
 * apply call is one LevelDB batch; while it is being written, new reads wait,
 * so that a read's snapshot and its revision always agree. The new state,
 * key index, lease table and watch events are published synchronously after
 * the write.
 *
 * In memory: the state record; the key index (key-index.ts: every live key's
 * metadata without its value, about 130 bytes plus the key's length per key),
 * rebuilt from 'k' on open, so that apply decides without reading LevelDB;
 * the lease table (proportional to live leases and their keys); watchers
 * with bounded buffers. Nothing grows with history.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { Level } from 'level';
import { assert } from '../../util/assert.js';
import { StoreError } from '../errors.js';
import type { Lease, RangeRequest, RangeResponse, StoreCommand, StoreResult, WatchEvent } from '../types.js';
import { ApplyBatch, STATE_KEY, dbSizeOf, initialState } from './apply-batch.js';
import type { CommittedView } from './apply-batch.js';
import { KeyIndex, indexDifference } from './key-index.js';
import { encodeJson } from './records.js';
import { metaKey } from './keys.js';

const SYNC_KEY = metaKey('sync');
import type { LeaseDelta, StoreState } from './apply-batch.js';
import { Compactor } from './compactor.js';
import { hashKv } from './hash-kv.js';
import {
  PREFIX_LEASE,
  PREFIX_LEASE_KEY,
  SUB_MAX,
  bytesToKeyString,
  decodeEventKey,
  decodeLeaseAttachKey,
  decodeLeaseKey,
  eventKey,
  prefixBounds,
} from './keys.js';
import { DbReader } from './kv-reader.js';
import type { Db } from './kv-reader.js';
import { checkReadRevision, executeRange, previousVersion } from './read-ops.js';
import type { ReadView } from './read-ops.js';
import { decodeEvent, decodeJson, toKeyValue, toWatchEvent } from './records.js';
import type { LeaseMeta } from './records.js';
import { SnapshotFormatError, SnapshotParser, encodeSnapshot } from './snapshot-codec.js';
import { WatchHub } from './watch-hub.js';
import type { EventChunk, WatchRequest, WatchStats, Watcher } from './watch-hub.js';

export interface MvccStoreOptions {
  dir: string;
  /** Events a watcher may have buffered before it is moved to catch up from LevelDB. */
  watchBufferEvents?: number;
  /** Watchers per store; past it, watch() throws STORE_ERR_TOO_MANY_REQUESTS. */
  maxWatchers?: number;
  /** Logical size past which puts, txns with puts and lease grants fail with STORE_ERR_NO_SPACE. */
  quotaBytes?: number;
  /** Events the physical compaction handles per LevelDB batch. */
  compactionBatchEvents?: number;
  /** Target size of a snapshot chunk. */
  snapshotChunkBytes?: number;
}

export const DEFAULT_WATCH_BUFFER_EVENTS = 1024;
export const DEFAULT_MAX_WATCHERS = 10_000;
export const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;
export const DEFAULT_COMPACTION_BATCH_EVENTS = 1000;
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Writes per LevelDB batch while restoring a snapshot. */
const RESTORE_BATCH_ENTRIES = 1000;

export interface ApplyEntry {
  index: number;
  command: StoreCommand | null;
}

/** null for an entry without a command or one already applied (nothing to answer). */
export type ApplyResult = StoreResult | StoreError | null;

export interface StoreSnapshot {
  appliedIndex: number;
  revision: number;
  /** Iterate to the end (or stop with return()): the point-in-time view is held until then. */
  chunks: AsyncIterable<Uint8Array>;
}

interface LeaseEntry {
  meta: LeaseMeta;
  keys: Map<string, Uint8Array>;
}

interface HeldView extends ReadView {
  appliedIndex: number;
  release(): Promise<void>;
}

/**
 * LevelDB settings for the state: every put writes several records (event,
 * history, latest value), so compression's CPU cost is paid many times over
 * in flushes and compactions; and a larger memtable flushes less often. (etcd's
 * bbolt does not compress either.)
 */
const STATE_DB_OPTIONS = {
  keyEncoding: 'view',
  valueEncoding: 'view',
  compression: false,
  writeBufferSize: 32 * 1024 * 1024,
} as const;

export class MvccStore {
  private state: StoreState;
  private readonly leaseTable: Map<number, LeaseEntry>;
  private readonly hub: WatchHub;
  /** What apply reads of the committed state besides LevelDB (built once). */
  private readonly committedView: CommittedView;
  /** Reads the committed LevelDB state (apply's base; no snapshot: apply is the only writer). */
  private readonly committedReader: DbReader;
  /** Set while an apply batch is being written: new reads wait for it. */
  private writing: Promise<void> | null = null;
  private applying: Promise<unknown> | null = null;
  private closed = false;

  private constructor(
    private readonly db: Db,
    state: StoreState,
    leases: Map<number, LeaseEntry>,
    private readonly index: KeyIndex,
    private readonly compactor: Compactor,
    quotaBytes: number,
    private readonly snapshotChunkBytes: number,
    hubOpts: { watchBufferEvents: number; maxWatchers: number },
  ) {
    this.state = state;
    this.leaseTable = leases;
    this.hub = new WatchHub(
      {
        currentRevision: () => this.state.revision,
        compactRevision: () => this.state.compactRevision,
        readEvents: (from, maxScan, filter, prevKv) => this.readEvents(from, maxScan, filter, prevKv),
      },
      hubOpts,
    );
    const hub = this.hub;
    this.committedView = {
      index,
      quotaBytes,
      leaseMeta: (id) => this.leaseTable.get(id)?.meta,
      wantsPrevKv: (key, keyString) => hub.wantsPrevKv(key, keyString),
    };
    this.committedReader = new DbReader(db);
  }

  static async open(opts: MvccStoreOptions): Promise<MvccStore> {
    const positive = (v: number | undefined, d: number, name: string): number => {
      const n = v ?? d;
      assert(Number.isSafeInteger(n) && n > 0, `${name} must be a positive integer`);
      return n;
    };
    const hubOpts = {
      watchBufferEvents: positive(opts.watchBufferEvents, DEFAULT_WATCH_BUFFER_EVENTS, 'watchBufferEvents'),
      maxWatchers: positive(opts.maxWatchers, DEFAULT_MAX_WATCHERS, 'maxWatchers'),
    };
    const quota = positive(opts.quotaBytes, DEFAULT_QUOTA_BYTES, 'quotaBytes');
    const chunk = positive(opts.snapshotChunkBytes, DEFAULT_SNAPSHOT_CHUNK_BYTES, 'snapshotChunkBytes');
    const batch = positive(opts.compactionBatchEvents, DEFAULT_COMPACTION_BATCH_EVENTS, 'compactionBatchEvents');
    await mkdir(opts.dir, { recursive: true });
    const db: Db = new Level<Uint8Array, Uint8Array>(opts.dir, STATE_DB_OPTIONS);
    await db.open();
    try {
      const raw = await db.get(STATE_KEY);
      const state = raw === undefined ? initialState() : decodeJson<StoreState>(raw);
      const leases = await loadLeases(db);
      assert(leases.size === state.leaseCount, 'lease table and state disagree');
      const index = await KeyIndex.load(db);
      assert(index.latestBytes() === state.latestBytes, 'key index and state disagree');
      const compactor = await Compactor.load(db, batch);
      const store = new MvccStore(db, state, leases, index, compactor, quota, chunk, hubOpts);
      compactor.schedule(state.compactRevision);
      return store;
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** Current store revision (1 on an empty store, like etcd). */
  get revision(): number {
    return this.state.revision;
  }

  get compactRevision(): number {
    return this.state.compactRevision;
  }

  /** Raft index of the last applied entry. */
  get appliedIndex(): number {
    return this.state.appliedIndex;
  }

  /**
   * Applies committed entries in log order (never concurrently with itself) as
   * ONE unsynced LevelDB batch together with the new appliedIndex. Entries at or
   * below appliedIndex are skipped (replay after a crash). Returns one result
   * per entry; semantic errors are StoreErrors in the array, not throws.
   */
  async apply(entries: ApplyEntry[]): Promise<ApplyResult[]> {
    this.assertOpen();
    assert(this.applying === null, 'apply must not run concurrently with itself');
    const run = this.applyEntries(entries);
    this.applying = run;
    try {
      return await run;
    } finally {
      this.applying = null;
    }
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    const v = await this.acquireView();
    try {
      return await executeRange(v, req);
    } finally {
      await v.release();
    }
  }

  watch(req: WatchRequest): Watcher {
    this.assertOpen();
    return this.hub.watch(req);
  }

  watchStats(): WatchStats {
    return this.hub.stats();
  }

  leases(): Lease[] {
    return [...this.leaseTable.keys()].sort((a, b) => a - b).map((id) => this.lease(id)!);
  }

  lease(id: number): Lease | undefined {
    const l = this.leaseTable.get(id);
    if (l === undefined) return undefined;
    const keys = [...l.keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, k]) => k);
    return { id, ttl: l.meta.ttl, remainingTtl: l.meta.remainingTtl, keys };
  }

  /** A point-in-time copy of everything (see snapshot-codec.ts for the format). */
  async snapshot(): Promise<StoreSnapshot> {
    const v = await this.acquireView();
    const header = { appliedIndex: v.appliedIndex, revision: v.revision };
    return { ...header, chunks: encodeSnapshot(v.reader, header, this.snapshotChunkBytes, () => v.release()) };
  }

  /**
   * Builds a store directory from snapshot chunks, replacing whatever `dir`
   * held (the store on it must be closed). Writes into a sibling directory
   * first, so a bad or truncated stream leaves `dir` untouched.
   */
  static async restore(dir: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const tmp = `${dir}.restoring`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const db: Db = new Level<Uint8Array, Uint8Array>(tmp, STATE_DB_OPTIONS);
    await db.open();
    try {
      await writeSnapshot(db, chunks);
      await db.close();
    } catch (e) {
      await db.close();
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  }

  /** Deterministic hash of the logical state at `revision` (0 = current). */
  async hashKV(revision: number): Promise<{ hash: number; compactRevision: number }> {
    const v = await this.acquireView();
    try {
      const rev = checkReadRevision(v, revision);
      return { hash: await hashKv(v.reader, rev, v.compactRevision), compactRevision: v.compactRevision };
    } finally {
      await v.release();
    }
  }

  /**
   * Consistency check (tests, debugging): rebuilds the key index from the
   * latest-value index on disk and compares it with the one apply maintains.
   * Throws an AssertionError on any difference.
   */
  async verifyKeyIndex(): Promise<void> {
    this.assertOpen();
    while (this.applying !== null) await this.applying.catch(() => undefined);
    // No batch is being written: the snapshot and the index listing are of the same state.
    const snapshot = this.db.snapshot();
    const expected = this.index.entries();
    try {
      const rebuilt = await KeyIndex.load(this.db, snapshot);
      const diff = indexDifference(rebuilt.entries(), expected);
      assert(diff === null, `key index differs from disk: ${diff}`);
    } finally {
      await snapshot.close();
    }
  }

  /** The logical size the quota applies to (deterministic, not the files on disk). */
  dbSizeBytes(): number {
    return dbSizeOf(this.state);
  }

  /**
   * Makes everything applied so far durable (apply batches are not synced):
   * one synced write flushes LevelDB's log, earlier writes included.
   * Resolves with the applied index that is now durable; the Raft log may be
   * compacted up to it.
   */
  async sync(): Promise<number> {
    this.assertOpen();
    await this.applying?.catch(() => undefined);
    // Everything written before this point is durable once it returns; a
    // marker key (not the state record) so that a racing apply cannot be undone.
    const applied = this.state.appliedIndex;
    await this.db.put(SYNC_KEY, encodeJson({ applied }), { sync: true });
    return applied;
  }

  /** Resolves once a compaction at `revision` is physically done (CompactionRequest.physical). */
  waitCompacted(revision: number): Promise<void> {
    return this.compactor.waitFor(revision);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.hub.close();
    await this.applying?.catch(() => undefined);
    await this.compactor.stop();
    await this.db.close();
  }

  private async applyEntries(entries: ApplyEntry[]): Promise<ApplyResult[]> {
    const batch = new ApplyBatch(this.committedReader, this.state, this.committedView);
    const results: ApplyResult[] = [];
    let applied = 0;
    for (const e of entries) {
      assert(Number.isSafeInteger(e.index) && e.index > 0, `bad entry index ${e.index}`);
      if (e.index <= batch.state.appliedIndex) {
        results.push(null);
        continue;
      }
      // Gaps are allowed: a founding member's log starts after its bootstrap snapshot.
      batch.state.appliedIndex = e.index;
      applied++;
      if (e.command === null) {
        results.push(null);
        continue;
      }
      const r = batch.applyCommand(e.command);
      results.push(r instanceof Promise ? await r : r);
    }
    if (applied === 0) return results;
    batch.finish();
    await this.commit(batch);
    return results;
  }

  private async commit(batch: ApplyBatch): Promise<void> {
    let done!: () => void;
    this.writing = new Promise<void>((resolve) => (done = resolve));
    try {
      if (batch.hasPrevValueLoads) await this.writeAndLoad(batch);
      else await batch.overlay.write(this.db);
      this.publish(batch);
    } finally {
      this.writing = null;
      done();
    }
  }

  /**
   * Writes the batch and, at the same time, reads the previous values its
   * answers and events want from a snapshot taken before the write.
   */
  private async writeAndLoad(batch: ApplyBatch): Promise<void> {
    const snapshot = this.db.snapshot();
    const loading = batch.loadPrevValues(new DbReader(this.db, snapshot)).finally(() => snapshot.close());
    const [written, loaded] = await Promise.allSettled([batch.overlay.write(this.db), loading]);
    if (written.status === 'rejected') throw written.reason;
    if (loaded.status === 'rejected') throw loaded.reason;
  }

  /** Synchronous: readers, watchers and the compactor see the new state at once. */
  private publish(batch: ApplyBatch): void {
    const compactMoved = batch.state.compactRevision !== this.state.compactRevision;
    assert(batch.state.revision >= this.state.revision, 'revision went backwards');
    this.state = batch.state;
    batch.applyTo(this.index);
    for (const d of batch.leaseDeltas) this.applyLeaseDelta(d);
    assert(this.leaseTable.size === this.state.leaseCount, 'lease count drifted');
    this.hub.publish(batch.events, this.state.revision, batch.prevKvMissing);
    if (compactMoved) this.compactor.schedule(this.state.compactRevision);
  }

  private applyLeaseDelta(d: LeaseDelta): void {
    switch (d.kind) {
      case 'grant':
        this.leaseTable.set(d.id, { meta: d.meta, keys: new Map() });
        return;
      case 'revoke':
        this.leaseTable.delete(d.id);
        return;
      case 'checkpoint':
        this.leaseTable.get(d.id)!.meta = d.meta;
        return;
      case 'attach': {
        const l = this.leaseTable.get(d.id);
        assert(l !== undefined, 'attach to an unknown lease');
        l.keys.set(bytesToKeyString(d.key), d.key); // a compact copy (see RevisionWriter.moveLease)
        return;
      }
      case 'detach':
        this.leaseTable.get(d.id)?.keys.delete(bytesToKeyString(d.key));
        return;
    }
  }

  /** A snapshot consistent with the published state (never taken while a batch is being written). */
  private async acquireView(): Promise<HeldView> {
    for (;;) {
      if (this.closed) throw new StoreError('STORE_ERR_STOPPED');
      if (this.writing === null) break;
      await this.writing;
    }
    const snapshot = this.db.snapshot();
    return {
      reader: new DbReader(this.db, snapshot),
      revision: this.state.revision,
      compactRevision: this.state.compactRevision,
      appliedIndex: this.state.appliedIndex,
      release: () => snapshot.close(),
    };
  }

  /** The watch hub's catch-up read: a bounded scan of the event log. */
  private async readEvents(
    from: number,
    maxScanEvents: number,
    filter: (ev: WatchEvent) => boolean,
    withPrevKv: boolean,
  ): Promise<EventChunk> {
    const v = await this.acquireView();
    try {
      if (from < v.compactRevision) return { kind: 'compacted', compactRevision: v.compactRevision };
      if (from > v.revision) return { kind: 'events', events: [], throughRevision: v.revision };
      const found: { ev: WatchEvent; sub: number }[] = [];
      let scanned = 0;
      let lastRev = from - 1;
      let through = v.revision;
      for await (const [k, val] of v.reader.iterate({ gte: eventKey(from, 0), lte: eventKey(v.revision, SUB_MAX) })) {
        const { rev, sub } = decodeEventKey(k);
        if (scanned >= maxScanEvents && rev !== lastRev) {
          through = lastRev; // stop at a revision boundary: batches never split a revision
          break;
        }
        scanned++;
        lastRev = rev;
        const ev = toWatchEvent(decodeEvent(rev, sub, val), null);
        if (filter(ev)) found.push({ ev, sub });
      }
      if (withPrevKv) {
        for (const f of found) {
          const prev = await previousVersion(v.reader, f.ev.kv.key, f.ev.kv.modRevision, f.sub);
          f.ev.prevKv = prev === null ? null : toKeyValue(prev);
        }
      }
      return { kind: 'events', events: found.map((f) => f.ev), throughRevision: through };
    } finally {
      await v.release();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('STORE_ERR_STOPPED');
  }
}

async function loadLeases(db: Db): Promise<Map<number, LeaseEntry>> {
  const leases = new Map<number, LeaseEntry>();
  for await (const [k, v] of db.iterator(prefixBounds(PREFIX_LEASE))) {
    leases.set(decodeLeaseKey(k), { meta: decodeJson<LeaseMeta>(v), keys: new Map() });
  }
  for await (const k of db.keys(prefixBounds(PREFIX_LEASE_KEY))) {
    const { id, key } = decodeLeaseAttachKey(k);
    const l = leases.get(id);
    assert(l !== undefined, `key attached to unknown lease ${id}`);
    l.keys.set(bytesToKeyString(key), new Uint8Array(key));
  }
  return leases;
}

async function writeSnapshot(db: Db, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const parser = new SnapshotParser();
  let ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
  for await (const chunk of chunks) {
    for (const [key, value] of parser.push(chunk)) {
      ops.push({ type: 'put', key, value });
      if (ops.length >= RESTORE_BATCH_ENTRIES) {
        await db.batch(ops);
        ops = [];
      }
    }
  }
  const header = parser.end();
  if (ops.length > 0) await db.batch(ops);
  const raw = await db.get(STATE_KEY);
  const state = raw === undefined ? initialState() : decodeJson<StoreState>(raw);
  if (state.appliedIndex !== header.appliedIndex || state.revision !== header.revision) {
    throw new SnapshotFormatError('snapshot header disagrees with its state record');
  }
}
