/**
 * A disk that knows the difference between written and synced. Writes are
 * atomic batches (like a LevelDB write batch) that sit in the "page cache"
 * until sync(); a crash keeps a random prefix of the unsynced batches (the
 * kernel may or may not have flushed them) and loses the rest.
 */
import type { Entry, HardState, Snapshot } from '../raft/index.js';
import { assert } from '../util/assert.js';
import type { Prng } from '../util/prng.js';

export interface WriteBatch {
  hardState: HardState | null;
  /** Appended after dropping any stored entries at or after entries[0].index. */
  entries: Entry[];
  /** A snapshot to store; with discardLog the whole log is replaced (one received from the leader). */
  snapshot: Snapshot | null;
  discardLog: boolean;
}

export interface DiskImage {
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export class SimDisk {
  private image: DiskImage = { hardState: null, snapshot: null, entries: [] };
  private pending: WriteBatch[] = [];
  writes = 0;
  syncs = 0;

  write(b: WriteBatch): void {
    this.pending.push(b);
    this.writes++;
  }

  get unsyncedBatches(): number {
    return this.pending.length;
  }

  /** Makes every written batch durable. */
  sync(): void {
    for (const b of this.pending) applyBatch(this.image, b);
    this.pending = [];
    this.syncs++;
  }

  /** A power failure: a random prefix of the unsynced batches survives. */
  crash(rng: Prng, surviveChance: number): number {
    let kept = 0;
    for (const b of this.pending) {
      if (!rng.chance(surviveChance)) break;
      applyBatch(this.image, b);
      kept++;
    }
    this.pending = [];
    return kept;
  }

  /** What a restarting process reads back. */
  load(): DiskImage {
    return { hardState: this.image.hardState, snapshot: this.image.snapshot, entries: this.image.entries.slice() };
  }
}

function applyBatch(img: DiskImage, b: WriteBatch): void {
  if (b.snapshot) {
    const cur = img.snapshot?.metadata.index ?? 0;
    if (b.snapshot.metadata.index > cur) {
      img.snapshot = b.snapshot;
      const idx = b.snapshot.metadata.index;
      img.entries = b.discardLog ? [] : img.entries.filter((e) => e.index > idx);
    }
  }
  if (b.entries.length > 0) {
    const first = b.entries[0]!.index;
    const snapIndex = img.snapshot?.metadata.index ?? 0;
    const last = img.entries.length > 0 ? img.entries[img.entries.length - 1]!.index : snapIndex;
    assert(first <= last + 1, `disk: gap before entry ${first} (last stored ${last})`);
    if (first <= last) img.entries = img.entries.filter((e) => e.index < first);
    for (const e of b.entries) if (e.index > snapIndex) img.entries.push(e);
  }
  if (b.hardState) img.hardState = { ...b.hardState };
}
