/**
 * The garbage collector: ownerReferences and the three propagation policies.
 *
 * - Background: a dependent all of whose owners are gone is deleted; a
 *   dependent some of whose owners are gone loses those references.
 * - Orphan: an owner being deleted with the `orphan` finalizer has its
 *   references removed from every dependent, then the finalizer removed
 *   (and the API server removes the owner).
 * - Foreground: an owner being deleted with the `foregroundDeletion`
 *   finalizer has its dependents deleted (in the foreground too); once none
 *   is left, the finalizer is removed.
 *
 * The graph (owner uid → dependents) is built from the informers of every
 * resource. "Gone" is confirmed by a quorum read before anything is deleted:
 * an informer may not have seen an owner that was just created.
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import { RESOURCES, type ResourceInfo, lookupKind } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** An owner in foreground deletion is looked at again after this while dependents remain. */
export const FOREGROUND_RECHECK_MS = 500;
const WORKERS = 4;

interface Node {
  r: ResourceInfo;
  obj: KubeObject;
}

type OwnerRef = { apiVersion: string; kind: string; name: string; uid: string; blockOwnerDeletion?: boolean };

function ownerRefs(obj: KubeObject): OwnerRef[] {
  return Array.isArray(obj.metadata.ownerReferences) ? (obj.metadata.ownerReferences as OwnerRef[]) : [];
}

/** Queue keys carry the resource: `<storage prefix>|<namespace>|<name>`. */
function keyOf(r: ResourceInfo, obj: KubeObject): string {
  return `${r.storagePrefix}|${obj.metadata.namespace ?? ''}|${obj.metadata.name}`;
}

export class GarbageCollector implements Controller {
  readonly name = 'garbage-collector';
  /** uid → the object with it. */
  private readonly byUid = new Map<string, Node>();
  /** queue key → the object there. */
  private readonly byKey = new Map<string, Node>();
  /** owner uid → keys of its dependents. */
  private readonly dependents = new Map<string, Set<string>>();

  async run(ctx: ControllerContext): Promise<void> {
    this.byUid.clear();
    this.byKey.clear();
    this.dependents.clear();
    const queue = new WorkQueue();
    for (const r of RESOURCES) {
      ctx.informer(r).onChange((type, obj, old) => this.observe(r, type, obj, old, queue));
    }
    onStop(ctx.stopped, () => queue.shutDown());
    await Promise.all([
      runWorkers(queue, WORKERS, (key) => this.reconcile(ctx, key, queue), (key, e) => ctx.logger.warn({ err: e, key }, 'garbage collection failed; retrying')),
      aborted(ctx.stopped),
    ]);
  }

  private observe(r: ResourceInfo, type: string, obj: KubeObject, old: KubeObject | undefined, queue: WorkQueue): void {
    const uid = obj.metadata.uid;
    const key = keyOf(r, obj);
    if (old) for (const o of ownerRefs(old)) this.dependents.get(o.uid)?.delete(key);
    if (type === 'DELETED') {
      if (uid) this.byUid.delete(uid);
      this.byKey.delete(key);
      // Its dependents may be orphans now; owners waiting for it may finish.
      for (const d of this.dependents.get(uid ?? '') ?? []) queue.add(d);
      for (const o of ownerRefs(obj)) {
        const owner = this.byUid.get(o.uid);
        if (owner) queue.add(keyOf(owner.r, owner.obj));
      }
      return;
    }
    if (uid) this.byUid.set(uid, { r, obj });
    this.byKey.set(key, { r, obj });
    for (const o of ownerRefs(obj)) {
      let set = this.dependents.get(o.uid);
      if (!set) this.dependents.set(o.uid, (set = new Set()));
      set.add(key);
    }
    const fs = obj.metadata.finalizers ?? [];
    if (ownerRefs(obj).length > 0 || (obj.metadata.deletionTimestamp && (fs.includes(ORPHAN_FINALIZER) || fs.includes(FOREGROUND_FINALIZER)))) queue.add(key);
  }

  private async reconcile(ctx: ControllerContext, key: string, queue: WorkQueue): Promise<void> {
    const [prefix, namespace, name] = key.split('|') as [string, string, string];
    const r = RESOURCES.find((x) => x.storagePrefix === prefix);
    if (!r) return;
    const obj = ctx.informer(r).get(objectKey(r, namespace, name));
    if (!obj) return;
    const fs = obj.metadata.finalizers ?? [];
    if (obj.metadata.deletionTimestamp && fs.includes(ORPHAN_FINALIZER)) return this.orphanDependents(ctx, r, obj);
    if (obj.metadata.deletionTimestamp && fs.includes(FOREGROUND_FINALIZER)) return this.deleteDependents(ctx, r, obj, queue);
    if (ownerRefs(obj).length > 0) await this.checkOwners(ctx, r, obj);
  }

  /** Orphan: every dependent drops its reference to `owner`; then the finalizer goes. */
  private async orphanDependents(ctx: ControllerContext, r: ResourceInfo, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    for (const d of this.dependentNodes(uid)) {
      await this.modifyIgnoringGone(ctx, d.r, d.obj, (cur) => withoutOwners(cur, new Set([uid])));
    }
    await this.modifyIgnoringGone(ctx, r, owner, (cur) => withoutFinalizer(cur, ORPHAN_FINALIZER));
  }

  /** Foreground: dependents are deleted first; the owner's finalizer goes when none is left. */
  private async deleteDependents(ctx: ControllerContext, r: ResourceInfo, owner: KubeObject, queue: WorkQueue): Promise<void> {
    const deps = this.dependentNodes(owner.metadata.uid!);
    for (const d of deps) {
      if (d.obj.metadata.deletionTimestamp) continue;
      await this.deleteIgnoringGone(ctx, d.r, d.obj, 'Foreground');
    }
    if (deps.length > 0) {
      queue.addAfter(keyOf(r, owner), FOREGROUND_RECHECK_MS);
      return;
    }
    await this.modifyIgnoringGone(ctx, r, owner, (cur) => withoutFinalizer(cur, FOREGROUND_FINALIZER));
  }

  /** Background: owners gone (confirmed by a quorum read) are dropped; with none left, the dependent goes. */
  private async checkOwners(ctx: ControllerContext, r: ResourceInfo, obj: KubeObject): Promise<void> {
    const gone = new Set<string>();
    for (const o of ownerRefs(obj)) if (!(await this.ownerExists(ctx, obj, o))) gone.add(o.uid);
    if (gone.size === 0) return;
    if (gone.size === ownerRefs(obj).length) {
      await this.deleteIgnoringGone(ctx, r, obj, 'Background');
      return;
    }
    await this.modifyIgnoringGone(ctx, r, obj, (cur) => withoutOwners(cur, gone));
  }

  private async ownerExists(ctx: ControllerContext, dependent: KubeObject, o: OwnerRef): Promise<boolean> {
    if (this.byUid.has(o.uid)) return true;
    const r = lookupKind(o.apiVersion, o.kind);
    if (!r) return false; // a kind we do not serve cannot own anything here
    try {
      const owner = await ctx.rest.get({ r, namespace: r.namespaced ? (dependent.metadata.namespace ?? '') : '', name: o.name });
      return owner.metadata.uid === o.uid;
    } catch (e) {
      if (isApiError(e) && e.reason === 'NotFound') return false;
      throw e;
    }
  }

  private dependentNodes(uid: string): Node[] {
    const out: Node[] = [];
    for (const key of this.dependents.get(uid) ?? []) {
      const n = this.byKey.get(key);
      if (n) out.push(n);
    }
    return out;
  }

  private async modifyIgnoringGone(ctx: ControllerContext, r: ResourceInfo, obj: KubeObject, change: (cur: KubeObject) => KubeObject): Promise<void> {
    try {
      await ctx.rest.modify({ r, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name!, subresource: 'all' }, { dryRun: false }, change);
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'NotFound')) throw e;
    }
  }

  private async deleteIgnoringGone(ctx: ControllerContext, r: ResourceInfo, obj: KubeObject, policy: 'Background' | 'Foreground'): Promise<void> {
    try {
      await ctx.rest.delete({ r, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! }, { propagationPolicy: policy, preconditions: { uid: obj.metadata.uid } }, { dryRun: false });
    } catch (e) {
      if (isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict')) return;
      throw e;
    }
  }
}

function withoutOwners(cur: KubeObject, uids: ReadonlySet<string>): KubeObject {
  const refs = ownerRefs(cur).filter((o) => !uids.has(o.uid));
  const { ownerReferences: _gone, ...rest } = cur.metadata;
  return { ...cur, metadata: refs.length > 0 ? { ...rest, ownerReferences: refs } : rest };
}

function withoutFinalizer(cur: KubeObject, f: string): KubeObject {
  const fs = (cur.metadata.finalizers ?? []).filter((x) => x !== f);
  const { finalizers: _gone, ...rest } = cur.metadata;
  return { ...cur, metadata: fs.length > 0 ? { ...rest, finalizers: fs } : rest };
}
