/**
 * The ReplicaSet controller, which is also the ReplicationController
 * controller (one implementation; an RC's selector is a plain label map),
 * after upstream's pkg/controller/replicaset:
 * - keeps `spec.replicas` active pods matching the selector, created from the
 *   template as `<name>-xxxxx` with a controller reference;
 * - adopts matching orphans and releases owned pods that stopped matching;
 * - scales down the pods least worth keeping first (workload-pods.ts);
 * - creates in slow-start batches (1, 2, 4, …: a failing create, e.g. a
 *   quota, stops the batch early instead of failing hundreds of times), at
 *   most BURST_REPLICAS creations or deletions per reconcile;
 * - writes status (replicas, fullyLabeledReplicas, readyReplicas,
 *   availableReplicas, observedGeneration, the ReplicaFailure condition)
 *   through the status subresource.
 *
 * Duplicate and lost replicas: a reconcile decides from the pod informer,
 * which lags this controller's own writes. Expectations
 * (workload-expectations.ts) hold back the next create/delete decision for
 * an owner until the informer shows the previous ones, as upstream does.
 */
import type { KubeObject, ResourceCache } from '../apiserver/index.js';
import { timestamp } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import { labelSelectorAsSelector, nothing, type Selector, selectorFromSet } from '../apiserver/selectors/index.js';
import { deepEqual } from '../apiserver/objects.js';
import { lookupResource, type ResourceInfo } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';
import { claim } from './workload-claim.js';
import { Expectations } from './workload-expectations.js';
import { controllerRefOf, isPodActive, isPodAvailable, isPodReady, newControllerRef, podFromTemplate, podReadyTimeMs, podsToDelete, refersTo } from './workload-pods.js';

export type ReplicaResource = 'replicasets' | 'replicationcontrollers';

/** Upstream's burstReplicas: creations or deletions per reconcile. */
export const BURST_REPLICAS = 500;
/** Every owner is reconciled at least this often (a missed event heals). */
export const REPLICASET_RESYNC_MS = 30_000;
/** An owner held back by unmet expectations is looked at again after this (the informer event usually comes first). */
export const EXPECTATIONS_RECHECK_MS = 1_000;
/** The first slow-start batch (then 2, 4, 8, …). */
export const SLOW_START_INITIAL_BATCH = 1;
const WORKERS = 5;

export const PODS = lookupResource('', 'v1', 'pods')!;
export const REPLICASETS = lookupResource('apps', 'v1', 'replicasets')!;
export const REPLICATIONCONTROLLERS = lookupResource('', 'v1', 'replicationcontrollers')!;

export const REPLICA_FAILURE = 'ReplicaFailure';

/**
 * Runs `fn` `count` times in batches of 1, 2, 4, … (each batch concurrently),
 * stopping after the first batch with a failure. Returns how many succeeded
 * and the first error.
 */
export async function slowStartBatch(count: number, initial: number, fn: () => Promise<void>): Promise<{ successes: number; error: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initial); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    successes += results.filter((x) => x.status === 'fulfilled').length;
    if (failed) return { successes, error: failed.reason };
    remaining -= batch;
  }
  return { successes, error: null };
}

export function replicasOf(owner: KubeObject): number {
  const n = owner.spec?.replicas;
  return typeof n === 'number' ? n : 1;
}

function minReadySecondsOf(owner: KubeObject): number {
  const n = owner.spec?.minReadySeconds;
  return typeof n === 'number' ? n : 0;
}

/** The status of an owner given the pods it controls (upstream's calculateStatus). */
export function replicaSetStatus(owner: KubeObject, owned: readonly KubeObject[], manageErr: unknown, curStatus: KubeObject['status'], nowMs: number): Record<string, unknown> {
  const templateLabels: Record<string, string> = owner.spec?.template?.metadata?.labels ?? {};
  const minReady = minReadySecondsOf(owner);
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const p of owned) {
    const labels = p.metadata.labels ?? {};
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (!isPodReady(p)) continue;
    ready++;
    if (isPodAvailable(p, minReady, nowMs)) available++;
  }
  let conditions: Record<string, unknown>[] = Array.isArray(curStatus?.conditions) ? [...curStatus.conditions] : [];
  const failing = conditions.some((c) => c.type === REPLICA_FAILURE);
  if (manageErr && !failing) {
    const diff = owned.length - replicasOf(owner);
    const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
    const message = manageErr instanceof Error ? manageErr.message : String(manageErr);
    conditions.push({ type: REPLICA_FAILURE, status: 'True', lastTransitionTime: timestamp(new Date(nowMs)), reason, message });
  } else if (!manageErr && failing) {
    conditions = conditions.filter((c) => c.type !== REPLICA_FAILURE);
  }
  // The wire form upstream produces: `replicas` always, the other counts omitted when zero.
  const status: Record<string, unknown> = { replicas: owned.length };
  if (fullyLabeled > 0) status.fullyLabeledReplicas = fullyLabeled;
  if (ready > 0) status.readyReplicas = ready;
  if (available > 0) status.availableReplicas = available;
  if (typeof owner.metadata.generation === 'number') status.observedGeneration = owner.metadata.generation;
  if (conditions.length > 0) status.conditions = conditions;
  return status;
}

/** Milliseconds until the next ready pod becomes available (null: none pending). */
function nextAvailableInMs(owner: KubeObject, owned: readonly KubeObject[], nowMs: number): number | null {
  const minReady = minReadySecondsOf(owner);
  if (minReady <= 0) return null;
  let next: number | null = null;
  for (const p of owned) {
    if (!isPodReady(p) || isPodAvailable(p, minReady, nowMs)) continue;
    const at = podReadyTimeMs(p) + minReady * 1000 + 1000 - nowMs;
    next = next === null ? at : Math.min(next, at);
  }
  return next === null ? null : Math.max(100, next);
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

function isNamespaceTerminating(e: unknown): boolean {
  return isApiError(e) && e.reason === 'Forbidden' && e.message.includes('being terminated');
}

export class ReplicaSetController implements Controller {
  readonly name: string;
  private readonly r: ResourceInfo;
  private readonly expectations = new Expectations();

  constructor(resource: ReplicaResource = 'replicasets') {
    this.r = resource === 'replicasets' ? REPLICASETS : REPLICATIONCONTROLLERS;
    this.name = resource === 'replicasets' ? 'replicaset' : 'replicationcontroller';
  }

  /** The selector of an owner: a LabelSelector for ReplicaSets, a label map for RCs; nothing if invalid. */
  selectorOf(owner: KubeObject): Selector {
    if (this.r === REPLICATIONCONTROLLERS) return selectorFromSet(owner.spec?.selector ?? {});
    try {
      return labelSelectorAsSelector(owner.spec?.selector);
    } catch {
      return nothing();
    }
  }

  async run(ctx: ControllerContext): Promise<void> {
    this.expectations.clear();
    const queue = new WorkQueue();
    const owners = ctx.informer(this.r);
    const pods = ctx.informer(PODS);
    owners.onChange((type, obj) => {
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      if (type === 'DELETED') this.expectations.forget(key);
      queue.add(key);
    });
    pods.onChange((type, pod, old) => this.onPod(owners, queue, type, pod, old));
    const resync = setInterval(() => {
      for (const o of owners.all()) queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    }, REPLICASET_RESYNC_MS);
    resync.unref();
    ctx.stopped.addEventListener('abort', () => {
      clearInterval(resync);
      queue.shutDown();
    }, { once: true });
    // Deciding from informers that have not loaded would create every replica again.
    await Promise.all([owners.loaded, pods.loaded]);
    await Promise.all([
      runWorkers(queue, WORKERS, (key) => this.reconcile(ctx, queue, key), (key, e) => ctx.logger.warn({ err: e, key, controller: this.name }, 'sync failed; retrying')),
      aborted(ctx.stopped),
    ]);
  }

  /** A pod event wakes its controller, or, for an orphan, every owner that could adopt it. */
  private onPod(owners: ResourceCache, queue: WorkQueue, type: string, pod: KubeObject, old: KubeObject | undefined): void {
    const ns = pod.metadata.namespace ?? '';
    const ref = controllerRefOf(pod);
    const oldRef = old ? controllerRefOf(old) : undefined;
    const wake = (name: string, uid: string) => {
      if (owners.get(objectKey(this.r, ns, name))?.metadata.uid === uid) queue.add(`${ns}/${name}`);
    };
    if (refersTo(oldRef, this.r) && oldRef.uid !== ref?.uid) wake(oldRef.name, oldRef.uid);
    if (ref) {
      if (refersTo(ref, this.r)) wake(ref.name, ref.uid);
      return;
    }
    if (type === 'DELETED') return;
    for (const o of owners.list(`${this.r.storagePrefix}/${ns}/`, null, 0).items) {
      const sel = this.selectorOf(o);
      if (sel.matches(pod.metadata.labels ?? {}) || (old && sel.matches(old.metadata.labels ?? {}))) queue.add(`${ns}/${o.metadata.name}`);
    }
  }

  private async reconcile(ctx: ControllerContext, queue: WorkQueue, key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const owners = ctx.informer(this.r);
    const pods = ctx.informer(PODS);
    const owner = owners.get(objectKey(this.r, ns, name));
    if (!owner) {
      this.expectations.forget(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key, pods);
    const active = pods.list(`${PODS.storagePrefix}/${ns}/`, isPodActive, 0).items;
    const { owned } = await claim(ctx, this.r, owner, this.selectorOf(owner), PODS, active);
    let manageErr: unknown = null;
    if (!needsSync) queue.addAfter(key, EXPECTATIONS_RECHECK_MS);
    else if (!owner.metadata.deletionTimestamp) {
      try {
        await this.manage(ctx, key, owner, owned);
      } catch (e) {
        manageErr = e;
      }
    }
    await this.writeStatus(ctx, owner, owned, manageErr);
    const wait = nextAvailableInMs(owner, owned, Date.now());
    if (wait !== null) queue.addAfter(key, wait);
    if (manageErr) throw manageErr;
  }

  /** Creates or deletes pods towards `spec.replicas` (upstream's manageReplicas). */
  private async manage(ctx: ControllerContext, key: string, owner: KubeObject, owned: KubeObject[]): Promise<void> {
    const diff = owned.length - replicasOf(owner);
    if (diff < 0) return this.createPods(ctx, key, owner, Math.min(-diff, BURST_REPLICAS));
    if (diff > 0) return this.deletePods(ctx, key, owner, owned, Math.min(diff, BURST_REPLICAS));
  }

  private async createPods(ctx: ControllerContext, key: string, owner: KubeObject, count: number): Promise<void> {
    const ns = owner.metadata.namespace ?? '';
    const ref = newControllerRef(this.r, owner);
    let revision = 0;
    const { successes, error } = await slowStartBatch(count, SLOW_START_INITIAL_BATCH, async () => {
      if (ctx.stopped.aborted) throw new Error('leadership lost');
      const pod = podFromTemplate(owner.spec?.template, ns, `${owner.metadata.name}-`, ref);
      try {
        const created = await ctx.rest.create({ r: PODS, namespace: ns }, pod, { dryRun: false });
        revision = Math.max(revision, Number(created.metadata.resourceVersion ?? 0));
        ctx.recorder(`${this.name}-controller`).event(owner, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
      } catch (e) {
        if (!isNamespaceTerminating(e)) throw e; // the namespace is going: nothing to replace
      }
    });
    if (revision > 0) this.expectations.expectRevision(key, revision);
    if (successes > 0) ctx.logger.debug({ key, created: successes, controller: this.name }, 'created pods');
    if (error) throw error;
  }

  private async deletePods(ctx: ControllerContext, key: string, owner: KubeObject, owned: KubeObject[], count: number): Promise<void> {
    const ns = owner.metadata.namespace ?? '';
    const victims = podsToDelete(owned, this.relatedPods(ctx, owner, owned), count);
    for (const p of victims) this.expectations.expectDeletion(key, objectKey(PODS, ns, p.metadata.name!), p.metadata.uid!);
    const errors: unknown[] = [];
    await Promise.all(
      victims.map(async (p) => {
        try {
          await ctx.rest.delete({ r: PODS, namespace: ns, name: p.metadata.name! }, { preconditions: { uid: p.metadata.uid } }, { dryRun: false });
          ctx.recorder(`${this.name}-controller`).event(owner, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          this.expectations.deletionFailed(key, objectKey(PODS, ns, p.metadata.name!));
          if (!(isApiError(e) && (e.reason === 'NotFound' || e.reason === 'Conflict'))) errors.push(e);
        }
      }),
    );
    if (errors.length > 0) throw errors[0];
  }

  /**
   * The active pods of the owner's family: for a ReplicaSet controlled by a
   * Deployment, those of every ReplicaSet of that Deployment (a node crowded
   * with the family's pods gives up its pods first).
   */
  private relatedPods(ctx: ControllerContext, owner: KubeObject, owned: KubeObject[]): KubeObject[] {
    const parent = controllerRefOf(owner);
    if (!parent) return owned;
    const ns = owner.metadata.namespace ?? '';
    const family = new Set<string>();
    for (const o of ctx.informer(this.r).list(`${this.r.storagePrefix}/${ns}/`, null, 0).items) {
      if (controllerRefOf(o)?.uid === parent.uid) family.add(o.metadata.uid!);
    }
    return ctx.informer(PODS).list(`${PODS.storagePrefix}/${ns}/`, (p) => isPodActive(p) && family.has(controllerRefOf(p)?.uid ?? ''), 0).items;
  }

  private async writeStatus(ctx: ControllerContext, owner: KubeObject, owned: KubeObject[], manageErr: unknown): Promise<void> {
    const now = Date.now();
    const status = replicaSetStatus(owner, owned, manageErr, owner.status, now);
    if (deepEqual(status, owner.status)) return;
    try {
      await ctx.rest.modify({ r: this.r, namespace: owner.metadata.namespace ?? '', name: owner.metadata.name!, subresource: 'status' }, { dryRun: false }, (cur) => {
        if (cur.metadata.uid !== owner.metadata.uid) return cur;
        return { ...cur, status: replicaSetStatus(owner, owned, manageErr, cur.status, now) };
      });
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'NotFound')) throw e;
    }
  }
}
