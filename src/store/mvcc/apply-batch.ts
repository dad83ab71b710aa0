/**
 * Executes committed StoreCommands against a write overlay: the deterministic
 * heart of the state machine. One ApplyBatch covers one `apply` call; the
 * store writes its overlay as one LevelDB batch and then publishes its state,
 * lease changes and events.
 *
 * Determinism: everything here depends only on the stored state and the
 * command (no clocks, no randomness, no on-disk sizes, sorted iteration).
 */
import { assert } from '../../util/assert.js';
import { StoreError } from '../errors.js';
import { EventType } from '../types.js';
import type {
  CompactionRequest,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseCheckpointRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  PutResponse,
  RequestOp,
  ResponseOp,
  StoreCommand,
  StoreResult,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../types.js';
import {
  copyBytes,
  eventKey,
  historyKey,
  latestKey,
  leaseAttachKey,
  leaseKey,
  metaKey,
  readU64,
  reclaimKey,
  decodeLeaseAttachKey,
  leaseAttachBounds,
  toKeyRange,
  writeU64,
} from './keys.js';
import { OverlayReader, WriteOverlay } from './kv-reader.js';
import type { KvReader } from './kv-reader.js';
import { checkReadRevision, evaluateCompare, executeRange, rangeKeys } from './read-ops.js';
import type { ReadView } from './read-ops.js';
import {
  HISTORY_PUT,
  HISTORY_TOMBSTONE,
  LEASE_BYTES,
  changeBytes,
  decodeLatest,
  encodeEvent,
  encodeJson,
  encodeLatest,
  latestBytes,
  toKeyValue,
  tombstoneRecord,
} from './records.js';
import type { KvRecord, LeaseMeta } from './records.js';

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

/** Everything the store persists about itself, in one meta record written with every batch. */
export interface StoreState {
  appliedIndex: number;
  revision: number;
  compactRevision: number;
  /** Bytes of the latest-value index (live keys). */
  latestBytes: number;
  /** Bytes ever written to the history index and event log. */
  writtenBytes: number;
  /** Cumulative bytes superseded or deleted up to the current revision. */
  reclaimableBytes: number;
  /** reclaimableBytes as of compactRevision: what compaction frees, logically. */
  reclaimedBytes: number;
  leaseCount: number;
}

export const STATE_KEY = metaKey('state');

export function initialState(): StoreState {
  // etcd starts an empty store at revision 1, so the first write is revision 2.
  return {
    appliedIndex: 0,
    revision: 1,
    compactRevision: 0,
    latestBytes: 0,
    writtenBytes: 0,
    reclaimableBytes: 0,
    reclaimedBytes: 0,
    leaseCount: 0,
  };
}

/** The logical database size: deterministic, so that every member takes the same quota decision. */
export function dbSizeOf(s: StoreState): number {
  return s.latestBytes + s.writtenBytes - s.reclaimedBytes + s.leaseCount * LEASE_BYTES;
}

export type LeaseDelta =
  | { kind: 'grant'; id: number; meta: LeaseMeta }
  | { kind: 'revoke'; id: number }
  | { kind: 'checkpoint'; id: number; meta: LeaseMeta }
  | { kind: 'attach'; id: number; key: Uint8Array }
  | { kind: 'detach'; id: number; key: Uint8Array };

interface Savepoint {
  overlay: number;
  leaseUndo: number;
  deltas: number;
  events: number;
  state: StoreState;
}

const EMPTY = new Uint8Array(0);

export class ApplyBatch {
  readonly overlay = new WriteOverlay();
  readonly reader: KvReader;
  state: StoreState;
  /** Events of every revision this batch made, in revision order (fanned out after the write). */
  readonly events: WatchEvent[] = [];
  readonly leaseDeltas: LeaseDelta[] = [];
  private readonly leaseStage = new Map<number, LeaseMeta | null>();
  private leaseUndo: { id: number; prev: LeaseMeta | null | undefined }[] = [];

  constructor(
    base: KvReader,
    committed: StoreState,
    private readonly committedLease: (id: number) => LeaseMeta | undefined,
    private readonly quotaBytes: number,
  ) {
    this.reader = new OverlayReader(this.overlay, base);
    this.state = { ...committed };
  }

  /** Applies one command; a StoreError is returned (and nothing of the command kept). */
  async applyCommand(cmd: StoreCommand): Promise<StoreResult | StoreError> {
    const sp = this.savepoint();
    try {
      const result = await this.execute(cmd);
      this.release();
      return result;
    } catch (e) {
      if (!(e instanceof StoreError)) throw e;
      this.rollback(sp);
      return e;
    }
  }

  /** Stages the meta record; call once after the last entry. */
  finish(): void {
    this.overlay.put(STATE_KEY, encodeJson(this.state));
  }

  leaseMeta(id: number): LeaseMeta | undefined {
    if (this.leaseStage.has(id)) return this.leaseStage.get(id) ?? undefined;
    return this.committedLease(id);
  }

  setLease(id: number, meta: LeaseMeta | null): void {
    this.leaseUndo.push({ id, prev: this.leaseStage.has(id) ? this.leaseStage.get(id)! : undefined });
    this.leaseStage.set(id, meta);
    if (meta === null) this.overlay.del(leaseKey(id));
    else this.overlay.put(leaseKey(id), encodeJson(meta));
  }

  /**
   * The space quota, as etcd's NOSPACE alarm: once the logical size exceeds
   * the quota, commands that may add data fail (the one that crossed it got in).
   */
  checkQuota(): void {
    const size = dbSizeOf(this.state);
    if (size > this.quotaBytes) throw new StoreError('STORE_ERR_NO_SPACE', `size ${size} > ${this.quotaBytes}`);
  }

  private async execute(cmd: StoreCommand): Promise<StoreResult> {
    if ('put' in cmd) return { put: await this.putCommand(cmd.put) };
    if ('deleteRange' in cmd) return { deleteRange: await this.deleteCommand(cmd.deleteRange) };
    if ('txn' in cmd) return { txn: await this.txnCommand(cmd.txn) };
    if ('compaction' in cmd) return { compaction: await this.compact(cmd.compaction) };
    if ('leaseGrant' in cmd) return { leaseGrant: this.leaseGrant(cmd.leaseGrant) };
    if ('leaseRevoke' in cmd) return { leaseRevoke: await this.leaseRevoke(cmd.leaseRevoke) };
    if ('leaseCheckpoint' in cmd) return { leaseCheckpoint: this.leaseCheckpoint(cmd.leaseCheckpoint) };
    assert(false, `unknown store command: ${Object.keys(cmd).join(',')}`);
  }

  private async putCommand(req: PutRequest): Promise<PutResponse> {
    validatePut(req);
    this.checkQuota();
    const w = new RevisionWriter(this);
    const resp = await w.put(req);
    w.end();
    return resp;
  }

  private async deleteCommand(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    const w = new RevisionWriter(this);
    const resp = await w.deleteRange(req);
    w.end();
    return resp;
  }

  private async txnCommand(req: TxnRequest): Promise<TxnResponse> {
    validateTxn(req);
    if (txnHasPut(req)) this.checkQuota();
    const w = new RevisionWriter(this);
    const resp = await w.txn(req);
    w.end();
    return resp;
  }

  private async compact(req: CompactionRequest): Promise<{ revision: number }> {
    const s = this.state;
    if (req.revision <= s.compactRevision) {
      throw new StoreError('STORE_ERR_COMPACTED', `${req.revision} <= ${s.compactRevision}`);
    }
    if (req.revision > s.revision) throw new StoreError('STORE_ERR_FUTURE_REV', `${req.revision} > ${s.revision}`);
    s.reclaimedBytes = await this.reclaimableAt(req.revision);
    s.compactRevision = req.revision;
    return { revision: s.revision };
  }

  /** Cumulative reclaimable bytes as of `rev` (the last 'g' record in (compactRevision, rev]). */
  private async reclaimableAt(rev: number): Promise<number> {
    for await (const [, v] of this.reader.iterate({
      gt: reclaimKey(this.state.compactRevision),
      lte: reclaimKey(rev),
      reverse: true,
      limit: 1,
    })) {
      return readU64(v, 0);
    }
    return this.state.reclaimedBytes;
  }

  private leaseGrant(req: LeaseGrantRequest): { id: number; ttl: number; revision: number } {
    this.checkQuota();
    checkLeaseId(req.id);
    if (!Number.isSafeInteger(req.ttl) || req.ttl < 0) throw new StoreError('STORE_ERR_INT64_RANGE', `ttl ${req.ttl}`);
    if (req.ttl > MAX_LEASE_TTL_SECONDS) throw new StoreError('STORE_ERR_LEASE_TTL_TOO_LARGE');
    if (this.leaseMeta(req.id) !== undefined) throw new StoreError('STORE_ERR_LEASE_EXIST', `lease ${req.id}`);
    const meta: LeaseMeta = { ttl: req.ttl, remainingTtl: 0 };
    this.setLease(req.id, meta);
    this.leaseDeltas.push({ kind: 'grant', id: req.id, meta });
    this.state.leaseCount++;
    return { id: req.id, ttl: req.ttl, revision: this.state.revision };
  }

  private async leaseRevoke(req: LeaseRevokeRequest): Promise<{ revision: number }> {
    if (this.leaseMeta(req.id) === undefined) throw new StoreError('STORE_ERR_LEASE_NOT_FOUND', `lease ${req.id}`);
    // The attachment index is sorted by key, so every member deletes in the same order.
    const keys: Uint8Array[] = [];
    for await (const [k] of this.reader.iterate({ ...leaseAttachBounds(req.id), values: false })) {
      keys.push(decodeLeaseAttachKey(k).key);
    }
    const w = new RevisionWriter(this);
    for (const key of keys) await w.deleteKeyOfLease(key, req.id);
    w.end();
    this.setLease(req.id, null);
    this.leaseDeltas.push({ kind: 'revoke', id: req.id });
    this.state.leaseCount--;
    return { revision: this.state.revision };
  }

  private leaseCheckpoint(req: LeaseCheckpointRequest): { revision: number } {
    for (const cp of req.checkpoints) {
      const meta = this.leaseMeta(cp.id);
      if (meta === undefined) continue; // the lease was revoked meanwhile: nothing to record
      const next: LeaseMeta = { ttl: meta.ttl, remainingTtl: cp.remainingTtl };
      this.setLease(cp.id, next);
      this.leaseDeltas.push({ kind: 'checkpoint', id: cp.id, meta: next });
    }
    return { revision: this.state.revision };
  }

  private savepoint(): Savepoint {
    return {
      overlay: this.overlay.savepoint(),
      leaseUndo: this.leaseUndo.length,
      deltas: this.leaseDeltas.length,
      events: this.events.length,
      state: { ...this.state },
    };
  }

  private rollback(sp: Savepoint): void {
    this.overlay.rollback(sp.overlay);
    while (this.leaseUndo.length > sp.leaseUndo) {
      const u = this.leaseUndo.pop()!;
      if (u.prev === undefined) this.leaseStage.delete(u.id);
      else this.leaseStage.set(u.id, u.prev);
    }
    this.leaseDeltas.length = sp.deltas;
    this.events.length = sp.events;
    this.state = sp.state;
  }

  private release(): void {
    this.overlay.release();
    this.leaseUndo = [];
  }
}

function checkLeaseId(id: number): void {
  if (id === 0) throw new StoreError('STORE_ERR_LEASE_NOT_FOUND', 'lease id 0');
  if (!Number.isSafeInteger(id) || id < 0) throw new StoreError('STORE_ERR_INT64_RANGE', `lease id ${id}`);
}

function validatePut(req: PutRequest): void {
  if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
  if (req.ignoreValue && req.value.length !== 0) throw new StoreError('STORE_ERR_VALUE_PROVIDED');
  if (req.ignoreLease && req.lease !== 0) throw new StoreError('STORE_ERR_LEASE_PROVIDED');
  if (req.lease !== 0) checkLeaseId(req.lease);
}

function validateTxn(req: TxnRequest): void {
  for (const op of [...req.success, ...req.failure]) {
    if ('put' in op) validatePut(op.put);
    else if ('deleteRange' in op && op.deleteRange.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    else if ('range' in op && op.range.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    else if ('txn' in op) validateTxn(op.txn);
  }
}

/** As etcd's quota: a txn is refused if either branch (at any depth) puts. */
function txnHasPut(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].some((op) => 'put' in op || ('txn' in op && txnHasPut(op.txn)));
}

/** Which branch each (nested) txn takes, decided up front against the pre-txn state, as etcd does. */
interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

/**
 * The writes of one revision: every change gets the next sub-revision; the
 * store revision moves once, at end(), if anything changed.
 */
class RevisionWriter {
  private readonly beginRev: number;
  private changes = 0;
  private readonly reclaimableAtBegin: number;

  constructor(private readonly batch: ApplyBatch) {
    this.beginRev = batch.state.revision;
    this.reclaimableAtBegin = batch.state.reclaimableBytes;
  }

  private get rev(): number {
    return this.beginRev + 1;
  }

  /** The revision reads inside this writer see (etcd: beginRev, +1 once something changed). */
  private get viewRevision(): number {
    return this.changes > 0 ? this.beginRev + 1 : this.beginRev;
  }

  view(): ReadView {
    return { reader: this.batch.reader, revision: this.viewRevision, compactRevision: this.batch.state.compactRevision };
  }

  end(): void {
    if (this.changes === 0) return;
    const s = this.batch.state;
    assert(s.revision === this.beginRev, 'revision moved under a writer');
    s.revision = this.rev;
    if (s.reclaimableBytes !== this.reclaimableAtBegin) {
      const v = new Uint8Array(8);
      writeU64(v, 0, s.reclaimableBytes);
      this.batch.overlay.put(reclaimKey(this.rev), v);
    }
  }

  async latest(key: Uint8Array): Promise<KvRecord | null> {
    const v = await this.batch.reader.get(latestKey(key));
    return v === undefined ? null : decodeLatest(key, v);
  }

  async put(req: PutRequest): Promise<PutResponse> {
    if (req.lease !== 0 && this.batch.leaseMeta(req.lease) === undefined) {
      throw new StoreError('STORE_ERR_LEASE_NOT_FOUND', `lease ${req.lease}`);
    }
    const prev = await this.latest(req.key);
    if ((req.ignoreValue || req.ignoreLease) && prev === null) throw new StoreError('STORE_ERR_KEY_NOT_FOUND');
    const rec: KvRecord = {
      key: copyBytes(req.key),
      createRevision: prev === null ? this.rev : prev.createRevision,
      modRevision: this.rev,
      modSub: this.changes,
      version: (prev?.version ?? 0) + 1,
      lease: req.ignoreLease ? prev!.lease : req.lease,
      value: req.ignoreValue ? prev!.value : copyBytes(req.value),
    };
    this.writeChange(EventType.Put, rec, prev);
    return { prevKv: req.prevKv && prev !== null ? toKeyValue(prev) : null, revision: this.rev };
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    const range = toKeyRange(req.key, req.rangeEnd);
    const { records } = await rangeKeys(this.view(), range, this.viewRevision, 0, false);
    for (const prev of records) this.deleteRecord(prev);
    return {
      deleted: records.length,
      prevKvs: req.prevKv ? records.map(toKeyValue) : [],
      revision: this.viewRevision,
    };
  }

  async deleteKeyOfLease(key: Uint8Array, leaseId: number): Promise<void> {
    const prev = await this.latest(key);
    assert(prev !== null && prev.lease === leaseId, 'lease attachment without its key');
    this.deleteRecord(prev);
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    const before = this.view();
    const path = await computePath(before, req);
    checkTxnReads(before, req, path);
    const resp = await this.executeTxn(req, path);
    resp.revision = this.viewRevision;
    return resp;
  }

  private async executeTxn(req: TxnRequest, path: TxnPath): Promise<TxnResponse> {
    const ops = path.succeeded ? req.success : req.failure;
    const responses: ResponseOp[] = [];
    let nested = 0;
    for (const op of ops) {
      if ('range' in op) responses.push({ range: await executeRange(this.view(), op.range) });
      else if ('put' in op) responses.push({ put: await this.put(op.put) });
      else if ('deleteRange' in op) responses.push({ deleteRange: await this.deleteRange(op.deleteRange) });
      else responses.push({ txn: await this.executeTxn(op.txn, path.nested[nested++]!) });
    }
    return { succeeded: path.succeeded, responses, revision: this.viewRevision };
  }

  private deleteRecord(prev: KvRecord): void {
    const key = copyBytes(prev.key);
    this.writeChange(EventType.Delete, tombstoneRecord(key, this.rev, this.changes), prev);
  }

  private writeChange(type: EventType, rec: KvRecord, prev: KvRecord | null): void {
    assert(rec.modRevision === this.rev && rec.modSub === this.changes, 'change out of sequence');
    const o = this.batch.overlay;
    const s = this.batch.state;
    const isPut = type === EventType.Put;
    if (isPut) o.put(latestKey(rec.key), encodeLatest(rec));
    else o.del(latestKey(rec.key));
    o.put(historyKey(rec.key, rec.modRevision, rec.modSub), isPut ? HISTORY_PUT : HISTORY_TOMBSTONE);
    o.put(eventKey(rec.modRevision, rec.modSub), encodeEvent(type, rec));
    s.writtenBytes += changeBytes(rec);
    if (prev !== null) s.reclaimableBytes += changeBytes(prev);
    if (!isPut) s.reclaimableBytes += changeBytes(rec);
    s.latestBytes += (isPut ? latestBytes(rec) : 0) - (prev === null ? 0 : latestBytes(prev));
    this.moveLease(rec.key, prev?.lease ?? 0, isPut ? rec.lease : 0);
    this.batch.events.push({ type, kv: toKeyValue(rec), prevKv: prev === null ? null : toKeyValue(prev) });
    this.changes++;
  }

  private moveLease(key: Uint8Array, from: number, to: number): void {
    if (from === to) return;
    if (from !== 0) {
      this.batch.overlay.del(leaseAttachKey(from, key));
      this.batch.leaseDeltas.push({ kind: 'detach', id: from, key });
    }
    if (to !== 0) {
      this.batch.overlay.put(leaseAttachKey(to, key), EMPTY);
      this.batch.leaseDeltas.push({ kind: 'attach', id: to, key });
    }
  }
}

async function computePath(view: ReadView, req: TxnRequest): Promise<TxnPath> {
  let succeeded = true;
  for (const c of req.compare) {
    if (!(await evaluateCompare(view, c))) {
      succeeded = false;
      break;
    }
  }
  const nested: TxnPath[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    if ('txn' in op) nested.push(await computePath(view, op.txn));
  }
  return { succeeded, nested };
}

/** etcd's checkRange for every range on the path: revision errors fail the whole txn up front. */
function checkTxnReads(view: ReadView, req: TxnRequest, path: TxnPath): void {
  let nested = 0;
  const ops: RequestOp[] = path.succeeded ? req.success : req.failure;
  for (const op of ops) {
    if ('range' in op && op.range.revision !== 0) checkReadRevision(view, op.range.revision);
    if ('txn' in op) checkTxnReads(view, op.txn, path.nested[nested++]!);
  }
}
