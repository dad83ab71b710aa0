/**
 * Physical compaction: deletes what a logical compaction made unreadable, in
 * the background, in bounded batches, without blocking applies.
 *
 * A pass for target T walks the event log from the previous pass's target up
 * to T. For each event E of key K at (rev, sub) ≤ T:
 *  1. every older version of K is superseded by E: its history entry and its
 *     event go (the event stays if its revision is exactly T: a watch may start
 *     at the compact revision, as in etcd, and must see every event of it);
 *  2. if E is a deletion, its history entry goes too (and its event, below T);
 *  3. at the pass start (the previous T), events kept only for such watchers
 *     and no longer in the history index go now.
 * Only entries that no read at a revision ≥ T can return are deleted, so reads
 * and watchers never race with it. Applies only write revisions above T.
 * Progress (a cursor) is persisted with every batch; a restart resumes it.
 */
import { assert } from '../../util/assert.js';
import { EventType } from '../types.js';
import {
  SUB_MAX,
  bytesToKeyString,
  decodeEventKey,
  decodeHistoryKey,
  eventKey,
  historyKey,
  historyKeyStart,
  metaKey,
  reclaimKey,
} from './keys.js';
import type { Db } from './kv-reader.js';
import { decodeEvent, decodeJson, encodeJson } from './records.js';

export const COMPACTOR_KEY = metaKey('compactor');

export interface CompactorProgress {
  /** Everything made unreadable by a compaction at this revision is gone. */
  doneRevision: number;
  /** Target of the pass under way (0: none). A pass keeps its target to the end. */
  passTarget: number;
  cursorRev: number;
  cursorSub: number;
}

type Op = { type: 'del'; key: Uint8Array } | { type: 'put'; key: Uint8Array; value: Uint8Array };

export class Compactor {
  private target = 0;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private failure: unknown = null;
  private waiters: { revision: number; resolve: () => void; reject: (e: unknown) => void }[] = [];

  private constructor(
    private readonly db: Db,
    private progress: CompactorProgress,
    private readonly batchEvents: number,
  ) {
    assert(batchEvents > 0, 'compaction batch must be positive');
  }

  static async load(db: Db, batchEvents: number): Promise<Compactor> {
    const v = await db.get(COMPACTOR_KEY);
    const progress: CompactorProgress =
      v === undefined ? { doneRevision: 0, passTarget: 0, cursorRev: 0, cursorSub: 0 } : decodeJson(v);
    return new Compactor(db, progress, batchEvents);
  }

  get doneRevision(): number {
    return this.progress.doneRevision;
  }

  /** The logical compact revision moved to `target` (called after the apply batch is written). */
  schedule(target: number): void {
    this.target = Math.max(this.target, target);
    this.failure = null;
    if (this.loop === null && !this.stopped && this.target > this.progress.doneRevision) {
      this.loop = this.run().finally(() => (this.loop = null));
    }
  }

  /** Resolves once a compaction at `revision` is physically done. */
  waitFor(revision: number): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.progress.doneRevision >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    const err = new Error('store closed before the compaction finished');
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped && this.target > this.progress.doneRevision) {
        if (this.progress.passTarget === 0) {
          const start = this.progress.doneRevision;
          this.progress = { doneRevision: start, passTarget: this.target, cursorRev: start, cursorSub: 0 };
        }
        await this.step();
        this.wakeWaiters();
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      if (this.stopped) return; // the database closed under the last step; resumed on reopen
      // A LevelDB error: waiters learn of it; the next schedule() retries from the persisted cursor.
      this.failure = e;
      for (const w of this.waiters.splice(0)) w.reject(e);
    }
  }

  private wakeWaiters(): void {
    const done = this.progress.doneRevision;
    this.waiters = this.waiters.filter((w) => (w.revision <= done ? (w.resolve(), false) : true));
  }

  /** One bounded batch of the pass, written atomically with the new cursor. */
  private async step(): Promise<void> {
    const p = this.progress;
    const target = p.passTarget;
    const entries = await this.db.iterator({
      gte: eventKey(p.cursorRev, p.cursorSub),
      lte: eventKey(target, SUB_MAX),
      limit: this.batchEvents,
    }).all();
    const ops: Op[] = [];
    const seen = new Map<string, { rev: number; sub: number }>();
    for (const [k, v] of entries) await this.compactEvent(k, v, seen, ops);
    for (const rev of new Set(entries.map(([k]) => decodeEventKey(k).rev))) {
      if (rev < target) ops.push({ type: 'del', key: reclaimKey(rev) });
    }
    let next: CompactorProgress;
    if (entries.length < this.batchEvents) {
      ops.push({ type: 'del', key: reclaimKey(target) });
      next = { doneRevision: target, passTarget: 0, cursorRev: 0, cursorSub: 0 };
    } else {
      const last = decodeEventKey(entries[entries.length - 1]![0]);
      assert(last.sub < SUB_MAX, 'sub-revision overflow');
      next = { ...p, cursorRev: last.rev, cursorSub: last.sub + 1 };
    }
    ops.push({ type: 'put', key: COMPACTOR_KEY, value: encodeJson(next) });
    await this.db.batch(ops);
    this.progress = next;
  }

  private async compactEvent(
    k: Uint8Array,
    v: Uint8Array,
    seen: Map<string, { rev: number; sub: number }>,
    ops: Op[],
  ): Promise<void> {
    const { passTarget: target, doneRevision: passStart } = this.progress;
    const { rev, sub } = decodeEventKey(k);
    assert(rev <= target, 'compacting above the target');
    const ev = decodeEvent(rev, sub, v);
    const key = ev.record.key;
    const ks = bytesToKeyString(key);
    const earlier = seen.get(ks);
    seen.set(ks, { rev, sub });
    if (earlier !== undefined) {
      // Older versions were already queued for deletion when `earlier` was processed.
      this.dropVersion(key, earlier.rev, earlier.sub, target, ops);
    } else {
      for await (const hk of this.db.keys({ gte: historyKeyStart(key), lt: historyKey(key, rev, sub) })) {
        const h = decodeHistoryKey(hk);
        this.dropVersion(key, h.rev, h.sub, target, ops);
      }
    }
    if (ev.type === EventType.Delete) {
      this.dropVersion(key, rev, sub, target, ops);
      return;
    }
    if (rev === passStart && rev < target && (await this.db.get(historyKey(key, rev, sub))) === undefined) {
      ops.push({ type: 'del', key: k });
    }
  }

  private dropVersion(key: Uint8Array, rev: number, sub: number, target: number, ops: Op[]): void {
    ops.push({ type: 'del', key: historyKey(key, rev, sub) });
    if (rev < target) ops.push({ type: 'del', key: eventKey(rev, sub) });
  }
}
