/**
 * Executes committed StoreCommands against a write overlay: the deterministic
 * heart of the state machine. One ApplyBatch covers one `apply` call; the
 * store writes its overlay as one LevelDB batch and then publishes its state,
 * key index changes, lease changes and events.
 *
 * Puts, deletes, lease moves and txn compares other than on values are
 * decided from the in-memory key index (key-index.ts) plus the changes this
 * batch staged over it, never waiting on LevelDB. Values are read only when
 * a command's semantics need one (ignoreValue, a value compare, a range
 * inside a txn); previous values wanted only for answers (prevKv of a put or
 * delete, prevKv of watch events) are collected and read with one getMany
 * while the batch is written (`loadPrevValues`).
 *
 * Determinism: everything here depends only on the stored state and the
 * command (no clocks, no randomness, no on-disk sizes, sorted iteration).
 * Which previous values get loaded depends on the watchers, but those only
 * fill answers and events, never the state.
 */
import { assert } from '../../util/assert.js';
import { StoreError } from '../errors.js';
import { CompareTarget, EventType } from '../types.js';
import type {
  Compare,
  CompactionRequest,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
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
import { ByteArena } from './byte-arena.js';
import type { KeyIndex } from './key-index.js';
import {
  bytesToKeyString,
  copyBytes,
  eventKey,
  historyKey,
  keyStringToBytes,
  latestKey,
  leaseAttachKey,
  leaseKey,
  metaKey,
  rangeIsEmpty,
  readU64,
  reclaimKey,
  decodeLeaseAttachKey,
  leaseAttachBounds,
  toKeyRange,
  writeU64,
} from './keys.js';
import type { KeyRange } from './keys.js';
import { OverlayReader, WriteOverlay } from './kv-reader.js';
import type { KvReader } from './kv-reader.js';
import { checkReadRevision, compareOne, evaluateCompare, executeRange } from './read-ops.js';
import type { ReadView } from './read-ops.js';
import {
  HISTORY_PUT,
  HISTORY_TOMBSTONE,
  LEASE_BYTES,
  changeBytesOf,
  decodeLatest,
  encodeEvent,
  encodeJson,
  encodeLatest,
  eventKeyView,
  eventValueView,
  keyMeta,
  latestBytesOf,
  latestModRevision,
  metaToKeyValue,
} from './records.js';
import type { KeyMeta, LeaseMeta } from './records.js';

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

/** What a batch reads of the committed store besides LevelDB: in memory, synchronous. */
export interface CommittedView {
  /** Committed live keys; a batch reads it and never writes to it. */
  readonly index: KeyIndex;
  readonly quotaBytes: number;
  leaseMeta(id: number): LeaseMeta | undefined;
  /**
   * Whether some watcher may want the previous version of `key` with its event
   * (may over-approximate). If not, the event goes out without it and the hub
   * has any watcher that turns out to want it catch up from the event log.
   */
  wantsPrevKv(key: Uint8Array, keyString: string): boolean;
}

/** Where to roll back to if the command being applied fails (one command at a time: reused). */
interface Savepoint {
  overlay: number;
  leaseUndo: number;
  deltas: number;
  changes: number;
  loads: number;
  state: StoreState;
}

type Outcome = StoreResult | StoreError;

/** A committed previous version whose value an answer or an event wants. */
interface PrevValueLoad {
  key: Uint8Array;
  /** Of the version the key index knows: what is read must be that version. */
  modRevision: number;
  /** KeyValues built from the metadata, whose value is filled in once read. */
  targets: KeyValue[];
}

const EMPTY = new Uint8Array(0);

export class ApplyBatch {
  readonly overlay = new WriteOverlay();
  /** Bytes only LevelDB reads: keys and latest-index records (never events or lease keys). */
  readonly arena = new ByteArena();
  readonly reader: KvReader;
  state: StoreState;
  /** Events of every revision this batch made, in revision order (fanned out after the write). */
  readonly events: WatchEvent[] = [];
  /** Events with a previous version whose prevKv was not loaded (no watcher wanted it). */
  prevKvMissing: Set<WatchEvent> | null = null;
  readonly leaseDeltas: LeaseDelta[] = [];
  private readonly leaseStage = new Map<number, LeaseMeta | null>();
  private readonly leaseUndo: { id: number; prev: LeaseMeta | null | undefined }[] = [];
  // The change log, parallel to `events`: per change, the key (latin1), its new
  // metadata (null: deleted) and its new value. `staged` maps a key to its last change.
  private readonly changeKeys: string[] = [];
  private readonly changeMetas: (KeyMeta | null)[] = [];
  private readonly changeValues: Uint8Array[] = [];
  private readonly staged = new Map<string, number>();
  private readonly loads: PrevValueLoad[] = [];
  private readonly sp: Savepoint;

  constructor(
    /** The committed LevelDB state (no pending writes): where previous values are read. */
    private readonly base: KvReader,
    committed: StoreState,
    readonly committedView: CommittedView,
  ) {
    this.reader = new OverlayReader(this.overlay, base);
    this.state = { ...committed };
    this.sp = { overlay: 0, leaseUndo: 0, deltas: 0, changes: 0, loads: 0, state: { ...committed } };
  }

  /**
   * Applies one command; a StoreError is returned (and nothing of the command
   * kept). Synchronous unless the command has to read LevelDB: most puts and
   * deletes do not, and then cost no promise or microtask.
   */
  applyCommand(cmd: StoreCommand): Outcome | Promise<Outcome> {
    this.savepoint();
    let result: StoreResult | Promise<StoreResult>;
    try {
      result = this.execute(cmd);
    } catch (e) {
      return this.failed(e);
    }
    if (!(result instanceof Promise)) return this.succeeded(result);
    return result.then(
      (r) => this.succeeded(r),
      (e: unknown) => this.failed(e),
    );
  }

  /** Stages the meta record; call once after the last entry. */
  finish(): void {
    this.overlay.put(STATE_KEY, encodeJson(this.state, this.arena));
  }

  /** Whether some answer or event waits for previous values (then `loadPrevValues` must run). */
  get hasPrevValueLoads(): boolean {
    return this.loads.length > 0;
  }

  /**
   * Reads the deferred previous values with one getMany. `committed` must
   * read the state this batch started from (a snapshot taken before the
   * batch is written): every load is of a version the key index holds.
   */
  async loadPrevValues(committed: KvReader): Promise<void> {
    if (this.loads.length === 0) return;
    const values = await committed.getMany(this.loads.map((l) => latestKey(l.key)));
    for (let i = 0; i < this.loads.length; i++) {
      const l = this.loads[i]!;
      const v = values[i];
      assert(v !== undefined && latestModRevision(v) === l.modRevision, 'key index and latest-value index disagree');
      const value = decodeLatest(l.key, v).value;
      for (const kv of l.targets) kv.value = value;
    }
  }

  /** Moves the staged key changes into the committed index (after the batch is written). */
  applyTo(index: KeyIndex): void {
    for (const [k, i] of this.staged) {
      const meta = this.changeMetas[i]!;
      if (meta === null) index.delete(k);
      else index.set(k, meta);
    }
  }

  leaseMeta(id: number): LeaseMeta | undefined {
    if (this.leaseStage.has(id)) return this.leaseStage.get(id) ?? undefined;
    return this.committedView.leaseMeta(id);
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
    const quota = this.committedView.quotaBytes;
    if (size > quota) throw new StoreError('STORE_ERR_NO_SPACE', `size ${size} > ${quota}`);
  }

  /** The live version of key `k` as this batch sees it (null: no such key). */
  current(k: string): KeyMeta | null {
    const i = this.staged.get(k);
    return i === undefined ? (this.committedView.index.get(k) ?? null) : this.changeMetas[i]!;
  }

  /** The value of `k` if this batch wrote it (null: only on disk, or deleted). */
  stagedValue(k: string): Uint8Array | null {
    const i = this.staged.get(k);
    return i === undefined || this.changeMetas[i] === null ? null : this.changeValues[i]!;
  }

  /** The value of a committed version (`current` said it exists and `stagedValue` did not know it). */
  async committedValue(key: Uint8Array, meta: KeyMeta): Promise<Uint8Array> {
    const v = await this.base.get(latestKey(key));
    assert(v !== undefined && latestModRevision(v) === meta.modRevision, 'key index and latest-value index disagree');
    return decodeLatest(key, v).value;
  }

  /** The live keys of a range as this batch sees it, in key order (latin1 strings). */
  liveKeysIn(range: KeyRange): string[] {
    if (range.single) {
      const k = bytesToKeyString(range.start);
      return this.current(k) === null ? [] : [k];
    }
    if (rangeIsEmpty(range)) return [];
    const start = bytesToKeyString(range.start);
    const end = range.end === null ? null : bytesToKeyString(range.end);
    const committed: string[] = [];
    this.committedView.index.collect(start, end, committed);
    const staged: string[] = [];
    for (const k of this.staged.keys()) if (k >= start && (end === null || k < end)) staged.push(k);
    if (staged.length === 0) return committed;
    staged.sort(); // UTF-16 code unit order: byte order for latin1 strings
    const out: string[] = [];
    let i = 0;
    for (const k of staged) {
      while (i < committed.length && committed[i]! < k) out.push(committed[i++]!);
      if (i < committed.length && committed[i] === k) i++;
      if (this.current(k) !== null) out.push(k);
    }
    while (i < committed.length) out.push(committed[i++]!);
    return out;
  }

  /** Records one change (its event already built) and stages the key's new state. */
  stage(k: string, meta: KeyMeta | null, value: Uint8Array, ev: WatchEvent): void {
    const i = this.events.length;
    this.events.push(ev);
    this.changeKeys.push(k);
    this.changeMetas.push(meta);
    this.changeValues.push(value);
    this.staged.set(k, i);
  }

  /** A committed version whose value is read later (`loadPrevValues`) into the load's targets. */
  deferPrevValue(key: Uint8Array, meta: KeyMeta): PrevValueLoad {
    const load: PrevValueLoad = { key, modRevision: meta.modRevision, targets: [] };
    this.loads.push(load);
    return load;
  }

  private execute(cmd: StoreCommand): StoreResult | Promise<StoreResult> {
    if ('put' in cmd) {
      const put = this.putCommand(cmd.put);
      return put instanceof Promise ? put.then((p) => ({ put: p })) : { put };
    }
    if ('deleteRange' in cmd) return { deleteRange: this.deleteCommand(cmd.deleteRange) };
    if ('txn' in cmd) return this.txnCommand(cmd.txn).then((txn) => ({ txn }));
    if ('compaction' in cmd) return this.compact(cmd.compaction).then((compaction) => ({ compaction }));
    if ('leaseGrant' in cmd) return { leaseGrant: this.leaseGrant(cmd.leaseGrant) };
    if ('leaseRevoke' in cmd) return this.leaseRevoke(cmd.leaseRevoke).then((leaseRevoke) => ({ leaseRevoke }));
    if ('leaseCheckpoint' in cmd) return { leaseCheckpoint: this.leaseCheckpoint(cmd.leaseCheckpoint) };
    assert(false, `unknown store command: ${Object.keys(cmd).join(',')}`);
  }

  private putCommand(req: PutRequest): PutResponse | Promise<PutResponse> {
    validatePut(req);
    this.checkQuota();
    const w = new RevisionWriter(this);
    const resp = w.put(req);
    if (resp instanceof Promise) {
      return resp.then((r) => {
        w.end();
        return r;
      });
    }
    w.end();
    return resp;
  }

  private deleteCommand(req: DeleteRangeRequest): DeleteRangeResponse {
    if (req.key.length === 0) throw new StoreError('STORE_ERR_EMPTY_KEY');
    const w = new RevisionWriter(this);
    const resp = w.deleteRange(req);
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
    for (const key of keys) w.deleteKeyOfLease(key, req.id);
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

  private savepoint(): void {
    const sp = this.sp;
    sp.overlay = this.overlay.savepoint();
    sp.leaseUndo = this.leaseUndo.length;
    sp.deltas = this.leaseDeltas.length;
    sp.changes = this.events.length;
    sp.loads = this.loads.length;
    Object.assign(sp.state, this.state);
  }

  private succeeded(result: StoreResult): StoreResult {
    this.leaseUndo.length = 0;
    return result;
  }

  private failed(e: unknown): StoreError {
    if (!(e instanceof StoreError)) throw e;
    this.rollback();
    return e;
  }

  private rollback(): void {
    const sp = this.sp;
    this.overlay.rollback(sp.overlay);
    while (this.leaseUndo.length > sp.leaseUndo) {
      const u = this.leaseUndo.pop()!;
      if (u.prev === undefined) this.leaseStage.delete(u.id);
      else this.leaseStage.set(u.id, u.prev);
    }
    this.leaseDeltas.length = sp.deltas;
    this.loads.length = sp.loads;
    if (this.events.length > sp.changes) {
      // Rare (a command failing after it changed keys): rebuild the staged map from the log.
      this.events.length = sp.changes;
      this.changeKeys.length = sp.changes;
      this.changeMetas.length = sp.changes;
      this.changeValues.length = sp.changes;
      this.staged.clear();
      for (let i = 0; i < sp.changes; i++) this.staged.set(this.changeKeys[i]!, i);
    }
    Object.assign(this.state, sp.state);
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
      const v = this.batch.arena.alloc(8);
      writeU64(v, 0, s.reclaimableBytes);
      this.batch.overlay.put(reclaimKey(this.rev, this.batch.arena), v);
    }
  }

  /** Synchronous unless it must read the value it keeps (ignoreValue on a key this batch did not write). */
  put(req: PutRequest): PutResponse | Promise<PutResponse> {
    const b = this.batch;
    if (req.lease !== 0 && b.leaseMeta(req.lease) === undefined) {
      throw new StoreError('STORE_ERR_LEASE_NOT_FOUND', `lease ${req.lease}`);
    }
    const k = bytesToKeyString(req.key);
    const prev = b.current(k);
    if ((req.ignoreValue || req.ignoreLease) && prev === null) throw new StoreError('STORE_ERR_KEY_NOT_FOUND');
    const prevValue = prev === null ? null : b.stagedValue(k);
    if (req.ignoreValue && prevValue === null) {
      return b.committedValue(req.key, prev!).then((v) => this.putValue(req, k, prev, v));
    }
    return this.putValue(req, k, prev, prevValue);
  }

  private putValue(req: PutRequest, k: string, prev: KeyMeta | null, prevValue: Uint8Array | null): PutResponse {
    const value = req.ignoreValue ? prevValue! : req.value;
    const meta = keyMeta(
      prev === null ? this.rev : prev.createRevision,
      this.rev,
      (prev?.version ?? 0) + 1,
      req.ignoreLease ? prev!.lease : req.lease,
      value.length,
    );
    const prevKv = this.writeChange(EventType.Put, k, req.key, value, meta, prev, prevValue, req.prevKv);
    return { prevKv, revision: this.rev };
  }

  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    const b = this.batch;
    const range = toKeyRange(req.key, req.rangeEnd);
    const keys = b.liveKeysIn(range);
    const prevKvs: KeyValue[] = [];
    for (const k of keys) {
      const prev = b.current(k)!;
      const key = range.single ? req.key : keyStringToBytes(k);
      const prevKv = this.writeChange(EventType.Delete, k, key, EMPTY, null, prev, b.stagedValue(k), req.prevKv);
      if (prevKv !== null) prevKvs.push(prevKv);
    }
    return { deleted: keys.length, prevKvs, revision: this.viewRevision };
  }

  deleteKeyOfLease(key: Uint8Array, leaseId: number): void {
    const k = bytesToKeyString(key);
    const prev = this.batch.current(k);
    assert(prev !== null && prev.lease === leaseId, 'lease attachment without its key');
    this.writeChange(EventType.Delete, k, key, EMPTY, null, prev, this.batch.stagedValue(k), false);
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    const path = await this.computePath(req);
    checkTxnReads(this.view(), req, path);
    const resp = await this.executeTxn(req, path);
    resp.revision = this.viewRevision;
    return resp;
  }

  /** Which branch each (nested) txn takes, decided up front against the pre-txn state, as etcd does. */
  private async computePath(req: TxnRequest): Promise<TxnPath> {
    let succeeded = true;
    for (const c of req.compare) {
      if (!(await this.compare(c))) {
        succeeded = false;
        break;
      }
    }
    const nested: TxnPath[] = [];
    for (const op of succeeded ? req.success : req.failure) {
      if ('txn' in op) nested.push(await this.computePath(op.txn));
    }
    return { succeeded, nested };
  }

  /** etcd's applyCompare: every key in the range must satisfy it. Only a value compare reads LevelDB. */
  private async compare(c: Compare): Promise<boolean> {
    if (c.target === CompareTarget.Value) return evaluateCompare(this.view(), c);
    const keys = this.batch.liveKeysIn(toKeyRange(c.key, c.rangeEnd));
    if (keys.length === 0) return compareOne(c, null);
    for (const k of keys) if (!compareOne(c, this.batch.current(k))) return false;
    return true;
  }

  private async executeTxn(req: TxnRequest, path: TxnPath): Promise<TxnResponse> {
    const ops = path.succeeded ? req.success : req.failure;
    const responses: ResponseOp[] = [];
    let nested = 0;
    for (const op of ops) {
      if ('range' in op) responses.push({ range: await executeRange(this.view(), op.range) });
      else if ('put' in op) responses.push({ put: await this.put(op.put) });
      else if ('deleteRange' in op) responses.push({ deleteRange: this.deleteRange(op.deleteRange) });
      else responses.push({ txn: await this.executeTxn(op.txn, path.nested[nested++]!) });
    }
    return { succeeded: path.succeeded, responses, revision: this.viewRevision };
  }

  /**
   * Stages one change of key `k` (bytes `key`, copied): a put (`meta` set) or
   * a deletion (`meta` null, `value` empty), over `prev`, the live version
   * (`prevValue` null when only on disk). Returns the previous version for
   * the answer if `answerPrev` (null if there was none).
   */
  private writeChange(
    type: EventType,
    k: string,
    key: Uint8Array,
    value: Uint8Array,
    meta: KeyMeta | null,
    prev: KeyMeta | null,
    prevValue: Uint8Array | null,
    answerPrev: boolean,
  ): KeyValue | null {
    const b = this.batch;
    const o = b.overlay;
    const a = b.arena;
    const s = b.state;
    const rev = this.rev;
    const sub = this.changes;
    const isPut = meta !== null;
    assert(isPut === (type === EventType.Put) && (isPut || value.length === 0), 'bad change');
    const create = isPut ? meta.createRevision : 0;
    const version = isPut ? meta.version : 0;
    const lease = isPut ? meta.lease : 0;
    // The event record holds the only copy of key and value the batch keeps: the
    // event and the staged change refer to views into it.
    const encoded = encodeEvent(type, create, version, lease, key, value);
    const keyView = eventKeyView(encoded, key.length);
    const valueView = eventValueView(encoded, key.length);
    if (isPut) o.put(latestKey(key, a), encodeLatest(create, rev, sub, version, lease, valueView, a));
    else o.del(latestKey(key, a));
    o.put(historyKey(key, rev, sub, a), isPut ? HISTORY_PUT : HISTORY_TOMBSTONE);
    o.put(eventKey(rev, sub, a), encoded);
    const kb = key.length;
    s.writtenBytes += changeBytesOf(kb, value.length);
    if (prev !== null) s.reclaimableBytes += changeBytesOf(kb, prev.valueBytes);
    if (!isPut) s.reclaimableBytes += changeBytesOf(kb, 0);
    s.latestBytes += (isPut ? latestBytesOf(kb, value.length) : 0) - (prev === null ? 0 : latestBytesOf(kb, prev.valueBytes));
    this.moveLease(keyView, prev === null ? 0 : prev.lease, lease);
    const ev: WatchEvent = {
      type,
      kv: { key: keyView, createRevision: create, modRevision: rev, version, value: valueView, lease },
      prevKv: null,
    };
    let answer: KeyValue | null = null;
    if (prev !== null) {
      if (prevValue !== null) {
        ev.prevKv = metaToKeyValue(keyView, prev, prevValue);
        if (answerPrev) answer = metaToKeyValue(keyView, prev, prevValue);
      } else {
        const forEvent = b.committedView.wantsPrevKv(key, k);
        if (forEvent || answerPrev) {
          const load = b.deferPrevValue(keyView, prev);
          if (forEvent) load.targets.push((ev.prevKv = metaToKeyValue(keyView, prev, EMPTY)));
          if (answerPrev) load.targets.push((answer = metaToKeyValue(keyView, prev, EMPTY)));
        }
        if (!forEvent) (b.prevKvMissing ??= new Set()).add(ev);
      }
    }
    b.stage(k, meta, valueView, ev);
    this.changes++;
    return answer;
  }

  private moveLease(key: Uint8Array, from: number, to: number): void {
    if (from === to) return;
    // The lease table keeps this key for as long as it is attached: a compact copy, not a view.
    const own = copyBytes(key);
    if (from !== 0) {
      this.batch.overlay.del(leaseAttachKey(from, own, this.batch.arena));
      this.batch.leaseDeltas.push({ kind: 'detach', id: from, key: own });
    }
    if (to !== 0) {
      this.batch.overlay.put(leaseAttachKey(to, own, this.batch.arena), EMPTY);
      this.batch.leaseDeltas.push({ kind: 'attach', id: to, key: own });
    }
  }
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
