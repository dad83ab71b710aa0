/**
 * The namespace controller: a namespace being deleted (deletionTimestamp
 * set, status Terminating) has everything in it deleted, and once nothing is
 * left its `kubernetes` finalizer is removed, upon which the API server
 * removes the namespace itself.
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';

export const NAMESPACE_FINALIZER = 'kubernetes';
/** While objects remain (graceful deletions, finalizers), the namespace is looked at again after this. */
export const NAMESPACE_RECHECK_MS = 1_000;
const WORKERS = 2;

const NAMESPACES = RESOURCES.find((r) => r.resource === 'namespaces')!;
const NAMESPACED = RESOURCES.filter((r) => r.namespaced);

export class NamespaceController implements Controller {
  readonly name = 'namespace';

  async run(ctx: ControllerContext): Promise<void> {
    const queue = new WorkQueue();
    const namespaces = ctx.informer(NAMESPACES);
    // Informers of every namespaced resource, so that "is it empty?" is a local question.
    for (const r of NAMESPACED) ctx.informer(r);
    namespaces.onChange((_type, ns) => {
      if (ns.metadata.deletionTimestamp) queue.add(ns.metadata.name!);
    });
    onStop(ctx.stopped, () => queue.shutDown());
    await Promise.all([
      runWorkers(queue, WORKERS, (name) => this.reconcile(ctx, name, queue), (name, e) => ctx.logger.warn({ err: e, namespace: name }, 'namespace cleanup failed; retrying')),
      aborted(ctx.stopped),
    ]);
  }

  private async reconcile(ctx: ControllerContext, name: string, queue: WorkQueue): Promise<void> {
    const ns = ctx.informer(NAMESPACES).get(`${NAMESPACES.storagePrefix}/${name}`);
    if (!ns || !ns.metadata.deletionTimestamp) return;
    const finalizers: string[] = Array.isArray(ns.spec?.finalizers) ? ns.spec.finalizers : [];
    if (!finalizers.includes(NAMESPACE_FINALIZER)) return;
    let remaining = 0;
    for (const r of NAMESPACED) {
      const items = ctx.informer(r).list(`${r.storagePrefix}/${name}/`, null, 0).items;
      remaining += items.length;
      for (const obj of items) await this.deleteOne(ctx, r, obj);
    }
    if (remaining > 0) {
      queue.addAfter(name, NAMESPACE_RECHECK_MS);
      return;
    }
    // Empty (as this member's informers see it; the API refuses new content meanwhile): finalize.
    await ctx.rest.modify({ r: NAMESPACES, namespace: '', name, subresource: 'all' }, { dryRun: false }, (cur: KubeObject) => {
      const fs: string[] = Array.isArray(cur.spec?.finalizers) ? cur.spec.finalizers : [];
      return { ...cur, spec: { ...cur.spec, finalizers: fs.filter((f) => f !== NAMESPACE_FINALIZER) } };
    });
    ctx.logger.info({ namespace: name }, 'namespace emptied and finalized');
  }

  private async deleteOne(ctx: ControllerContext, r: (typeof NAMESPACED)[number], obj: KubeObject): Promise<void> {
    if (obj.metadata.deletionTimestamp) return; // already going
    try {
      await ctx.rest.delete({ r, namespace: obj.metadata.namespace!, name: obj.metadata.name! }, { propagationPolicy: 'Background' }, { dryRun: false });
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'NotFound')) throw e;
    }
  }
}
