/**
 * The generic REST verbs over the object store, as upstream's generic
 * registry (k8s.io/apiserver/pkg/registry/generic/registry/store.go) does
 * them: create with uid, timestamps and generateName; update with optimistic
 * concurrency; status-only writes; graceful deletion and finalizers; LIST at
 * one revision with pagination; WATCH from a revision. Kind-specific rules
 * come from the registry's strategies. No HTTP here: handlers get decoded
 * objects and return objects (http.ts does the wire).
 */
import { randomUUID } from 'node:crypto';
import { isStoreError } from '../../store/index.js';
import { assert } from '../../util/assert.js';
import { apiVersionOf, lookupResource, type ResourceInfo } from '../registry/resources.js';
import { strategyFor } from '../registry/strategy.js';
import { validateMeta, validateMetaUpdate } from '../registry/meta.js';
import { errorBody, type FieldError } from '../registry/validation/index.js';
import { alreadyExists, ApiError, badRequest, conflict, expired, forbidden, invalid, notFound, type InvalidCause } from './errors.js';
import { type KubeObject, type ListPage, ObjectStore, listPrefix, modRevisionIs, objectKey, type Stored } from './object-store.js';
import { ResourceCache } from './watch-cache.js';
import { EVENT_TTL_SECONDS_DEFAULT, LeaseManager } from './lease-manager.js';
import type { Compare } from '../../store/index.js';
import { clone, deepEqual, generateName, isObject, specOf, timestamp } from './objects.js';

/** How often an update that did not name a resourceVersion retries a lost race before giving up. */
export const UPDATE_RETRIES_MAX = 16;
/** Objects per page when a LIST has no limit (bounds one store read). */
export const NAMESPACE_RESOURCE = 'namespaces';

export interface RestOptions {
  now: () => Date;
  random: () => number;
  /** Serve LISTs from an in-memory watch cache per resource (watch-cache.ts). */
  watchCache: boolean;
  /** How long an Event lives after its last write (upstream's --event-ttl). */
  eventTtlSeconds?: number;
}

/** What a LIST or WATCH selects beyond its namespace (label and field selectors). */
export interface Selection {
  /** True when nothing is filtered. */
  readonly everything: boolean;
  matches(obj: KubeObject): boolean;
}

export const EVERYTHING: Selection = { everything: true, matches: () => true };

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  dryRun?: string[];
}

export interface WriteOptions {
  dryRun: boolean;
}

export interface Target {
  r: ResourceInfo;
  namespace: string;
  name: string;
}

/**
 * What an update may change: '' the object but not its status (when the kind
 * has a status subresource), 'status' only the status, 'all' everything
 * (internal writers such as the binding subresource).
 */
export type UpdateScope = '' | 'status' | 'all';

export interface DeleteResult {
  obj: KubeObject;
  /** False when deletion was deferred (finalizers, grace period): 202 instead of 200. */
  deleted: boolean;
}

const NAMESPACES_KEY_PREFIX = '/registry/namespaces/';

function meta(obj: KubeObject): KubeObject['metadata'] {
  if (!isObject(obj.metadata)) obj.metadata = {};
  return obj.metadata;
}

export class Rest {
  constructor(
    readonly store: ObjectStore,
    private readonly o: RestOptions = { now: () => new Date(), random: Math.random, watchCache: true },
  ) {
    this.eventLeases = new LeaseManager(store, o.eventTtlSeconds ?? EVENT_TTL_SECONDS_DEFAULT);
  }

  private readonly caches = new Map<string, ResourceCache>();
  private readonly eventLeases: LeaseManager;

  /** The lease an object of `r` is written with: Events expire, nothing else does. */
  private async leaseFor(r: ResourceInfo): Promise<number> {
    return r.resource === 'events' && r.group === '' ? this.eventLeases.lease() : 0;
  }

  /** `store.put` with the kind's lease; a lease the store lost (leader change) is replaced once. */
  private async putWithLease(r: ResourceInfo, key: string, obj: KubeObject, expected: number, guards: Compare[] = []): Promise<number | null> {
    const lease = await this.leaseFor(r);
    try {
      return await this.store.put(key, obj, expected, guards, lease);
    } catch (e) {
      if (lease === 0 || !isStoreError(e, 'STORE_ERR_LEASE_NOT_FOUND')) throw e;
      this.eventLeases.forget(lease);
      return this.store.put(key, obj, expected, guards, await this.leaseFor(r));
    }
  }

  /** The resource's watch cache, made on first use (and made anew after one broke). */
  private cacheFor(r: ResourceInfo): ResourceCache {
    let c = this.caches.get(r.storagePrefix);
    if (!c || c.broken) {
      c?.close();
      c = new ResourceCache(this.store, r);
      this.caches.set(r.storagePrefix, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.caches.values()) c.close();
    this.caches.clear();
  }

  /** A first page at the latest state ('' = current, read with a quorum; '0' = this member's), from the cache; null to read the store. */
  private async listFromCache(r: ResourceInfo, prefix: string, sel: Selection, limit: number, resourceVersion: string): Promise<ListPage | null> {
    const cache = this.cacheFor(r);
    let ok: boolean;
    if (resourceVersion === '0') ok = await cache.loaded.then(() => !cache.broken, () => false);
    else ok = await cache.waitFor(await this.store.currentRevision());
    if (!ok) return null;
    const page = cache.list(prefix, sel.everything ? null : (o) => sel.matches(o), limit);
    return { items: page.items, revision: page.revision, continueKey: page.lastKey === null ? null : `${page.lastKey}\u0000`, remaining: page.remaining };
  }

  /**
   * This member's latest view of one object without a LevelDB read: the
   * watch cache when it is loaded (it may lag this member's store by a few
   * events, which the write's compare catches like any stale read), else the
   * store's serializable read.
   */
  private async readLocal(r: ResourceInfo, key: string): Promise<Stored | null> {
    const cache = this.o.watchCache ? this.cacheFor(r) : undefined;
    if (cache?.ready) {
      const obj = cache.get(key);
      return obj ? { obj, modRevision: Number(obj.metadata.resourceVersion) } : null;
    }
    return this.store.get(key, 0, true);
  }

  // ------------------------------------------------------------------ reads

  /**
   * One object, linearizably: from the resource's watch cache once the cache
   * has reached the revision a quorum read returns (no LevelDB read, no
   * parse), else from the store.
   */
  async get(t: Target): Promise<KubeObject> {
    const key = objectKey(t.r, t.namespace, t.name);
    const cache = this.o.watchCache ? this.caches.get(t.r.storagePrefix) : undefined;
    if (cache?.ready && (await cache.waitFor(await this.store.currentRevision()))) {
      const obj = cache.get(key);
      if (!obj) throw notFound(t.r, t.name);
      return obj;
    }
    const s = await this.store.get(key);
    if (!s) throw notFound(t.r, t.name);
    return s.obj;
  }

  /**
   * One page of a LIST. `resourceVersion` '' reads the latest state
   * linearizably, '0' this member's latest state, N the state at revision N
   * (410 Expired if compacted); a continue token carries its first page's revision.
   */
  async list(r: ResourceInfo, namespace: string, sel: Selection, q: { limit: number; continueToken: string; resourceVersion: string }): Promise<ListPage> {
    let revision = 0;
    let startKey: string | null = null;
    let serializable = false;
    const prefix = listPrefix(r, namespace);
    if (this.o.watchCache && !q.continueToken && (q.resourceVersion === '' || q.resourceVersion === '0')) {
      const page = await this.listFromCache(r, prefix, sel, q.limit, q.resourceVersion);
      if (page) return page;
    }
    if (q.continueToken) {
      const c = decodeContinue(q.continueToken, prefix);
      revision = c.rv;
      startKey = c.start;
    } else if (q.resourceVersion === '0') {
      serializable = true;
    } else if (q.resourceVersion) {
      revision = parseResourceVersion(q.resourceVersion);
    }
    try {
      return await this.store.list(prefix, { revision, limit: q.limit, startKey, serializable, keep: sel.everything ? undefined : (o) => sel.matches(o) });
    } catch (e) {
      if (isStoreError(e, 'STORE_ERR_COMPACTED')) {
        if (q.continueToken) throw expired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
        throw expired(`too old resource version: ${revision}`);
      }
      if (isStoreError(e, 'STORE_ERR_FUTURE_REV')) throw new ApiError('Timeout', `Too large resource version: ${revision}, current: unknown`, { retryAfterSeconds: 1 });
      throw e;
    }
  }

  // ------------------------------------------------------------------ create

  async create(t: Omit<Target, 'name'>, obj: KubeObject, w: WriteOptions): Promise<KubeObject> {
    const { r } = t;
    const m = meta(obj);
    if (m.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (r.namespaced) m.namespace = t.namespace;
    else delete m.namespace;
    if (!m.name && m.generateName) m.name = generateName(m.generateName, this.o.random);
    this.prepareForCreate(r, obj);
    this.validateCreate(r, obj);
    const key = objectKey(r, t.namespace, m.name!);
    for (let attempt = 0; attempt < UPDATE_RETRIES_MAX; attempt++) {
      const guard = r.namespaced ? await this.namespaceGuard(r, t.namespace, m.name!, attempt === 0) : null;
      if (w.dryRun) {
        if (await this.store.get(key)) throw alreadyExists(r, m.name!);
        return obj;
      }
      const rev = await this.putWithLease(r, key, obj, 0, guard ? [guard] : []);
      if (rev !== null) {
        m.resourceVersion = String(rev);
        return obj;
      }
      if (await this.store.get(key)) throw alreadyExists(r, m.name!);
      // The namespace changed between the check and the write: check it again.
    }
    throw conflict(r, m.name!, 'the namespace kept changing; please try again');
  }

  private prepareForCreate(r: ResourceInfo, obj: KubeObject): void {
    const m = meta(obj);
    m.uid = randomUUID();
    m.creationTimestamp = timestamp(this.o.now());
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.selfLink;
    delete m.managedFields;
    if (r.hasGeneration) m.generation = 1;
    else delete m.generation;
    if (r.subresources.includes('status') && r.statusOnCreate === 'clear') obj.status = {};
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    strategyFor(r).prepareForCreate(obj);
    strategyFor(r).default(obj);
  }

  private validateCreate(r: ResourceInfo, obj: KubeObject): void {
    const errs = [...validateMeta(r, obj.metadata), ...strategyFor(r).validate(obj)];
    if (errs.length > 0) throw invalid(r.kind, r.group, obj.metadata.name ?? obj.metadata.generateName ?? '', errs.map(toCause));
  }

  /**
   * Refuses a create in a missing or terminating namespace; the compare keeps
   * that true at the write. The first try reads this member's state (the
   * compare catches a stale read, and a namespace not seen here yet is looked
   * up again with a quorum before a 404).
   */
  private async namespaceGuard(r: ResourceInfo, namespace: string, name: string, local: boolean) {
    const key = NAMESPACES_KEY_PREFIX + namespace;
    let ns = local ? await this.readLocal(lookupNamespaces(), key) : await this.store.get(key);
    if (!ns && local) ns = await this.store.get(key);
    if (!ns) throw notFound({ group: '', resource: NAMESPACE_RESOURCE }, namespace);
    if (ns.obj.metadata.deletionTimestamp || ns.obj.status?.phase === 'Terminating') {
      throw forbidden(r, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
    return modRevisionIs(key, ns.modRevision);
  }

  // ------------------------------------------------------------------ update and patch

  /**
   * Replaces an object (or its status). With `metadata.resourceVersion` set,
   * the write happens only at that version (409 otherwise); without, it wins
   * over concurrent writers by retrying. An update that changes nothing is
   * not written and keeps its resourceVersion.
   */
  async update(t: Target & { subresource: UpdateScope }, obj: KubeObject, w: WriteOptions): Promise<KubeObject> {
    this.checkIdentity(t, obj);
    return this.modify(t, w, () => obj, obj.metadata?.resourceVersion ?? '');
  }

  /**
   * Reads the object, computes its new form with `change` (called again
   * after a lost race), and writes it as `update` does.
   */
  async modify(t: Target & { subresource: UpdateScope }, w: WriteOptions, change: (current: KubeObject) => KubeObject, precondition = ''): Promise<KubeObject> {
    const { r } = t;
    const key = objectKey(r, t.namespace, t.name);
    // The first read is this member's state, without a quorum round: the
    // write's compare rejects a stale one. Anything decided from it that is
    // not a write (404, 409, a no-op) is decided again from a quorum read.
    let local = true;
    for (let attempt = 0; attempt < UPDATE_RETRIES_MAX; attempt++) {
      const cur = local ? await this.readLocal(r, key) : await this.store.get(key);
      const recheck = () => {
        const again = local;
        local = false;
        return again;
      };
      if (!cur) {
        if (recheck()) continue;
        throw notFound(r, t.name);
      }
      const wanted = change(clone(cur.obj));
      const rv = precondition || (wanted.metadata?.resourceVersion ?? '');
      if (rv && rv !== String(cur.modRevision)) {
        if (recheck()) continue;
        throw conflict(r, t.name);
      }
      const next = this.prepareForUpdate(t, wanted, cur.obj);
      const unchanged = deepEqual(next, cur.obj);
      if (unchanged || w.dryRun) {
        if (recheck()) continue;
        return unchanged ? cur.obj : next;
      }
      const done = await this.writeUpdate(r, key, next, cur);
      if (done) return done;
      if (rv && !recheck()) throw conflict(r, t.name);
      local = false;
    }
    throw conflict(r, t.name, 'too many concurrent writers; please try again');
  }

  private checkIdentity(t: Target, obj: KubeObject): void {
    if (!isObject(obj.metadata)) throw badRequest('metadata is required');
    const m = obj.metadata;
    if (m.name && m.name !== t.name) throw badRequest(`the name of the object (${m.name}) does not match the name on the URL (${t.name})`);
    if (t.r.namespaced && m.namespace && m.namespace !== t.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }

  /** The object to store: the generic rules (identity, status, generation), defaults, validation. */
  private prepareForUpdate(t: Target & { subresource: UpdateScope }, wanted: KubeObject, old: KubeObject): KubeObject {
    const { r } = t;
    let next: KubeObject;
    if (t.subresource === 'status') {
      next = clone(old);
      next.status = wanted.status;
      // A status write may also touch labels and annotations upstream does not; keep metadata.
    } else {
      next = wanted;
      if (t.subresource === '' && r.subresources.includes('status')) next.status = clone(old.status);
    }
    const m = meta(next);
    const om = old.metadata;
    m.name = om.name;
    if (r.namespaced) m.namespace = om.namespace;
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp) m.deletionTimestamp = om.deletionTimestamp;
    else delete m.deletionTimestamp;
    if (om.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    else delete m.deletionGracePeriodSeconds;
    delete m.managedFields;
    delete m.selfLink;
    m.resourceVersion = om.resourceVersion;
    next.apiVersion = apiVersionOf(r);
    next.kind = r.kind;
    const s = strategyFor(r);
    s.prepareForUpdate(next, old);
    s.default(next);
    if (r.hasGeneration) {
      const g = typeof om.generation === 'number' ? om.generation : 1;
      m.generation = deepEqual(specOf(next), specOf(old)) ? g : g + 1;
    }
    const errs = [...validateMetaUpdate(r, m, old.metadata), ...s.validate(next), ...s.validateUpdate(next, old)];
    if (errs.length > 0) throw invalid(r.kind, r.group, t.name, errs.map(toCause));
    return next;
  }

  /** Writes at the read version; an object whose last finalizer went while it was being deleted is removed instead. */
  private async writeUpdate(r: ResourceInfo, key: string, next: KubeObject, cur: Stored): Promise<KubeObject | null> {
    const m = next.metadata;
    if (m.deletionTimestamp && !hasPendingFinalizers(next) && !this.graceRemaining(next)) {
      const rev = await this.store.delete(key, cur.modRevision);
      if (rev === null) return null;
      m.resourceVersion = String(rev);
      return next;
    }
    const rev = await this.putWithLease(r, key, next, cur.modRevision);
    if (rev === null) return null;
    m.resourceVersion = String(rev);
    return next;
  }

  /** A pod in its grace period stays until the node (or a forced delete) removes it. */
  private graceRemaining(obj: KubeObject): boolean {
    return (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
  }

  // ------------------------------------------------------------------ binding

  /**
   * The pods/binding subresource: assigns a pod to a node, once — refused
   * (409) when it already has one or is being deleted — and marks it
   * PodScheduled. The API's POST .../binding and the scheduler both bind here.
   */
  async bind(namespace: string, name: string, node: string, w: WriteOptions): Promise<KubeObject> {
    const r = lookupPods();
    return this.modify({ r, namespace, name, subresource: 'all' }, w, (pod) => {
      if (pod.metadata.deletionTimestamp) throw conflict({ group: '', resource: 'pods/binding' }, name, `pod ${name} is being deleted, cannot be assigned to a host`);
      const spec = isObject(pod.spec) ? pod.spec : (pod.spec = {});
      if (spec.nodeName) throw conflict({ group: '', resource: 'pods/binding' }, name, `pod ${name} is already assigned to node "${String(spec.nodeName)}"`);
      spec.nodeName = node;
      const status = isObject(pod.status) ? pod.status : (pod.status = {});
      const conds = Array.isArray(status.conditions) ? status.conditions.filter((x: { type?: string }) => x?.type !== 'PodScheduled') : [];
      conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp(this.o.now()) });
      status.conditions = conds;
      return pod;
    });
  }

  // ------------------------------------------------------------------ delete

  async delete(t: Target, opts: DeleteOptions, w: WriteOptions): Promise<DeleteResult> {
    const { r } = t;
    const key = objectKey(r, t.namespace, t.name);
    for (let attempt = 0; attempt < UPDATE_RETRIES_MAX; attempt++) {
      const cur = await this.store.get(key);
      if (!cur) throw notFound(r, t.name);
      checkPreconditions(t, cur.obj, opts);
      const plan = this.planDelete(r, cur.obj, opts);
      if (w.dryRun) return { obj: plan.obj ?? cur.obj, deleted: plan.obj === null };
      if (plan.obj === null) {
        const rev = await this.store.delete(key, cur.modRevision);
        if (rev === null) continue;
        const gone = cur.obj;
        return { obj: gone, deleted: true };
      }
      if (plan.obj === cur.obj) return { obj: cur.obj, deleted: false };
      const rev = await this.putWithLease(r, key, plan.obj, cur.modRevision);
      if (rev === null) continue;
      plan.obj.metadata.resourceVersion = String(rev);
      return { obj: plan.obj, deleted: false };
    }
    throw conflict(r, t.name, 'too many concurrent writers; please try again');
  }

  /**
   * What deleting `obj` means now: null to remove it at once, the same object
   * when it is already being deleted, or its new form with deletionTimestamp
   * (and propagation finalizers) when finalizers or a grace period defer it.
   */
  private planDelete(r: ResourceInfo, cur: KubeObject, opts: DeleteOptions): { obj: KubeObject | null } {
    const grace = this.gracePeriod(r, cur, opts);
    const m = cur.metadata;
    if (m.deletionTimestamp) {
      // Already being deleted: only a shorter grace period (e.g. --force) changes anything.
      const cg = m.deletionGracePeriodSeconds ?? 0;
      if (grace < cg) {
        if (grace === 0 && !(m.finalizers?.length)) return { obj: null };
        const next = clone(cur);
        next.metadata.deletionGracePeriodSeconds = grace;
        return { obj: next };
      }
      return { obj: cur };
    }
    const finalizers = withPropagationFinalizer(m.finalizers ?? [], opts);
    // A namespace waits for its spec.finalizers (the namespace controller empties it, then it goes).
    const nsFinalizers = r.resource === NAMESPACE_RESOURCE && Array.isArray(cur.spec?.finalizers) && cur.spec.finalizers.length > 0;
    if (finalizers.length === 0 && grace === 0 && !nsFinalizers) return { obj: null };
    const next = clone(cur);
    const nm = next.metadata;
    nm.finalizers = finalizers.length > 0 ? finalizers : undefined;
    if (!nm.finalizers) delete nm.finalizers;
    const now = this.o.now();
    nm.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
    nm.deletionGracePeriodSeconds = grace;
    if (r.hasGeneration && typeof nm.generation === 'number') nm.generation++;
    if (r.resource === NAMESPACE_RESOURCE) next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
    return { obj: next };
  }

  /** Pods scheduled to a node get a grace period for the node to stop them; everything else goes at once. */
  private gracePeriod(r: ResourceInfo, obj: KubeObject, opts: DeleteOptions): number {
    if (r.resource !== 'pods') return 0;
    const spec = isObject(obj.spec) ? obj.spec : {};
    const phase = isObject(obj.status) ? obj.status.phase : undefined;
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    const g = opts.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
    return Math.max(0, g);
  }

  async deleteCollection(r: ResourceInfo, namespace: string, sel: Selection, opts: DeleteOptions, w: WriteOptions): Promise<KubeObject[]> {
    const page = await this.list(r, namespace, sel, { limit: 0, continueToken: '', resourceVersion: '' });
    const out: KubeObject[] = [];
    for (const obj of page.items) {
      try {
        const d = await this.delete({ r, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! }, opts, w);
        out.push(d.obj);
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'NotFound')) throw e;
      }
    }
    return out;
  }
}

/** Finalizers still to run: metadata.finalizers, and a namespace's spec.finalizers. */
function hasPendingFinalizers(obj: KubeObject): boolean {
  if ((obj.metadata.finalizers?.length ?? 0) > 0) return true;
  return obj.kind === 'Namespace' && Array.isArray(obj.spec?.finalizers) && obj.spec.finalizers.length > 0;
}

function lookupPods(): ResourceInfo {
  const r = lookupResource('', 'v1', 'pods');
  assert(r !== undefined, 'pods are served');
  return r;
}

function toCause(e: FieldError): InvalidCause {
  return { type: e.type, field: e.field, message: errorBody(e) };
}

function checkPreconditions(t: Target, obj: KubeObject, opts: DeleteOptions): void {
  const p = opts.preconditions;
  if (!p) return;
  if (p.uid && p.uid !== obj.metadata.uid) {
    throw conflict(t.r, t.name, `Precondition failed: UID in precondition: ${p.uid}, UID in object meta: ${obj.metadata.uid ?? ''}`);
  }
  if (p.resourceVersion && p.resourceVersion !== obj.metadata.resourceVersion) {
    throw conflict(t.r, t.name, `Precondition failed: ResourceVersion in precondition: ${p.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion ?? ''}`);
  }
}

/** Orphan and Foreground deletions are carried out by the garbage collector, which these finalizers summon. */
function withPropagationFinalizer(finalizers: string[], opts: DeleteOptions): string[] {
  const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : undefined);
  const out = finalizers.filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
  if (policy === 'Orphan') out.push('orphan');
  if (policy === 'Foreground') out.push('foregroundDeletion');
  return out;
}

export function parseResourceVersion(rv: string): number {
  const n = Number(rv);
  if (!/^\d+$/.test(rv) || !Number.isSafeInteger(n)) throw badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
  return n;
}

/** The continue token: where the next page starts and the revision all pages are read at (base64url JSON, as upstream). */
export function encodeContinue(rv: number, start: string, prefix: string): string {
  assert(start.startsWith(prefix), 'continue key outside the listed prefix');
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: start.slice(prefix.length) })).toString('base64url');
}

function decodeContinue(token: string, prefix: string): { rv: number; start: string } {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('continue key is not valid: illegal base64 or JSON');
  }
  if (!isObject(c) || c.v !== 'meta.k8s.io/v1' || typeof c.rv !== 'number' || typeof c.start !== 'string' || c.rv <= 0) {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  if (c.start.includes('..') || c.start.startsWith('/')) throw badRequest('continue key is not valid: the key is not in the listed range');
  return { rv: c.rv, start: prefix + c.start };
}

function lookupNamespaces(): ResourceInfo {
  const r = lookupResource('', 'v1', NAMESPACE_RESOURCE);
  assert(r !== undefined, 'namespaces are served');
  return r;
}
