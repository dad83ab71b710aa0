/**
 * Reads with etcd's semantics over one consistent view: range at the current
 * revision (the latest-value index), range at a past revision (the history
 * index plus the event log), and txn compares.
 */
import { assert } from '../../util/assert.js';
import { StoreError } from '../errors.js';
import { CompareResult, CompareTarget, SortOrder, SortTarget } from '../types.js';
import type { Compare, KeyValue, RangeRequest, RangeResponse } from '../types.js';
import {
  compareBytes,
  decodeHistoryKey,
  equalBytes,
  eventKey,
  historyBounds,
  historyKey,
  historyKeyStart,
  latestBounds,
  latestKey,
  rangeIsEmpty,
  toKeyRange,
  userKeyOfLatest,
} from './keys.js';
import type { KeyRange } from './keys.js';
import type { KvReader } from './kv-reader.js';
import { decodeEvent, decodeLatest, isTombstone, toKeyValue } from './records.js';
import type { KvRecord } from './records.js';

/** A consistent read view: a reader plus the revisions it reflects. */
export interface ReadView {
  reader: KvReader;
  /** The revision the latest-value index reflects (inside a write txn: its own revision). */
  revision: number;
  compactRevision: number;
}

export interface RangeKeysResult {
  records: KvRecord[];
  /** Number of live keys in the range at the revision (before limit). */
  count: number;
}

/**
 * Live keys of `range` at revision `atRev` (≤ view.revision, ≥ compactRevision;
 * the caller checks), in key order, at most `limit` records (0 = all).
 */
export async function rangeKeys(
  view: ReadView,
  range: KeyRange,
  atRev: number,
  limit: number,
  countOnly: boolean,
): Promise<RangeKeysResult> {
  assert(atRev <= view.revision && atRev >= view.compactRevision, 'range revision not checked');
  if (rangeIsEmpty(range)) return { records: [], count: 0 };
  if (atRev === view.revision) return rangeLatest(view.reader, range, limit, countOnly);
  return rangeHistory(view.reader, range, atRev, limit, countOnly);
}

async function rangeLatest(
  reader: KvReader,
  range: KeyRange,
  limit: number,
  countOnly: boolean,
): Promise<RangeKeysResult> {
  if (range.single) {
    const v = await reader.get(latestKey(range.start));
    if (v === undefined) return { records: [], count: 0 };
    return { records: countOnly ? [] : [decodeLatest(range.start, v)], count: 1 };
  }
  const bounds = latestBounds(range);
  const records: KvRecord[] = [];
  let count = 0;
  let lastKey: Uint8Array | null = null;
  if (!countOnly) {
    // Values only until the limit is reached; the rest is counted keys-only below.
    for await (const [k, v] of reader.iterate({ ...bounds, limit: limit > 0 ? limit : undefined })) {
      records.push(decodeLatest(userKeyOfLatest(k), v));
      lastKey = k;
    }
    count = records.length;
    if (limit === 0 || records.length < limit) return { records, count };
  }
  const countFrom = lastKey === null ? { gte: bounds.gte } : { gt: lastKey };
  for await (const _ of reader.iterate({ ...countFrom, lt: bounds.lt, values: false })) count++;
  return { records, count };
}

interface HistoryPick {
  key: Uint8Array;
  rev: number;
  sub: number;
}

async function rangeHistory(
  reader: KvReader,
  range: KeyRange,
  atRev: number,
  limit: number,
  countOnly: boolean,
): Promise<RangeKeysResult> {
  const picks: HistoryPick[] = [];
  let count = 0;
  let current: Uint8Array | null = null;
  let best: (HistoryPick & { tombstone: boolean }) | null = null;
  const finish = (): void => {
    if (best === null || best.tombstone) return;
    count++;
    if (!countOnly && (limit === 0 || picks.length < limit)) picks.push(best);
  };
  for await (const [hk, hv] of reader.iterate(historyBounds(range))) {
    const parts = decodeHistoryKey(hk);
    if (current === null || !equalBytes(current, parts.key)) {
      finish();
      current = parts.key;
      best = null;
    }
    if (parts.rev <= atRev) best = { ...parts, tombstone: isTombstone(hv) };
  }
  finish();
  const records = await loadEvents(reader, picks);
  return { records, count };
}

/** The stored records of the given (rev, sub) events; they must exist. */
export async function loadEvents(reader: KvReader, picks: { rev: number; sub: number }[]): Promise<KvRecord[]> {
  const values = await reader.getMany(picks.map((p) => eventKey(p.rev, p.sub)));
  return values.map((v, i) => {
    const p = picks[i]!;
    assert(v !== undefined, `history entry without its event at ${p.rev}.${p.sub}`);
    return decodeEvent(p.rev, p.sub, v).record;
  });
}

/** The version of `key` just before (rev, sub), or null if none (or it was a deletion). */
export async function previousVersion(
  reader: KvReader,
  key: Uint8Array,
  rev: number,
  sub: number,
): Promise<KvRecord | null> {
  for await (const [hk, hv] of reader.iterate({
    gte: historyKeyStart(key),
    lt: historyKey(key, rev, sub),
    reverse: true,
    limit: 1,
  })) {
    if (isTombstone(hv)) return null;
    const parts = decodeHistoryKey(hk);
    const [record] = await loadEvents(reader, [parts]);
    return record!;
  }
  return null;
}

/** Checks a read revision against the view; returns the revision to read at. */
export function checkReadRevision(view: ReadView, revision: number): number {
  if (revision > view.revision) throw new StoreError('STORE_ERR_FUTURE_REV', `${revision} > ${view.revision}`);
  const rev = revision <= 0 ? view.revision : revision;
  if (rev < view.compactRevision) {
    throw new StoreError('STORE_ERR_COMPACTED', `${rev} < ${view.compactRevision}`);
  }
  return rev;
}

/** etcd's RangeRequest semantics: filters and sorting happen after the read, then the limit. */
export async function executeRange(view: ReadView, req: RangeRequest): Promise<RangeResponse> {
  const rev = checkReadRevision(view, req.revision);
  const fetchAll = !isDefaultOrdering(req.sortTarget, req.sortOrder) || hasRevisionFilters(req);
  const fetchLimit = fetchAll || req.limit <= 0 ? 0 : req.limit + 1;
  const r = await rangeKeys(view, toKeyRange(req.key, req.rangeEnd), rev, fetchLimit, req.countOnly);
  let records = filterRecords(r.records, req);
  records = sortRecords(records, req);
  let more = false;
  if (req.limit > 0 && records.length > req.limit) {
    records = records.slice(0, req.limit);
    more = true;
  }
  const kvs: KeyValue[] = records.map((rec) => {
    const kv = toKeyValue(rec);
    if (req.keysOnly) kv.value = new Uint8Array(0);
    return kv;
  });
  return { kvs, more, count: r.count, revision: view.revision };
}

function isDefaultOrdering(target: SortTarget, order: SortOrder): boolean {
  return order === SortOrder.None || (target === SortTarget.Key && order === SortOrder.Ascend);
}

function hasRevisionFilters(r: RangeRequest): boolean {
  return r.minModRevision !== 0 || r.maxModRevision !== 0 || r.minCreateRevision !== 0 || r.maxCreateRevision !== 0;
}

function filterRecords(records: KvRecord[], r: RangeRequest): KvRecord[] {
  if (!hasRevisionFilters(r)) return records;
  return records.filter(
    (k) =>
      (r.maxModRevision === 0 || k.modRevision <= r.maxModRevision) &&
      (r.minModRevision === 0 || k.modRevision >= r.minModRevision) &&
      (r.maxCreateRevision === 0 || k.createRevision <= r.maxCreateRevision) &&
      (r.minCreateRevision === 0 || k.createRevision >= r.minCreateRevision),
  );
}

function sortRecords(records: KvRecord[], r: RangeRequest): KvRecord[] {
  // As etcd: a non-key target without an order sorts ascending.
  const order = r.sortTarget !== SortTarget.Key && r.sortOrder === SortOrder.None ? SortOrder.Ascend : r.sortOrder;
  if (isDefaultOrdering(r.sortTarget, order)) return records;
  const by = sortKeyCompare(r.sortTarget);
  const sign = order === SortOrder.Descend ? -1 : 1;
  // Array.prototype.sort is stable: ties keep key order on every member.
  return [...records].sort((a, b) => sign * by(a, b));
}

function sortKeyCompare(target: SortTarget): (a: KvRecord, b: KvRecord) => number {
  switch (target) {
    case SortTarget.Version:
      return (a, b) => a.version - b.version;
    case SortTarget.Create:
      return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.Mod:
      return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.Value:
      return (a, b) => compareBytes(a.value, b.value);
    default:
      return (a, b) => compareBytes(a.key, b.key);
  }
}

/** etcd's applyCompare: every key in the range must satisfy the compare. */
export async function evaluateCompare(view: ReadView, c: Compare): Promise<boolean> {
  const { records } = await rangeKeys(view, toKeyRange(c.key, c.rangeEnd), view.revision, 0, false);
  if (records.length === 0) {
    // A missing key has no value to compare (nil == empty in gRPC), so value compares fail.
    if (c.target === CompareTarget.Value) return false;
    return compareOne(c, null);
  }
  return records.every((r) => compareOne(c, r));
}

/** What a compare looks at: a KvRecord, or a key index entry for every target but the value. */
export interface CompareSubject {
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
  value?: Uint8Array;
}

const NO_VALUE = new Uint8Array(0);

/** One key against one compare (r null: the key does not exist). */
export function compareOne(c: Compare, r: CompareSubject | null): boolean {
  let result: number;
  switch (c.target) {
    case CompareTarget.Value:
      assert(r === null || r.value !== undefined, 'value compare without the value');
      result = compareBytes(r?.value ?? NO_VALUE, c.value);
      break;
    case CompareTarget.Create:
      result = Math.sign((r?.createRevision ?? 0) - c.createRevision);
      break;
    case CompareTarget.Mod:
      result = Math.sign((r?.modRevision ?? 0) - c.modRevision);
      break;
    case CompareTarget.Version:
      result = Math.sign((r?.version ?? 0) - c.version);
      break;
    case CompareTarget.Lease:
      result = Math.sign((r?.lease ?? 0) - c.lease);
      break;
    default:
      return true;
  }
  switch (c.result) {
    case CompareResult.Equal:
      return result === 0;
    case CompareResult.NotEqual:
      return result !== 0;
    case CompareResult.Greater:
      return result > 0;
    case CompareResult.Less:
      return result < 0;
    default:
      return true;
  }
}
