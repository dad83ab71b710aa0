/**
 * The loop every controller of pod-owning objects (Job, StatefulSet,
 * DaemonSet) runs: a key per owner (`namespace/name`), queued when the owner
 * changes, when one of its pods changes (found through the pod's controller
 * ownerReference), on the extra triggers it names, and on a periodic resync;
 * reconciled by a few workers once every informer it reads has loaded (a
 * decision taken from a half-loaded informer would make pods again after a
 * leader change); stopped with the leadership.
 */
import type { KubeObject } from '../apiserver/index.js';
import type { ResourceCache } from '../apiserver/index.js';
import { type ControllerContext, aborted, onStop } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';

export interface OwnerLoop {
  /** The owners' informer. */
  owners: ResourceCache;
  /** The pods' informer. */
  pods: ResourceCache;
  /** Other informers the reconcile reads; each change of theirs requeues every owner. */
  alsoWatch?: ResourceCache[];
  resyncMs: number;
  workers: number;
  reconcile(key: string): Promise<void>;
  /** What failures are logged as. */
  what: string;
}

export function controllerUid(obj: KubeObject): string | undefined {
  return (obj.metadata.ownerReferences ?? []).find((o) => o.controller)?.uid;
}

export async function runOwnerLoop(ctx: ControllerContext, l: OwnerLoop): Promise<void> {
  const queue = new WorkQueue();
  const uidToKey = new Map<string, string>();
  const keyOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
  const all = () => {
    for (const o of l.owners.all()) queue.add(keyOf(o));
  };
  l.owners.onChange((type, o) => {
    if (type === 'DELETED') uidToKey.delete(o.metadata.uid!);
    else uidToKey.set(o.metadata.uid!, keyOf(o));
    queue.add(keyOf(o));
  });
  l.pods.onChange((_t, p) => {
    const key = uidToKey.get(controllerUid(p) ?? '');
    if (key) queue.add(key);
  });
  for (const i of l.alsoWatch ?? []) i.onChange(() => all());
  const timer = setInterval(all, l.resyncMs);
  timer.unref();
  onStop(ctx.stopped, () => {
    clearInterval(timer);
    queue.shutDown();
  });
  await Promise.all([l.owners.loaded, l.pods.loaded, ...(l.alsoWatch ?? []).map((i) => i.loaded)]);
  await Promise.all([
    runWorkers(queue, l.workers, (key) => l.reconcile(key), (key, e) => ctx.logger.warn({ err: e, key }, `${l.what} sync failed; retrying`)),
    aborted(ctx.stopped),
  ]);
}
