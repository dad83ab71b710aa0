/**
 * Kubernetes objects over the replicated store: JSON values under
 * `/registry/<prefix>/[<namespace>/]<name>`, `metadata.resourceVersion` = the
 * key's mod revision (stored cleared, filled in on the way out), and every
 * write one Txn whose compares carry the optimistic-concurrency check, so two
 * writers racing on one object cannot both win, whichever master they use.
 */
import { CompareResult, CompareTarget, type Compare, type KeyValue, type RangeRequest, type RangeResponse, SortOrder, SortTarget, type TxnRequest, type TxnResponse, type WatchRequest, type Watcher } from '../../store/index.js';
import { assert } from '../../util/assert.js';
import type { ResourceInfo } from '../registry/resources.js';

/** What the API server needs of the store; StoreServer provides it in-process. */
export interface KvBackend {
  range(req: RangeRequest): Promise<RangeResponse>;
  txn(req: TxnRequest): Promise<TxnResponse>;
  watch(req: WatchRequest): Watcher;
  /** Leases give objects a time to live (events); id 0 lets the store choose. */
  leaseGrant(req: { ttl: number; id: number }): Promise<{ id: number }>;
  /** The latest revision, linearizably; without it a linearizable range of one key tells it. */
  linearizableRevision?(): Promise<number>;
}

/** A Kubernetes object as JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = Record<string, any> & { metadata: ObjectMeta };

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  finalizers?: string[];
  [k: string]: unknown;
}

/** An object read from the store, with the revision it was last modified at. */
export interface Stored {
  obj: KubeObject;
  modRevision: number;
}

export interface ListPage {
  items: KubeObject[];
  /** The revision the list was read at (its resourceVersion). */
  revision: number;
  /** The key to continue from, when more remain. */
  continueKey: string | null;
  /** Objects not returned yet, when known. */
  remaining: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** Objects per store range call while listing (bounds one read's memory). */
export const LIST_CHUNK_OBJECTS = 1000;

export function objectKey(r: ResourceInfo, namespace: string, name: string): string {
  assert(name !== '', 'object key without a name');
  return r.namespaced ? `${r.storagePrefix}/${namespace}/${name}` : `${r.storagePrefix}/${name}`;
}

/** The prefix of a list: one namespace, or all of them when `namespace` is ''. */
export function listPrefix(r: ResourceInfo, namespace: string): string {
  return r.namespaced && namespace ? `${r.storagePrefix}/${namespace}/` : `${r.storagePrefix}/`;
}

/** The end of the range of keys that start with `prefix` (etcd's prefix range end). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

export function decodeObject(kv: KeyValue): KubeObject {
  const obj = JSON.parse(dec.decode(kv.value)) as KubeObject;
  obj.metadata ??= {};
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}

/** The stored form: resourceVersion is the key's revision, never part of the value. */
export function encodeObject(obj: KubeObject): Uint8Array {
  const rv = obj.metadata.resourceVersion;
  delete obj.metadata.resourceVersion;
  try {
    return enc.encode(JSON.stringify(obj));
  } finally {
    if (rv !== undefined) obj.metadata.resourceVersion = rv;
  }
}

function rangeReq(key: Uint8Array, rangeEnd: Uint8Array, o: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key,
    rangeEnd,
    limit: 0,
    revision: 0,
    sortOrder: SortOrder.None,
    sortTarget: SortTarget.Key,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...o,
  };
}

function compare(key: string, target: CompareTarget, result: CompareResult, revision: number): Compare {
  return {
    key: enc.encode(key),
    rangeEnd: EMPTY,
    target,
    result,
    version: 0,
    createRevision: target === CompareTarget.Create ? revision : 0,
    modRevision: target === CompareTarget.Mod ? revision : 0,
    value: EMPTY,
    lease: 0,
  };
}

/** The key was last modified at `rev` (0: the key does not exist). */
export function modRevisionIs(key: string, rev: number): Compare {
  return rev === 0 ? compare(key, CompareTarget.Create, CompareResult.Equal, 0) : compare(key, CompareTarget.Mod, CompareResult.Equal, rev);
}

export class ObjectStore {
  constructor(private readonly kv: KvBackend) {}

  grantLease(ttlSeconds: number): Promise<{ id: number }> {
    return this.kv.leaseGrant({ ttl: ttlSeconds, id: 0 });
  }

  /**
   * One object, or null: linearizably, at `revision`, or with `local` as this
   * member has it (no quorum round; possibly stale, so only for reads whose
   * result a write's compare re-checks).
   */
  async get(key: string, revision = 0, local = false): Promise<Stored | null> {
    const k = enc.encode(key);
    const r = await this.kv.range(rangeReq(k, EMPTY, { revision, serializable: local }));
    const kv = r.kvs[0];
    return kv ? { obj: decodeObject(kv), modRevision: kv.modRevision } : null;
  }

  /** The store's current revision, read linearizably. */
  async currentRevision(): Promise<number> {
    if (this.kv.linearizableRevision) return this.kv.linearizableRevision();
    const r = await this.kv.range(rangeReq(enc.encode('/registry/'), EMPTY, { countOnly: true }));
    return r.revision;
  }

  /**
   * Writes `obj` at `key` if the key is still at `expectedModRevision` (0:
   * absent) and every guard holds. Returns the new revision, or null when a
   * compare failed (the caller reads again and decides: conflict or retry).
   */
  async put(key: string, obj: KubeObject, expectedModRevision: number, guards: Compare[] = [], lease = 0): Promise<number | null> {
    const r = await this.kv.txn({
      compare: [modRevisionIs(key, expectedModRevision), ...guards],
      success: [{ put: { key: enc.encode(key), value: encodeObject(obj), lease, prevKv: false, ignoreValue: false, ignoreLease: false } }],
      failure: [],
    });
    return r.succeeded ? r.revision : null;
  }

  /** Deletes `key` if it is still at `expectedModRevision`; the deletion's revision, or null. */
  async delete(key: string, expectedModRevision: number): Promise<number | null> {
    const r = await this.kv.txn({
      compare: [modRevisionIs(key, expectedModRevision)],
      success: [{ deleteRange: { key: enc.encode(key), rangeEnd: EMPTY, prevKv: false } }],
      failure: [],
    });
    return r.succeeded ? r.revision : null;
  }

  /**
   * Up to `limit` objects (0: all) under `prefix` from `startKey` on, all at
   * one revision (`revision`, or the current one read linearizably; 0 with
   * `serializable` reads this member's state without a quorum round).
   * Objects `keep` rejects are skipped and do not count against `limit`.
   */
  async list(
    prefix: string,
    o: { revision: number; limit: number; startKey: string | null; serializable?: boolean; keep?: (obj: KubeObject) => boolean },
  ): Promise<ListPage> {
    const p = enc.encode(prefix);
    const end = prefixEnd(p);
    let from: Uint8Array = o.startKey !== null ? enc.encode(o.startKey) : p;
    let revision = o.revision;
    const items: KubeObject[] = [];
    for (;;) {
      const want = o.limit > 0 ? Math.min(LIST_CHUNK_OBJECTS, o.limit - items.length) : LIST_CHUNK_OBJECTS;
      const r = await this.kv.range(rangeReq(from, end, { revision, limit: want, serializable: revision !== 0 || (o.serializable ?? false) }));
      // Later chunks (and pages) read at the first one's revision: the response's is the store's current one.
      if (revision === 0) revision = r.revision;
      for (const kv of r.kvs) {
        const obj = decodeObject(kv);
        if (!o.keep || o.keep(obj)) items.push(obj);
      }
      const last = r.kvs[r.kvs.length - 1];
      if (!r.more || !last) return { items, revision, continueKey: null, remaining: 0 };
      from = keyAfter(last.key);
      if (o.limit > 0 && items.length >= o.limit) {
        return { items, revision, continueKey: dec.decode(from), remaining: Math.max(0, r.count - r.kvs.length) };
      }
    }
  }

  /** Events for keys under `prefix` from `fromRevision` on (with the previous value unless told not: deletes and selector transitions need it). */
  watch(prefix: string, fromRevision: number, prevKv = true): Watcher {
    const p = enc.encode(prefix);
    return this.kv.watch({ key: p, rangeEnd: prefixEnd(p), startRevision: fromRevision, prevKv, noPut: false, noDelete: false });
  }
}

/** The smallest key after `key`: `key` + 0x00. */
function keyAfter(key: Uint8Array): Uint8Array {
  const k = new Uint8Array(key.length + 1);
  k.set(key);
  return k;
}
