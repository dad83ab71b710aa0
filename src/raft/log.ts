/**
 * The Raft log as the core sees it: the durable part (Storage) followed by an
 * unstable tail of entries (and possibly a snapshot) that the caller has not
 * yet persisted. Also holds the commit and applied indexes.
 */
import { assert } from '../util/assert.js';
import { isRaftError } from './errors.js';
import { compactedError, limitSize, type Storage, unavailableError } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/** Entries (and a snapshot) received but not yet handed back as persisted. */
export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const k = i - this.offset;
    return k < this.entries.length ? this.entries[k]!.term : undefined;
  }

  /** Entries up to (i, t) are now persisted. Ignored if the log changed underneath meanwhile. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    const k = i + 1 - this.offset;
    this.entries = k === this.entries.length ? [] : this.entries.slice(k);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) this.snapshot = null;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0]!.index;
    if (from === this.offset + this.entries.length) {
      // The common case: a direct continuation.
    } else if (from <= this.offset) {
      // Replaces everything unstable; the storage's entries from `from` on are obsolete too.
      this.offset = from;
      this.entries = [];
    } else {
      this.entries = this.entries.slice(0, from - this.offset);
    }
    for (let i = 0; i < ents.length; i++) this.entries.push(ents[i]!);
  }

  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length, `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known to be committed (may run ahead of what is durable here). */
  committed: number;
  /** Highest index handed to (and acknowledged by) the application. */
  applied: number;

  constructor(
    readonly storage: Storage,
    private readonly maxApplyingBytes: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of entry i; throws RAFT_ERR_COMPACTED / RAFT_ERR_UNAVAILABLE outside the log. */
  term(i: number): number {
    const t = this.termOrUndefined(i);
    if (t !== undefined) return t;
    const first = this.firstIndex();
    if (i < first - 1) throw compactedError(i, first);
    throw unavailableError(i, this.lastIndex());
  }

  /** The term of entry i, or undefined when i is outside [firstIndex-1, lastIndex]. */
  termOrUndefined(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (isRaftError(e, 'RAFT_ERR_COMPACTED') || isRaftError(e, 'RAFT_ERR_UNAVAILABLE')) return undefined;
      throw e;
    }
  }

  termOrZero(i: number): number {
    return this.termOrUndefined(i) ?? 0;
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    return this.termOrUndefined(i) === t;
  }

  /** Whether a log ending at (lastIndex, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A follower's handling of an append: if our log matches the leader's at
   * (index, logTerm), adopt ents (dropping a conflicting suffix) and advance
   * commit. Returns the index of the last new entry, or undefined on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      const offset = index + 1;
      assert(ci - offset <= ents.length, 'conflict index out of range');
      this.append(ci === offset ? ents : ents.slice(ci - offset));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    assert(after >= this.committed, `appending after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry in ents that is new or conflicts with ours,
   * or 0 when all are already present with the same terms.
   */
  findConflict(ents: readonly Entry[]): number {
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ index whose term is ≤ term, with that term: the
   * follower's hint that lets the leader skip a whole term per round trip.
   * Returns term 0 when the answer falls outside our log.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrUndefined(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Entries from i on, up to maxBytes. */
  entries(i: number, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxBytes);
  }

  /** Entries in [lo, hi), from storage and the unstable tail, cut to about maxBytes. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    const first = this.firstIndex();
    if (lo < first) throw compactedError(lo, first);
    assert(lo <= hi && hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) out of range (last ${this.lastIndex()})`);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      ents = this.storage.entries(lo, storedHi, maxBytes);
      // Cut short by the size limit: stop here.
      if (ents.length < storedHi - lo) return ents;
    }
    if (hi > offset) {
      const u = this.unstable.slice(Math.max(lo, offset), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxBytes);
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.length === 0 ? [] : this.unstable.entries.slice();
  }

  /**
   * The last index known to be durable here: everything before the unstable
   * tail. Only meaningful without a pending snapshot (the leader's case).
   */
  persistedLastIndex(): number {
    assert(this.unstable.snapshot === null, 'persistedLastIndex with a pending snapshot');
    return this.unstable.entries.length > 0 ? this.unstable.offset - 1 : this.lastIndex();
  }

  hasNextCommittedEnts(): boolean {
    if (this.unstable.snapshot) return false;
    return this.committed > this.applied;
  }

  /** Committed entries not yet applied, up to the per-Ready byte limit. */
  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    return this.slice(this.applied + 1, this.committed + 1, this.maxApplyingBytes);
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return;
    assert(toCommit <= this.lastIndex(), `commit ${toCommit} is past the last index ${this.lastIndex()}: was the log corrupted, truncated or lost?`);
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, `applied ${i} outside [${this.applied}, ${this.committed}]`);
    this.applied = i;
  }

  /**
   * Commits up to maxIndex if that entry is from `term` — the leader's current
   * term. Earlier-term entries are committed only indirectly (Raft §5.4.2).
   */
  maybeCommit(maxIndex: number, term: number, unsafeAllowEarlierTerm: boolean): boolean {
    if (maxIndex <= this.committed) return false;
    if (!unsafeAllowEarlierTerm && this.termOrZero(maxIndex) !== term) return false;
    this.commitTo(maxIndex);
    return true;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }
}
