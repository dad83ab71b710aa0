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

type UndoRecord = { k: string; prev: Uint8Array | null | undefined };

/**
 * Pending writes of one apply batch, sorted by key, with savepoints so that a
 * failing entry leaves nothing behind. Keys are latin1 strings (byte order).
 * Memory is proportional to the batch being applied.
 */
export class WriteOverlay {
  private readonly sorted: string[] = [];
  /** null marks a deletion. */
  private readonly entries = new Map<string, Uint8Array | null>();
  private undo: UndoRecord[] = [];

  get size(): number {
    return this.entries.size;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.set(bytesToKeyString(key), value);
  }

  del(key: Uint8Array): void {
    this.set(bytesToKeyString(key), null);
  }

  /** undefined: not in the overlay; null: deleted in the overlay. */
  lookup(key: Uint8Array): Uint8Array | null | undefined {
    return this.entries.get(bytesToKeyString(key));
  }

  savepoint(): number {
    return this.undo.length;
  }

  rollback(savepoint: number): void {
    assert(savepoint <= this.undo.length, 'rollback past the undo log');
    while (this.undo.length > savepoint) {
      const u = this.undo.pop()!;
      if (u.prev === undefined) {
        this.entries.delete(u.k);
        this.sorted.splice(this.lowerBound(u.k), 1);
      } else {
        this.entries.set(u.k, u.prev);
      }
    }
  }

  /** Forget the undo log: everything so far is part of the batch for good. */
  release(): void {
    this.undo = [];
  }

  toOps(): ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array })[] {
    return this.sorted.map((k) => {
      const v = this.entries.get(k);
      assert(v !== undefined, 'overlay index out of sync');
      const key = keyStringToBytes(k);
      return v === null ? { type: 'del' as const, key } : { type: 'put' as const, key, value: v };
    });
  }

  /** Index range [from, to) of sorted keys inside the bounds. */
  slice(r: IterRange): [number, number] {
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
    const v = this.entries.get(this.sorted[i]!);
    assert(v !== undefined, 'overlay index out of sync');
    return v;
  }

  private set(k: string, value: Uint8Array | null): void {
    const prev = this.entries.get(k);
    this.undo.push({ k, prev });
    if (prev === undefined) this.sorted.splice(this.lowerBound(k), 0, k);
    this.entries.set(k, value);
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
