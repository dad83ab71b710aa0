/**
 * Reading LevelDB through an optional explicit snapshot, and the write overlay
 * that lets one apply batch read its own not-yet-written writes.
 *
 * Contract: `apply` executes every entry of a batch against an OverlayReader
 * (pending writes layered over LevelDB) and then writes the overlay as ONE
 * LevelDB batch. Readers outside apply use a DbReader over an explicit
 * snapshot, so that every read of one request sees one point in time.
 */
import type { Level } from 'level';
import { assert } from '../../util/assert.js';
import { bytesToKeyString, keyStringToBytes } from './keys.js';

export type Db = Level<Uint8Array, Uint8Array>;
export type DbSnapshot = ReturnType<Db['snapshot']>;

export interface IterRange {
  gte?: Uint8Array;
  gt?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  reverse?: boolean;
  /** Stop after this many entries (undefined = no limit). */
  limit?: number;
  /** false: values are returned empty (cheaper for counting). */
  values?: boolean;
}

export type Entry = [key: Uint8Array, value: Uint8Array];

export interface KvReader {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  iterate(range: IterRange): AsyncGenerator<Entry>;
}

const EMPTY = new Uint8Array(0);
/** Entries fetched from LevelDB per native call while iterating. */
const ITERATOR_CHUNK_ENTRIES = 256;

export class DbReader implements KvReader {
  constructor(
    private readonly db: Db,
    private readonly snapshot?: DbSnapshot,
  ) {}

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.db.get(key, { snapshot: this.snapshot })) ?? undefined;
  }

  async getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.db.getMany(keys, { snapshot: this.snapshot });
    return values.map((v) => v ?? undefined);
  }

  async *iterate(range: IterRange): AsyncGenerator<Entry> {
    const wantValues = range.values !== false;
    const it = this.db.iterator({
      ...boundsOf(range),
      reverse: range.reverse === true,
      limit: range.limit ?? -1,
      values: wantValues,
      snapshot: this.snapshot,
    });
    try {
      for (;;) {
        const chunk = await it.nextv(ITERATOR_CHUNK_ENTRIES);
        if (chunk.length === 0) return;
        for (const [k, v] of chunk) yield [k, wantValues ? v : EMPTY];
      }
    } finally {
      await it.close();
    }
  }
}

function boundsOf(r: IterRange): Pick<IterRange, 'gte' | 'gt' | 'lt' | 'lte'> {
  const out: Pick<IterRange, 'gte' | 'gt' | 'lt' | 'lte'> = {};
  if (r.gte !== undefined) out.gte = r.gte;
  if (r.gt !== undefined) out.gt = r.gt;
  if (r.lt !== undefined) out.lt = r.lt;
  if (r.lte !== undefined) out.lte = r.lte;
  return out;
}

/**
 * Pending writes of one apply batch: an append-only log of puts and deletes,
 * written to LevelDB in order as one batch (a later write of a key wins, as
 * in LevelDB's own WriteBatch), with savepoints so that a failing entry
 * leaves nothing behind. Memory is proportional to the batch being applied.
 *
 * Appending costs two array pushes: most batches are never read back, since
 * apply decides from the key index. The read index (latin1 key → its last
 * write, and the distinct keys sorted) is built on the first read and kept up
 * to date lazily from then on.
 */
export class WriteOverlay {
  private readonly keys: Uint8Array[] = [];
  /** null marks a deletion. */
  private readonly values: (Uint8Array | null)[] = [];
  private readonly positions = new Map<string, number>();
  private sorted: string[] = [];
  /** The read index covers keys[0, indexed). */
  private indexed = 0;

  /** Writes staged (a key written twice counts twice). */
  get size(): number {
    return this.keys.length;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.keys.push(key);
    this.values.push(value);
  }

  del(key: Uint8Array): void {
    this.keys.push(key);
    this.values.push(null);
  }

  /** undefined: not in the overlay; null: deleted in the overlay. */
  lookup(key: Uint8Array): Uint8Array | null | undefined {
    this.catchUp();
    const i = this.positions.get(bytesToKeyString(key));
    return i === undefined ? undefined : this.values[i];
  }

  savepoint(): number {
    return this.keys.length;
  }

  rollback(savepoint: number): void {
    assert(savepoint <= this.keys.length, 'rollback past the write log');
    this.keys.length = savepoint;
    this.values.length = savepoint;
    if (this.indexed > savepoint) {
      // Rare (a failing command after a read in the same batch): rebuild on the next read.
      this.positions.clear();
      this.sorted = [];
      this.indexed = 0;
    }
  }

  /** Writes everything as ONE LevelDB batch, in order. */
  async write(db: Db): Promise<void> {
    const batch = db.batch();
    try {
      for (let i = 0; i < this.keys.length; i++) {
        const v = this.values[i]!;
        if (v === null) batch.del(this.keys[i]!);
        else batch.put(this.keys[i]!, v);
      }
    } catch (e) {
      await batch.close();
      throw e;
    }
    await batch.write();
  }

  /** Index range [from, to) of sorted keys inside the bounds. */
  slice(r: IterRange): [number, number] {
    this.catchUp();
    let from = 0;
    let to = this.sorted.length;
    if (r.gte !== undefined) from = this.lowerBound(bytesToKeyString(r.gte));
    if (r.gt !== undefined) from = this.upperBound(bytesToKeyString(r.gt));
    if (r.lt !== undefined) to = this.lowerBound(bytesToKeyString(r.lt));
    if (r.lte !== undefined) to = this.upperBound(bytesToKeyString(r.lte));
    return [from, Math.max(from, to)];
  }

  keyAt(i: number): string {
    return this.sorted[i]!;
  }

  valueAt(i: number): Uint8Array | null {
    const at = this.positions.get(this.sorted[i]!);
    assert(at !== undefined, 'overlay index out of sync');
    return this.values[at]!;
  }

  private catchUp(): void {
    for (; this.indexed < this.keys.length; this.indexed++) {
      const k = bytesToKeyString(this.keys[this.indexed]!);
      if (!this.positions.has(k)) this.sorted.splice(this.lowerBound(k), 0, k);
      this.positions.set(k, this.indexed);
    }
  }

  /** First index whose key is ≥ k. */
  private lowerBound(k: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose key is > k. */
  private upperBound(k: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The overlay's pending writes merged over a base reader. Callers must not
 * write to the overlay while one of its iterators is open (apply collects,
 * then writes).
 */
export class OverlayReader implements KvReader {
  constructor(
    private readonly overlay: WriteOverlay,
    private readonly base: KvReader,
  ) {}

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const v = this.overlay.lookup(key);
    if (v === null) return undefined;
    if (v !== undefined) return v;
    return this.base.get(key);
  }

  async getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array(keys.length);
    const missIdx: number[] = [];
    keys.forEach((k, i) => {
      const v = this.overlay.lookup(k);
      if (v === undefined) missIdx.push(i);
      else out[i] = v ?? undefined;
    });
    const fetched = await this.base.getMany(missIdx.map((i) => keys[i]!));
    missIdx.forEach((i, j) => (out[i] = fetched[j]));
    return out;
  }

  async *iterate(range: IterRange): AsyncGenerator<Entry> {
    const [from, to] = this.overlay.slice(range);
    const reverse = range.reverse === true;
    const step = reverse ? -1 : 1;
    let i = reverse ? to - 1 : from;
    const inSlice = (): boolean => i >= from && i < to;
    const before = (a: string, b: string): boolean => (reverse ? a > b : a < b);
    const limit = range.limit ?? Infinity;
    let emitted = 0;
    const baseRange: IterRange = { ...range };
    delete baseRange.limit;
    for await (const [k, v] of this.base.iterate(baseRange)) {
      const ks = bytesToKeyString(k);
      while (inSlice() && before(this.overlay.keyAt(i), ks)) {
        const ov = this.overlay.valueAt(i);
        const ok = this.overlay.keyAt(i);
        i += step;
        if (ov === null) continue;
        yield [keyStringToBytes(ok), ov];
        if (++emitted >= limit) return;
      }
      if (inSlice() && this.overlay.keyAt(i) === ks) {
        const ov = this.overlay.valueAt(i);
        i += step;
        if (ov === null) continue;
        yield [k, ov];
      } else {
        yield [k, v];
      }
      if (++emitted >= limit) return;
    }
    for (; inSlice(); i += step) {
      const ov = this.overlay.valueAt(i);
      if (ov === null) continue;
      yield [keyStringToBytes(this.overlay.keyAt(i)), ov];
      if (++emitted >= limit) return;
    }
  }
}
