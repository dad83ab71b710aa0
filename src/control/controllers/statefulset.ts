/**
 * The StatefulSet controller: stable ordinal names (`<set>-0` … `<set>-N-1`),
 * ordered start and stop (OrderedReady: ordinal i is created only once every
 * lower one is Running and Ready; scaling down removes the highest first, one
 * at a time), or all at once (Parallel); RollingUpdate from the highest
 * ordinal down to `partition`, one pod at a time, each replaced pod Ready
 * before the next; OnDelete leaves replacement to the user. Revisions are
 * hashes of the pod template, recorded as ControllerRevisions and in each
 * pod's `controller-revision-hash` label.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import type { Controller, ControllerContext } from './manager.js';
import { controllerUid, runOwnerLoop } from './owner-loop.js';

const SETS = RESOURCES.find((r) => r.resource === 'statefulsets')!;
const PODS = RESOURCES.find((r) => r.resource === 'pods')!;
const REVISIONS = RESOURCES.find((r) => r.resource === 'controllerrevisions')!;
const WORKERS = 4;
export const STATEFULSET_RESYNC_MS = 30_000;
const EXPECTATIONS_TIMEOUT_MS = 30_000;
export const REVISION_LABEL = 'controller-revision-hash';
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A short, stable, DNS-safe hash of a pod template (the revision's name suffix). */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 10);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v ?? null);
}

function ordinalOf(set: KubeObject, pod: KubeObject): number {
  const prefix = `${set.metadata.name}-`;
  const n = pod.metadata.name!.startsWith(prefix) ? Number(pod.metadata.name!.slice(prefix.length)) : NaN;
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

function runningReady(p: KubeObject): boolean {
  return p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');
}


interface Plan {
  create: number[];
  delete: KubeObject[];
}

export class StatefulSetController implements Controller {
  readonly name = 'statefulset';
  /** Pod names a sync created or deleted and the informer has not shown yet. */
  private readonly expectations = new Map<string, { names: Set<string>; atMs: number }>();

  async run(ctx: ControllerContext): Promise<void> {
    await runOwnerLoop(ctx, {
      owners: ctx.informer(SETS),
      pods: ctx.informer(PODS), alsoWatch: [ctx.informer(REVISIONS)],
      resyncMs: STATEFULSET_RESYNC_MS,
      workers: WORKERS,
      reconcile: (key) => this.reconcile(ctx, key),
      what: 'statefulset',
    });
  }


  private async reconcile(ctx: ControllerContext, key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const set = ctx.informer(SETS).get(objectKey(SETS, namespace, name));
    if (!set || set.metadata.deletionTimestamp) return;
    const owned = ctx.informer(PODS).list(`${PODS.storagePrefix}/${namespace}/`, (p) => controllerUid(p) === set.metadata.uid, 0).items;
    const updateRevision = `${name}-${templateHash(set.spec?.template)}`;
    await this.ensureRevision(ctx, set, updateRevision);
    if (this.satisfied(key, owned)) {
      const plan = this.plan(set, owned, updateRevision);
      await this.execute(ctx, key, set, plan, updateRevision);
    }
    await this.writeStatus(ctx, set, owned, updateRevision);
  }

  /** What to do now: which ordinals to create and which pods to delete (one step at a time for OrderedReady). */
  private plan(set: KubeObject, owned: KubeObject[], updateRevision: string): Plan {
    const replicas: number = set.spec?.replicas ?? 1;
    const parallel = set.spec?.podManagementPolicy === 'Parallel';
    const byOrdinal = new Map<number, KubeObject>();
    for (const p of owned) {
      const i = ordinalOf(set, p);
      if (i >= 0) byOrdinal.set(i, p);
    }
    const plan: Plan = { create: [], delete: [] };
    // Failed pods are replaced; pods being deleted are waited for.
    for (let i = 0; i < replicas; i++) {
      const p = byOrdinal.get(i);
      if (p?.metadata.deletionTimestamp) {
        if (!parallel) return plan;
        continue;
      }
      if (p?.status?.phase === 'Failed') {
        plan.delete.push(p);
        if (!parallel) return plan;
        continue;
      }
      if (!p) {
        plan.create.push(i);
        if (!parallel) return plan;
        continue;
      }
      if (!parallel && !runningReady(p)) return plan;
    }
    // Scale down: the highest ordinals beyond replicas, one at a time unless Parallel.
    const extra = owned.filter((p) => ordinalOf(set, p) >= replicas && !p.metadata.deletionTimestamp).sort((a, b) => ordinalOf(set, b) - ordinalOf(set, a));
    if (extra.length > 0) {
      plan.delete.push(...(parallel ? extra : extra.slice(0, 1)));
      return plan;
    }
    // Rolling update: the highest ordinal at or above the partition still on an old revision.
    const strategy = set.spec?.updateStrategy ?? {};
    if (strategy.type === 'OnDelete') return plan;
    const partition: number = strategy.rollingUpdate?.partition ?? 0;
    for (let i = replicas - 1; i >= partition; i--) {
      const p = byOrdinal.get(i);
      if (!p) continue;
      if (p.metadata.labels?.[REVISION_LABEL] !== updateRevision) {
        plan.delete.push(p);
        break;
      }
      if (!runningReady(p)) break; // the replaced pod comes up before the next goes
    }
    return plan;
  }

  private satisfied(key: string, owned: KubeObject[]): boolean {
    const e = this.expectations.get(key);
    if (!e) return true;
    const alive = new Map(owned.map((p) => [p.metadata.name!, p]));
    // A name is settled once the informer shows it created, or shows it deleted or being deleted.
    const settled = [...e.names].every((n) => (n.startsWith('+') ? alive.has(n.slice(1)) : !alive.get(n.slice(1)) || alive.get(n.slice(1))!.metadata.deletionTimestamp));
    if (settled || Date.now() - e.atMs > EXPECTATIONS_TIMEOUT_MS) this.expectations.delete(key);
    return settled || Date.now() - e.atMs > EXPECTATIONS_TIMEOUT_MS;
  }

  private async execute(ctx: ControllerContext, key: string, set: KubeObject, plan: Plan, updateRevision: string): Promise<void> {
    if (plan.create.length === 0 && plan.delete.length === 0) return;
    const e = { names: new Set<string>(), atMs: Date.now() };
    this.expectations.set(key, e);
    for (const i of plan.create) {
      const pod = this.podFor(set, i, updateRevision);
      e.names.add(`+${pod.metadata.name}`);
      try {
        await ctx.rest.create({ r: PODS, namespace: set.metadata.namespace! }, pod, { dryRun: false });
      } catch (err) {
        if (!(isApiError(err) && err.reason === 'AlreadyExists')) throw err;
      }
    }
    for (const p of plan.delete) {
      e.names.add(`-${p.metadata.name}`);
      try {
        await ctx.rest.delete({ r: PODS, namespace: p.metadata.namespace!, name: p.metadata.name! }, { preconditions: { uid: p.metadata.uid } }, { dryRun: false });
      } catch (err) {
        if (!(isApiError(err) && (err.reason === 'NotFound' || err.reason === 'Conflict'))) throw err;
      }
    }
  }

  private podFor(set: KubeObject, ordinal: number, revision: string): KubeObject {
    const t = structuredClone(set.spec?.template ?? {});
    const name = `${set.metadata.name}-${ordinal}`;
    const meta = t.metadata ?? {};
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: { ...(meta.labels ?? {}), [REVISION_LABEL]: revision, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) },
        ...(meta.annotations ? { annotations: meta.annotations } : {}),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: set.metadata.name!, uid: set.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...(t.spec ?? {}), hostname: name, ...(set.spec?.serviceName ? { subdomain: set.spec.serviceName } : {}) },
    };
  }

  /** The ControllerRevision of the current template (what `kubectl rollout history` lists). */
  private async ensureRevision(ctx: ControllerContext, set: KubeObject, revision: string): Promise<void> {
    const ns = set.metadata.namespace!;
    if (ctx.informer(REVISIONS).get(objectKey(REVISIONS, ns, revision))) return;
    const existing = ctx.informer(REVISIONS).list(`${REVISIONS.storagePrefix}/${ns}/`, (r) => controllerUid(r) === set.metadata.uid, 0).items;
    const number = Math.max(0, ...existing.map((r) => Number(r.revision) || 0)) + 1;
    try {
      await ctx.rest.create({ r: REVISIONS, namespace: ns }, {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: { name: revision, labels: { ...(set.spec?.selector?.matchLabels ?? {}), [REVISION_LABEL]: revision }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: set.metadata.name!, uid: set.metadata.uid!, controller: true, blockOwnerDeletion: true }] },
        data: { spec: { template: { ...set.spec?.template, $patch: 'replace' } } },
        revision: number,
      }, { dryRun: false });
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'AlreadyExists')) throw e;
    }
  }

  private async writeStatus(ctx: ControllerContext, set: KubeObject, owned: KubeObject[], updateRevision: string): Promise<void> {
    const replicas = set.spec?.replicas ?? 1;
    const live = owned.filter((p) => !p.metadata.deletionTimestamp && ordinalOf(set, p) >= 0);
    const cur = set.status ?? {};
    const updated = live.filter((p) => p.metadata.labels?.[REVISION_LABEL] === updateRevision).length;
    const currentRevision = updated === replicas && live.length === replicas ? updateRevision : (cur.currentRevision ?? updateRevision);
    const next = {
      ...cur,
      observedGeneration: set.metadata.generation,
      replicas: live.length,
      readyReplicas: live.filter(runningReady).length,
      availableReplicas: live.filter(runningReady).length,
      currentReplicas: live.filter((p) => p.metadata.labels?.[REVISION_LABEL] === currentRevision).length,
      updatedReplicas: updated,
      currentRevision,
      updateRevision,
      collisionCount: cur.collisionCount ?? 0,
    };
    if (JSON.stringify(next) === JSON.stringify(cur)) return;
    try {
      await ctx.rest.modify({ r: SETS, namespace: set.metadata.namespace!, name: set.metadata.name!, subresource: 'status' }, { dryRun: false }, (c) => ({ ...c, status: next }), set.metadata.resourceVersion);
    } catch (e) {
      if (!(isApiError(e) && (e.reason === 'Conflict' || e.reason === 'NotFound'))) throw e;
    }
  }
}
