/**
 * The watch hub: fans events out to watchers, etcd's synced/unsynced split.
 *
 * - A synced watcher is at the head: `publish` (called synchronously right
 *   after an apply batch is written and the store's revision moved) appends
 *   its matching events to its buffer.
 * - A watcher whose buffer would exceed `watchBufferEvents` is moved to the
 *   unsynced set with `nextRevision` = the first revision it did not get. A
 *   single catch-up worker reads the event log for unsynced watchers in
 *   bounded chunks (one at a time, round-robin, only into buffers with room),
 *   and when a chunk reaches the store's revision — checked synchronously, so
 *   no publish can fall in between — the watcher rejoins the synced set. Hence
 *   no gap and no duplicate, and a slow consumer never blocks applies or other
 *   watchers.
 * - A watcher starting in the past starts unsynced; from 0 or the future, synced.
 * - prevKv: apply loads the previous value of a change only if `wantsPrevKv`
 *   says some watcher (synced or not) may want it. A watcher that wants one
 *   that was not loaded (it started while the batch was being applied) is
 *   moved to the unsynced set from that event's revision, as if its buffer
 *   were full, and reads it from the event log: late, never missing.
 *
 * Every batch carries `revision`: every matching event at or below it has been
 * delivered (progress batches have no events). A compacted watcher gets one
 * final batch with `compactRevision` set and then `next()` yields null.
 */
import { assert } from '../../util/assert.js';
import { StoreError } from '../errors.js';
import { EventType } from '../types.js';
import type { WatchEvent } from '../types.js';
import { bytesToKeyString, rangeContains, toKeyRange } from './keys.js';
import type { KeyRange } from './keys.js';

export interface WatchRequest {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  /** First revision wanted; 0 = from the store revision + 1. */
  startRevision: number;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
}

export interface WatchBatch {
  events: WatchEvent[];
  /** Every matching event at or below this revision has been delivered. */
  revision: number;
  /** Non-zero only on the final batch of a watcher whose start was compacted away. */
  compactRevision: number;
}

export interface Watcher {
  readonly id: number;
  /** The next batch, in revision order; null once cancelled, closed or after the compacted batch. */
  next(): Promise<WatchBatch | null>;
  cancel(): void;
  /** Ask for a batch with no events and the current revision (sent once the watcher is synced). */
  progress(): void;
}

export type EventChunk =
  | { kind: 'events'; events: WatchEvent[]; throughRevision: number }
  | { kind: 'compacted'; compactRevision: number };

/** What the hub needs from the store (an interface, so that tests may stub it). */
export interface WatchEventSource {
  currentRevision(): number;
  compactRevision(): number;
  /**
   * Events from `fromRevision` on, scanning at most about `maxScanEvents`
   * events (whole revisions), keeping those `filter` accepts, with prevKv if asked.
   */
  readEvents(
    fromRevision: number,
    maxScanEvents: number,
    filter: (ev: WatchEvent) => boolean,
    withPrevKv: boolean,
  ): Promise<EventChunk>;
}

export interface WatchStats {
  watchers: number;
  synced: number;
  unsynced: number;
}

export interface WatchHubOptions {
  watchBufferEvents: number;
  maxWatchers: number;
}

class WatcherImpl implements Watcher {
  readonly range: KeyRange;
  synced = false;
  /** Synced: events below it are not for this watcher. Unsynced: the first revision not delivered. */
  nextRevision: number;
  bufferedEvents = 0;
  private readonly buffer: WatchBatch[] = [];
  private waiter: ((b: WatchBatch | null) => void) | null = null;
  private failWaiter: ((e: unknown) => void) | null = null;
  private failure: unknown = null;
  ended = false;
  progressWanted = false;
  /** Counted in the hub's prevKv interest (registered at most once, removed once). */
  prevKvInterest = false;

  constructor(
    readonly id: number,
    readonly req: WatchRequest,
    nextRevision: number,
    private readonly hub: WatchHub,
  ) {
    this.range = toKeyRange(req.key, req.rangeEnd);
    this.nextRevision = nextRevision;
  }

  matches(ev: WatchEvent): boolean {
    if (ev.type === EventType.Put ? this.req.noPut : this.req.noDelete) return false;
    return rangeContains(this.range, ev.kv.key);
  }

  next(): Promise<WatchBatch | null> {
    assert(this.waiter === null, 'one next() at a time per watcher');
    if (this.failure !== null) return Promise.reject(this.failure);
    const b = this.buffer.shift();
    if (b !== undefined) {
      this.bufferedEvents -= b.events.length;
      if (!this.synced) this.hub.wake();
      return Promise.resolve(b);
    }
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  cancel(): void {
    if (this.ended && this.buffer.length === 0) return;
    this.buffer.length = 0;
    this.bufferedEvents = 0;
    this.end();
  }

  progress(): void {
    if (this.ended) return;
    if (this.synced) this.pushProgress(this.hub.source.currentRevision());
    else this.progressWanted = true;
  }

  push(b: WatchBatch): void {
    assert(!this.ended, 'push to an ended watcher');
    if (this.waiter !== null) return this.handOver(b);
    this.buffer.push(b);
    this.bufferedEvents += b.events.length;
  }

  pushProgress(revision: number): void {
    const last = this.buffer[this.buffer.length - 1];
    // Coalesce: one pending progress batch is enough, so requests cannot grow the buffer.
    if (last !== undefined && last.events.length === 0 && last.compactRevision === 0) last.revision = revision;
    else this.push({ events: [], revision, compactRevision: 0 });
  }

  /** Ends the watcher; buffered batches stay readable (cancel() drops them first). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.hub.remove(this);
    if (this.waiter !== null && this.buffer.length === 0) this.handOver(null);
  }

  fail(e: unknown): void {
    this.failure = e;
    const reject = this.failWaiter;
    this.waiter = null;
    this.failWaiter = null;
    this.end();
    reject?.(e);
  }

  private handOver(b: WatchBatch | null): void {
    const resolve = this.waiter!;
    this.waiter = null;
    this.failWaiter = null;
    resolve(b);
  }
}

export class WatchHub {
  private nextId = 1;
  private readonly all = new Set<WatcherImpl>();
  /** Synced single-key watchers by key (latin1), and synced range watchers. */
  private readonly syncedByKey = new Map<string, Set<WatcherImpl>>();
  private readonly syncedRanges = new Set<WatcherImpl>();
  private readonly unsynced: WatcherImpl[] = [];
  /** Watchers (synced or not) that want prevKv: single keys (count per key) and ranges. */
  private readonly prevKvKeys = new Map<string, number>();
  private readonly prevKvRanges = new Set<WatcherImpl>();
  private worker: Promise<void> | null = null;
  private wakeWorker: (() => void) | null = null;
  private closed = false;

  constructor(
    readonly source: WatchEventSource,
    private readonly opts: WatchHubOptions,
  ) {
    assert(opts.watchBufferEvents > 0 && opts.maxWatchers > 0, 'watch limits must be positive');
  }

  /** Counts for metrics: every watcher, and how many are at the head or catching up. */
  stats(): WatchStats {
    return { watchers: this.all.size, synced: this.all.size - this.unsynced.length, unsynced: this.unsynced.length };
  }

  watch(req: WatchRequest): Watcher {
    assert(!this.closed, 'watch on a closed hub');
    if (this.all.size >= this.opts.maxWatchers) {
      throw new StoreError('STORE_ERR_TOO_MANY_REQUESTS', `watcher limit ${this.opts.maxWatchers} reached`);
    }
    const current = this.source.currentRevision();
    const compact = this.source.compactRevision();
    const synced = req.startRevision <= 0 || req.startRevision > current;
    const w = new WatcherImpl(this.nextId++, req, synced ? Math.max(current + 1, req.startRevision) : req.startRevision, this);
    this.all.add(w);
    if (req.startRevision > 0 && req.startRevision < compact) {
      w.push({ events: [], revision: current, compactRevision: compact });
      w.end();
    } else if (synced) {
      this.addInterest(w);
      this.addSynced(w);
    } else {
      this.addInterest(w);
      this.unsynced.push(w);
      this.wake();
    }
    return w;
  }

  /**
   * Whether some watcher may want the previous version of `key` (its latin1
   * string `keyString`) with its event. May over-approximate (it ignores
   * noPut/noDelete and start revisions); must not under-approximate for a
   * watcher that exists when it is asked.
   */
  wantsPrevKv(key: Uint8Array, keyString: string): boolean {
    if (this.prevKvKeys.size === 0 && this.prevKvRanges.size === 0) return false;
    if (this.prevKvKeys.has(keyString)) return true;
    for (const w of this.prevKvRanges) if (rangeContains(w.range, key)) return true;
    return false;
  }

  /**
   * Fans out the events of one written apply batch (in revision order), with
   * `revision` the store revision after it. Synchronous by contract.
   * `prevKvMissing`: events whose prevKv was not loaded (see `wantsPrevKv`).
   */
  publish(events: WatchEvent[], revision: number, prevKvMissing: ReadonlySet<WatchEvent> | null = null): void {
    if (events.length === 0 || (this.syncedByKey.size === 0 && this.syncedRanges.size === 0)) return;
    const matched = new Map<WatcherImpl, WatchEvent[]>();
    for (const ev of events) {
      if (this.syncedByKey.size > 0) {
        const byKey = this.syncedByKey.get(bytesToKeyString(ev.kv.key));
        if (byKey !== undefined) for (const w of byKey) addMatch(matched, w, ev);
      }
      for (const w of this.syncedRanges) addMatch(matched, w, ev);
    }
    for (const [w, list] of matched) {
      if (w.req.prevKv && prevKvMissing !== null && list.some((ev) => prevKvMissing.has(ev))) {
        this.desync(w, list[0]!.kv.modRevision);
      } else {
        this.deliver(w, list, revision);
      }
    }
  }

  /** Ends every watcher and stops the catch-up worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.all]) w.end();
    this.wake();
    await this.worker;
  }

  remove(w: WatcherImpl): void {
    this.all.delete(w);
    this.removeInterest(w);
    this.removeSynced(w);
    const i = this.unsynced.indexOf(w);
    if (i >= 0) this.unsynced.splice(i, 1);
  }

  /** Something changed for the catch-up worker (a new unsynced watcher, a drained buffer). */
  wake(): void {
    if (this.wakeWorker !== null) {
      const f = this.wakeWorker;
      this.wakeWorker = null;
      f();
    }
    if (this.worker === null && !this.closed && this.unsynced.length > 0) {
      this.worker = this.catchUpLoop().finally(() => (this.worker = null));
    }
  }

  private deliver(w: WatcherImpl, events: WatchEvent[], revision: number): void {
    const limit = this.opts.watchBufferEvents;
    if (w.bufferedEvents > 0 && w.bufferedEvents + events.length > limit) {
      // Too slow: drop these and catch up from the event log from their first revision.
      this.desync(w, events[0]!.kv.modRevision);
      return;
    }
    w.push({ events: events.map((ev) => forWatcher(w, ev)), revision, compactRevision: 0 });
  }

  /** Moves a synced watcher to the unsynced set: it reads from `fromRevision` on from the event log. */
  private desync(w: WatcherImpl, fromRevision: number): void {
    assert(fromRevision >= w.nextRevision, 'desync would skip backwards');
    this.removeSynced(w);
    w.synced = false;
    w.nextRevision = fromRevision;
    this.unsynced.push(w);
    this.wake();
  }

  private addInterest(w: WatcherImpl): void {
    if (!w.req.prevKv) return;
    w.prevKvInterest = true;
    if (w.range.single) {
      const k = bytesToKeyString(w.range.start);
      this.prevKvKeys.set(k, (this.prevKvKeys.get(k) ?? 0) + 1);
    } else {
      this.prevKvRanges.add(w);
    }
  }

  private removeInterest(w: WatcherImpl): void {
    if (!w.prevKvInterest) return;
    w.prevKvInterest = false;
    if (w.range.single) {
      const k = bytesToKeyString(w.range.start);
      const n = this.prevKvKeys.get(k) ?? 0;
      assert(n > 0, 'prevKv interest out of sync');
      if (n === 1) this.prevKvKeys.delete(k);
      else this.prevKvKeys.set(k, n - 1);
    } else {
      this.prevKvRanges.delete(w);
    }
  }

  private addSynced(w: WatcherImpl): void {
    w.synced = true;
    if (w.range.single) {
      const k = bytesToKeyString(w.range.start);
      let set = this.syncedByKey.get(k);
      if (set === undefined) this.syncedByKey.set(k, (set = new Set()));
      set.add(w);
    } else {
      this.syncedRanges.add(w);
    }
    if (w.progressWanted) {
      w.progressWanted = false;
      w.pushProgress(this.source.currentRevision());
    }
  }

  private removeSynced(w: WatcherImpl): void {
    if (!w.synced) return;
    if (w.range.single) {
      const k = bytesToKeyString(w.range.start);
      const set = this.syncedByKey.get(k);
      set?.delete(w);
      if (set?.size === 0) this.syncedByKey.delete(k);
    } else {
      this.syncedRanges.delete(w);
    }
  }

  /** An unsynced watcher whose buffer is at most half full, round-robin. */
  private pickUnsynced(): WatcherImpl | undefined {
    const half = Math.floor(this.opts.watchBufferEvents / 2);
    for (let i = 0; i < this.unsynced.length; i++) {
      const w = this.unsynced.shift()!;
      this.unsynced.push(w);
      if (w.bufferedEvents <= half) return w;
    }
    return undefined;
  }

  private async catchUpLoop(): Promise<void> {
    while (!this.closed && this.unsynced.length > 0) {
      const w = this.pickUnsynced();
      if (w === undefined) {
        await new Promise<void>((resolve) => (this.wakeWorker = resolve));
        continue;
      }
      const from = w.nextRevision;
      const maxScan = Math.max(1, Math.floor(this.opts.watchBufferEvents / 2));
      let chunk: EventChunk;
      try {
        chunk = await this.source.readEvents(from, maxScan, (ev) => w.matches(ev), w.req.prevKv);
      } catch (e) {
        if (!this.closed && !w.ended) w.fail(e);
        continue;
      }
      if (!w.ended && !w.synced && w.nextRevision === from) this.applyChunk(w, chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Synchronous: the caught-up check and the rejoin happen with no publish in between. */
  private applyChunk(w: WatcherImpl, chunk: EventChunk): void {
    if (chunk.kind === 'compacted') {
      w.push({ events: [], revision: this.source.currentRevision(), compactRevision: chunk.compactRevision });
      w.end();
      return;
    }
    assert(chunk.throughRevision >= w.nextRevision - 1, 'catch-up went backwards');
    if (chunk.events.length > 0) w.push({ events: chunk.events, revision: chunk.throughRevision, compactRevision: 0 });
    w.nextRevision = chunk.throughRevision + 1;
    if (chunk.throughRevision >= this.source.currentRevision()) {
      this.unsynced.splice(this.unsynced.indexOf(w), 1);
      this.addSynced(w);
    }
  }
}

/** Adds `ev` to what `w` gets from this publish, if it is for `w` (a plain function: no closure per publish). */
function addMatch(matched: Map<WatcherImpl, WatchEvent[]>, w: WatcherImpl, ev: WatchEvent): void {
  if (ev.kv.modRevision < w.nextRevision || !w.matches(ev)) return;
  const list = matched.get(w);
  if (list === undefined) matched.set(w, [ev]);
  else list.push(ev);
}

/** Events are shared between watchers; a watcher without prevKv gets a copy without it. */
function forWatcher(w: WatcherImpl, ev: WatchEvent): WatchEvent {
  return w.req.prevKv || ev.prevKv === null ? ev : { type: ev.type, kv: ev.kv, prevKv: null };
}
